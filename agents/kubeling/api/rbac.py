"""Who is asking, what they ask for, and whether an RBAC rule allows it: the pure half of authorization.

`request_attributes` reads a request the way upstream's RequestInfoFactory does (so `GET /api/v1/pods` is a `list`
and `DELETE` on a collection a `deletecollection`); `rule_allows` and `subject_matches` are upstream's RBAC rule and
subject checks (pkg/apis/rbac/v1/evaluation_helpers.go, plugin/pkg/auth/authorizer/rbac/rbac.go).
"""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs

from kubeling.api.types import Obj

# Groups every authenticated user belongs to, and the identity of requests that bring no credential.
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
MASTERS = "system:masters"
NODES = "system:nodes"
NODE_PREFIX = "system:node:"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"

# Namespace subresources: `/api/v1/namespaces/<ns>/status` is the namespace's status, not a resource named status.
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
# Subresources whose requests open a stream into a pod (apiserver/streaming.py).
CONNECT_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclasses.dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def to_json(self) -> Obj:
        """The `userInfo` of a SelfSubjectReview (and of a TokenReview)."""
        out: Obj = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {key: list(values) for key, values in self.extra}
        return out


@dataclasses.dataclass(frozen=True)
class Attributes:
    """What a request does, in the terms RBAC rules speak (upstream's authorizer.Attributes, minus the user)."""

    verb: str
    resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def request_attributes(method: str, path: str, query: str | dict[str, list[str]] = "") -> Attributes:
    """Classify a request by its method, path and query string, as upstream's RequestInfoFactory does."""
    args = parse_qs(query) if isinstance(query, str) else query
    parts = [p for p in path.strip("/").split("/") if p]
    plain = Attributes(verb=method.lower(), resource_request=False, path=path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return plain
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(parts) < 3:
            return plain
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    verb = _VERBS.get(method.upper(), method.lower())
    if parts and parts[0] == "watch":
        verb, parts = "watch", parts[1:]
    namespace = ""
    if parts and parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0] if parts else ""
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if _first(args, "watch").lower() in ("true", "1") else "list"
        # A list or watch of one object by name counts as that object (the kubelet reads secrets this way).
        for term in _first(args, "fieldSelector").split(","):
            key, _, value = term.partition("=")
            value = value.removeprefix("=").strip()  # `==` means `=`
            if key.strip() == "metadata.name" and value:
                name = value
    if not name and verb == "delete":
        verb = "deletecollection"
    if resource == "pods" and subresource in CONNECT_SUBRESOURCES:
        verb = "create"  # a stream into a pod is a create, whether it arrives as GET (WebSocket) or POST (SPDY)
    return Attributes(verb=verb, resource_request=True, path=path, api_group=group, api_version=version,
                      namespace=namespace, resource=resource, subresource=subresource, name=name)


def _first(args: dict[str, list[str]], key: str) -> str:
    values = args.get(key) or [""]
    return values[0]


# Rules


def rule_allows(rule: Obj, attrs: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    if not attrs.resource_request:
        return any(url == "*" or url == attrs.path or (url.endswith("*") and attrs.path.startswith(url.rstrip("*")))
                   for url in rule.get("nonResourceURLs") or [])
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.api_group not in groups:
        return False
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if not any(r in ("*", combined) or (attrs.subresource and r == f"*/{attrs.subresource}")
               for r in rule.get("resources") or []):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def subject_matches(subject: Obj, user: UserInfo, binding_namespace: str = "") -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        # A RoleBinding may leave out the service account's namespace: its own is meant.
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"
    return False


def describe_binding(binding: Obj, subject: Obj) -> str:
    """The reason upstream gives when a binding allows a request (shown by `kubectl auth can-i -v`)."""
    meta, ref = binding.get("metadata") or {}, binding.get("roleRef") or {}
    where = f'RoleBinding "{meta.get("name")}/{meta.get("namespace")}"' if meta.get("namespace") else \
        f'ClusterRoleBinding "{meta.get("name")}"'
    who = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        who = f"{subject.get('namespace') or meta.get('namespace', '')}/{who}"
    return f'RBAC: allowed by {where} of {ref.get("kind")} "{ref.get("name")}" to {subject.get("kind")} "{who}"'


# Messages


def forbidden_message(user: UserInfo, attrs: Attributes, reason: str = "") -> str:
    """Upstream's 403 text: `pods is forbidden: User "alice" cannot list resource "pods" in API group "" ...`."""
    if not attrs.resource_request:
        text = f'User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
        text = f'User "{user.name}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" {where}'
    if reason:
        text = f"{text}: {reason}"
    return qualified_forbidden(attrs, text)


def qualified_forbidden(attrs: Attributes, text: str) -> str:
    """apierrors.NewForbidden's prefix: `pods is forbidden`, `nodes "n2" is forbidden`, or plain `forbidden`."""
    if not attrs.resource_request or not attrs.resource:
        return f"forbidden: {text}"
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    if attrs.name:
        return f'{qualified} "{attrs.name}" is forbidden: {text}'
    return f"{qualified} is forbidden: {text}"


# The Node authorizer's graph, reduced to one pod: which secrets, configmaps, claims and service account it uses.


def pod_references(pod: Obj) -> set[tuple[str, str]]:
    """(resource, name) pairs a pod's kubelet must read: volumes, env, envFrom, image pull secrets, its account."""
    spec = pod.get("spec") or {}
    refs = {("serviceaccounts", spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")}
    refs |= {("secrets", s.get("name", "")) for s in spec.get("imagePullSecrets") or []}
    for volume in spec.get("volumes") or []:
        if (secret := volume.get("secret")) is not None:
            refs.add(("secrets", secret.get("secretName", "")))
        if (config_map := volume.get("configMap")) is not None:
            refs.add(("configmaps", config_map.get("name", "")))
        if (claim := volume.get("persistentVolumeClaim")) is not None:
            refs.add(("persistentvolumeclaims", claim.get("claimName", "")))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (secret := source.get("secret")) is not None:
                refs.add(("secrets", secret.get("name", "")))
            if (config_map := source.get("configMap")) is not None:
                refs.add(("configmaps", config_map.get("name", "")))
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if (key := source.get("secretKeyRef")) is not None:
                refs.add(("secrets", key.get("name", "")))
            if (key := source.get("configMapKeyRef")) is not None:
                refs.add(("configmaps", key.get("name", "")))
        for env_from in container.get("envFrom") or []:
            if (ref := env_from.get("secretRef")) is not None:
                refs.add(("secrets", ref.get("name", "")))
            if (ref := env_from.get("configMapRef")) is not None:
                refs.add(("configmaps", ref.get("name", "")))
    return {(kind, name) for kind, name in refs if name}
