"""Validation of the `apps` group: deployments, replica sets, daemon sets and stateful sets.

Upstream: pkg/apis/apps/validation/validation.go (ValidateDeployment, ValidateReplicaSet, ValidateDaemonSet,
ValidateStatefulSet and their Update forms).
"""

from __future__ import annotations

import re
from typing import Any

from kubeling.api.types import Obj
from kubeling.api.validation.common import (
    NONNEGATIVE_MSG,
    as_dict,
    as_list,
    at_index,
    child,
    dns1123_label,
    each,
    forbidden,
    immutable,
    invalid,
    nonnegative,
    not_supported,
    one_of,
    required,
    same,
)
from kubeling.api.validation.core import POD_TEMPLATE, validate_pod_template
from kubeling.api.validation.meta import (
    is_empty_selector,
    validate_label_selector,
    validate_object,
    validate_template_meta,
)
from kubeling.api.validation.schema import (
    ANY_OBJ,
    BOOL,
    INT,
    INT_OR_STR,
    LABEL_SELECTOR,
    STR,
    Arr,
    S,
    Schema,
    Struct,
    root,
)
from kubeling.api.validation.volumes import validate_claim_spec

Causes = list[dict[str, str]]

_ROLLING = S(maxSurge=INT_OR_STR, maxUnavailable=INT_OR_STR, partition=INT)
_WORKLOAD: dict[str, Schema] = dict(replicas=INT, selector=LABEL_SELECTOR, template=POD_TEMPLATE, minReadySeconds=INT,
                                   revisionHistoryLimit=INT)

SCHEMAS: dict[str, Struct] = {
    "Deployment": root(spec=S(
        **_WORKLOAD, paused=BOOL, progressDeadlineSeconds=INT,
        strategy=S(type=STR, rollingUpdate=_ROLLING),
    )),
    "ReplicaSet": root(spec=S(**_WORKLOAD)),
    "DaemonSet": root(spec=S(**_WORKLOAD, updateStrategy=S(type=STR, rollingUpdate=_ROLLING))),
    "StatefulSet": root(spec=S(
        **_WORKLOAD, serviceName=STR, podManagementPolicy=STR, updateStrategy=S(type=STR, rollingUpdate=_ROLLING),
        volumeClaimTemplates=Arr(ANY_OBJ), persistentVolumeClaimRetentionPolicy=ANY_OBJ, ordinals=S(start=INT),
    )),
}


def _replicated(spec: Obj, empty_selector_msg: str, extra_volumes: tuple[str, ...] = ()) -> Causes:
    """What Deployments, ReplicaSets, DaemonSets and StatefulSets share."""
    out: Causes = []
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        out.append(required("spec.selector"))
    else:
        out += validate_label_selector(selector, "spec.selector")
        if is_empty_selector(selector):
            out.append(invalid("spec.selector", selector, empty_selector_msg))
    for field in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        out += nonnegative(spec, field, "spec")
    return out + validate_pod_template(spec, "spec", ("Always",), extra_volumes)


def _is_zero(value: Any) -> bool:
    return value == 0 or value == "0%"


def _int_or_percent(value: Any, path: str, max_percent: int | None = None) -> Causes:
    if isinstance(value, str):
        if not re.fullmatch("[0-9]+%", value):
            return [invalid(path, value, "a valid percent string must be a numeric string followed by an ending "
                                         "'%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]
        if max_percent is not None and int(value[:-1]) > max_percent:
            return [invalid(path, value, f"must not be greater than {max_percent}%")]
    elif isinstance(value, int) and value < 0:
        return [invalid(path, value, NONNEGATIVE_MSG)]
    return []


def _validate_deployment(obj: Obj) -> Causes:
    spec = as_dict(obj.get("spec"))
    out = _replicated(spec, "empty selector is invalid for deployment")
    strategy, spath = as_dict(spec.get("strategy")), "spec.strategy"
    kind = strategy.get("type") or "RollingUpdate"
    rolling = strategy.get("rollingUpdate")
    if kind not in ("Recreate", "RollingUpdate"):
        out.append(not_supported(child(spath, "type"), kind, ("Recreate", "RollingUpdate")))
    elif kind == "Recreate" and rolling is not None:
        out.append(forbidden(child(spath, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
    elif isinstance(rolling, dict):
        rpath = child(spath, "rollingUpdate")
        surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
        out += _int_or_percent(surge, child(rpath, "maxSurge"))
        out += _int_or_percent(unavailable, child(rpath, "maxUnavailable"), max_percent=100)
        if _is_zero(surge) and _is_zero(unavailable):
            out.append(invalid(child(rpath, "maxUnavailable"), unavailable, "may not be 0 when `maxSurge` is 0"))
    out += nonnegative(spec, "progressDeadlineSeconds", "spec")
    deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if isinstance(deadline, int) and deadline >= 0 and deadline <= min_ready:
        out.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return out


def _validate_replicaset(obj: Obj) -> Causes:
    return _replicated(as_dict(obj.get("spec")), "empty selector is invalid for deployment")  # sic, upstream


def _validate_daemonset(obj: Obj) -> Causes:
    spec = as_dict(obj.get("spec"))
    out = _replicated(spec, "empty selector is not valid for daemonset.")
    strategy = as_dict(spec.get("updateStrategy"))
    return out + one_of(strategy, "type", "spec.updateStrategy", ("RollingUpdate", "OnDelete"))


def _claim_templates(spec: Obj) -> tuple[list[str], Causes]:
    """The names of a StatefulSet's volumeClaimTemplates (volumes its pods get), and what is wrong with them."""
    names: list[str] = []
    out: Causes = []
    for i, template in enumerate(as_list(spec.get("volumeClaimTemplates"))):
        template, tpath = as_dict(template), at_index("spec.volumeClaimTemplates", i)
        name = as_dict(template.get("metadata")).get("name") or ""
        if not name:
            out.append(required(child(tpath, "metadata.name")))
        else:
            out += each(child(tpath, "metadata.name"), name, dns1123_label(name))
            names.append(name)
        out += validate_template_meta(as_dict(template.get("metadata")), child(tpath, "metadata"))
        out += validate_claim_spec(as_dict(template.get("spec")), child(tpath, "spec"))
    policy = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for when in ("whenDeleted", "whenScaled"):
        if policy.get(when) is not None and policy[when] not in RETENTION_POLICIES:
            out.append(not_supported(child("spec.persistentVolumeClaimRetentionPolicy", when), policy[when],
                                     RETENTION_POLICIES))
    return names, out


def _validate_statefulset(obj: Obj) -> Causes:
    spec = as_dict(obj.get("spec"))
    claim_names, out = _claim_templates(spec)
    out += _replicated(spec, "empty selector is not valid for statefulset.", tuple(claim_names))
    policy = spec.get("podManagementPolicy")
    if policy and policy not in ("OrderedReady", "Parallel"):
        out.append(invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
    strategy = as_dict(spec.get("updateStrategy"))
    if strategy.get("type") and strategy["type"] not in ("RollingUpdate", "OnDelete"):
        out.append(invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'"))
    return out + nonnegative(as_dict(strategy.get("rollingUpdate")), "partition", "spec.updateStrategy.rollingUpdate")


def _update_selector(new: Obj, old: Obj) -> Causes:
    return immutable(as_dict(new.get("spec")), as_dict(old.get("spec")), "selector", "spec")


RETENTION_POLICIES = ("Retain", "Delete")
STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds")


def _update_statefulset(new: Obj, old: Obj) -> Causes:
    def frozen(obj: Obj) -> Obj:
        return {k: v for k, v in as_dict(obj.get("spec")).items() if k not in STATEFULSET_MUTABLE}

    if same(frozen(new), frozen(old)):
        return []
    names = ", ".join(f"'{n}'" for n in STATEFULSET_MUTABLE[:-1])
    return [forbidden("spec", f"updates to statefulset spec for fields other than {names} and "
                              f"'{STATEFULSET_MUTABLE[-1]}' are forbidden")]



def validate_deployment(obj: Obj, old: Obj | None = None) -> Causes:
    """A Deployment on create or update (upstream's ValidateDeployment/ValidateDeploymentUpdate)."""
    return validate_object(SCHEMAS["Deployment"], obj, old, namespaced=True, rules=_validate_deployment,
                           update_rules=_update_selector)


def validate_replicaset(obj: Obj, old: Obj | None = None) -> Causes:
    """A ReplicaSet on create or update (upstream's ValidateReplicaSet/ValidateReplicaSetUpdate)."""
    return validate_object(SCHEMAS["ReplicaSet"], obj, old, namespaced=True, rules=_validate_replicaset,
                           update_rules=_update_selector)


def validate_daemonset(obj: Obj, old: Obj | None = None) -> Causes:
    """A DaemonSet on create or update (upstream's ValidateDaemonSet/ValidateDaemonSetUpdate)."""
    return validate_object(SCHEMAS["DaemonSet"], obj, old, namespaced=True, rules=_validate_daemonset,
                           update_rules=_update_selector)


def validate_statefulset(obj: Obj, old: Obj | None = None) -> Causes:
    """A StatefulSet on create or update (upstream's ValidateStatefulSet/ValidateStatefulSetUpdate); its selector
    is covered by the one update rule for the whole spec."""
    return validate_object(SCHEMAS["StatefulSet"], obj, old, namespaced=True, rules=_validate_statefulset,
                           update_rules=_update_statefulset)


# kind → its validation; the package registry collects these.
VALIDATORS = {
    "Deployment": validate_deployment,
    "ReplicaSet": validate_replicaset,
    "DaemonSet": validate_daemonset,
    "StatefulSet": validate_statefulset,
}
