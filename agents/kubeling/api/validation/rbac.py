"""Validation of the `rbac.authorization.k8s.io` group: roles and role bindings, namespaced or cluster-wide.

Upstream: pkg/apis/rbac/validation/validation.go (ValidateRole, ValidateClusterRole, ValidateRoleBinding,
ValidateClusterRoleBinding, ValidateRoleBindingUpdate, ValidateRBACName).
"""

from __future__ import annotations

from kubeling.api.types import Obj
from kubeling.api.validation.common import as_dict, as_list, at_index, child, invalid, not_supported, required, same
from kubeling.api.validation.meta import NameCheck, validate_object
from kubeling.api.validation.schema import ANY_OBJ, STR, STRINGS, Arr, S, Struct, root

Causes = list[dict[str, str]]

RBAC_GROUP = "rbac.authorization.k8s.io"

POLICY_RULE = S(verbs=STRINGS, apiGroups=STRINGS, resources=STRINGS, resourceNames=STRINGS, nonResourceURLs=STRINGS)
SUBJECT = S(kind=STR, apiGroup=STR, name=STR, namespace=STR)
ROLE_REF = S(apiGroup=STR, kind=STR, name=STR)

SCHEMAS: dict[str, Struct] = {
    "Role": root(rules=Arr(POLICY_RULE)),
    "ClusterRole": root(rules=Arr(POLICY_RULE), aggregationRule=ANY_OBJ),
    "RoleBinding": root(subjects=Arr(SUBJECT), roleRef=ROLE_REF),
    "ClusterRoleBinding": root(subjects=Arr(SUBJECT), roleRef=ROLE_REF),
}


def _policy_rules(obj: Obj, namespaced: bool) -> Causes:
    out: Causes = []
    for i, rule in enumerate(as_list(obj.get("rules"))):
        rule, path = as_dict(rule), at_index("rules", i)
        if not as_list(rule.get("verbs")):
            out.append(required(child(path, "verbs"), "verbs must contain at least one value"))
        urls = as_list(rule.get("nonResourceURLs"))
        if urls:
            if namespaced:
                out.append(invalid(child(path, "nonResourceURLs"), urls,
                                   "namespaced rules cannot apply to non-resource URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                out.append(invalid(child(path, "nonResourceURLs"), urls,
                                   "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not as_list(rule.get("apiGroups")):
            out.append(required(child(path, "apiGroups"), "resource rules must supply at least one api group"))
        if not as_list(rule.get("resources")):
            out.append(required(child(path, "resources"), "resource rules must supply at least one resource"))
    return out


def _role_binding(obj: Obj, namespaced: bool) -> Causes:
    out: Causes = []
    ref = as_dict(obj.get("roleRef"))
    if (ref.get("apiGroup") or "") != RBAC_GROUP:
        out.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [RBAC_GROUP]))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("kind") not in kinds:
        out.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    if not ref.get("name"):
        out.append(required("roleRef.name"))
    for i, subject in enumerate(as_list(obj.get("subjects"))):
        subject, path = as_dict(subject), at_index("subjects", i)
        if not subject.get("name"):
            out.append(required(child(path, "name")))
        kind, group = subject.get("kind"), subject.get("apiGroup") or ""
        if kind == "ServiceAccount":
            if group:
                out.append(not_supported(child(path, "apiGroup"), group, [""]))
            if not namespaced and not subject.get("namespace"):
                out.append(required(child(path, "namespace")))
        elif kind in ("User", "Group"):
            if group != RBAC_GROUP:
                out.append(not_supported(child(path, "apiGroup"), group, [RBAC_GROUP]))
        else:
            out.append(not_supported(child(path, "kind"), kind or "", ("ServiceAccount", "User", "Group")))
    return out


def _update_role_binding(new: Obj, old: Obj) -> Causes:
    if same(new.get("roleRef"), old.get("roleRef")):
        return []
    return [invalid("roleRef", new.get("roleRef"), "cannot change roleRef")]


def validate_rbac_name(name: str) -> list[str]:
    """RBAC names are `system:...` and the like: anything that fits in one URL path segment
    (upstream's path.IsValidPathSegmentName)."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def validate_role(obj: Obj, old: Obj | None = None) -> Causes:
    """A Role: its policy rules, which may not name non-resource URLs (upstream's ValidateRole)."""
    return validate_object(SCHEMAS["Role"], obj, old, namespaced=True, name_check=validate_rbac_name,
                           rules=lambda role: _policy_rules(role, namespaced=True))


def validate_clusterrole(obj: Obj, old: Obj | None = None) -> Causes:
    """A ClusterRole: its policy rules (upstream's ValidateClusterRole)."""
    return validate_object(SCHEMAS["ClusterRole"], obj, old, namespaced=False, name_check=validate_rbac_name,
                           rules=lambda role: _policy_rules(role, namespaced=False))


def validate_rolebinding(obj: Obj, old: Obj | None = None) -> Causes:
    """A RoleBinding, whose roleRef never changes (upstream's ValidateRoleBinding/ValidateRoleBindingUpdate)."""
    return validate_object(SCHEMAS["RoleBinding"], obj, old, namespaced=True, name_check=validate_rbac_name,
                           rules=lambda binding: _role_binding(binding, namespaced=True),
                           update_rules=_update_role_binding)


def validate_clusterrolebinding(obj: Obj, old: Obj | None = None) -> Causes:
    """A ClusterRoleBinding (upstream's ValidateClusterRoleBinding/ValidateClusterRoleBindingUpdate)."""
    return validate_object(SCHEMAS["ClusterRoleBinding"], obj, old, namespaced=False, name_check=validate_rbac_name,
                           rules=lambda binding: _role_binding(binding, namespaced=False),
                           update_rules=_update_role_binding)


# kind → its validation, and the kinds whose names follow a rule of their own; the package registry collects these.
VALIDATORS = {
    "Role": validate_role,
    "ClusterRole": validate_clusterrole,
    "RoleBinding": validate_rolebinding,
    "ClusterRoleBinding": validate_clusterrolebinding,
}
NAME_CHECKS: dict[str, NameCheck] = dict.fromkeys(VALIDATORS, validate_rbac_name)
