"""What a Deployment and its ReplicaSets say, read without side effects: template comparison, maxSurge and
maxUnavailable arithmetic, revisions, the replicas annotations and the Deployment's conditions, as upstream's
pkg/controller/deployment/util/deployment_util.go.

Every other module of the controller builds on these; none of them writes to the API.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from kubeling.api import meta
from kubeling.api.resources import ResourceType, lookup
from kubeling.api.types import Obj
from kubeling.controllers.base import scaled_value


def _resource(group: str, plural: str) -> ResourceType:
    rtype = lookup(group, plural)
    assert rtype is not None, f"{group}/{plural} is a built-in resource"
    return rtype


DEPLOYMENTS = _resource("apps", "deployments")
REPLICASETS = _resource("apps", "replicasets")
PODS = _resource("", "pods")

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
# Deployment annotations that are not copied to its ReplicaSets (upstream's skipCopyAnnotation).
SKIP_COPY = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
                       DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO})
REVISION_HISTORY_CHARS = 2000
NO_DEADLINE = 2**31 - 1  # progressDeadlineSeconds meaning "never time out"

# Condition reasons, as upstream's deployment util (kubectl and users match on them).
NEW_RS_CREATED, FOUND_NEW_RS, RS_UPDATED = "NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"
NEW_RS_AVAILABLE, TIMED_OUT, FAILED_RS_CREATE = "NewReplicaSetAvailable", "ProgressDeadlineExceeded", "FailedRSCreate"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"
MIN_AVAILABLE, MIN_UNAVAILABLE = "MinimumReplicasAvailable", "MinimumReplicasUnavailable"

# --- reading counts and dates off an object ---


def replicas_of(obj: Obj) -> int:
    """`spec.replicas` of a Deployment or ReplicaSet (1 when unset, as the API's default)."""
    value = obj.get("spec", {}).get("replicas")
    return 1 if value is None else int(value)


def status_count(rs: Obj | None, field: str) -> int:
    """A count from `status` (`replicas`, `availableReplicas`, ...): 0 when absent, as Go's zero value."""
    return int(((rs or {}).get("status") or {}).get(field) or 0)


def annotation_int(obj: Obj, name: str) -> int | None:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {})[name])
    except (KeyError, ValueError):
        return None


def oldest_first(rs: Obj) -> tuple[str, str]:
    """Sort key: older ReplicaSets first, by name when created in the same second (upstream's
    ReplicaSetsByCreationTimestamp)."""
    return rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"]


def newest_first(rs: Obj) -> tuple[float, str]:
    """Sort key: newer ReplicaSets first (upstream's ReplicaSetsBySizeNewer breaks ties this way)."""
    moment = meta.parse_time(rs["metadata"].get("creationTimestamp"))
    return (-moment.timestamp() if moment else 0.0), rs["metadata"]["name"]


def active(rss: list[Obj]) -> list[Obj]:
    """The ReplicaSets that should have pods (upstream's FilterActiveReplicaSets)."""
    return [rs for rs in rss if rs is not None and replicas_of(rs) > 0]


def revision_of(obj: Obj | None) -> int:
    try:
        return int(((obj or {}).get("metadata", {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


# --- comparing pod templates (their hash is kubeling.api.podutil.template_hash) ---


def without_hash(template: Obj | None) -> Obj:
    """A copy of a pod template without the `pod-template-hash` label the controller adds."""
    template = copy.deepcopy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
        if not labels:
            del template["metadata"]["labels"]
    return template


def _semantic(value: Any) -> Any:
    """Drop nulls and empty maps and lists, which Go's typed comparison does not see (kubectl's rollback sends
    `creationTimestamp: null`)."""
    if isinstance(value, dict):
        pairs = ((k, _semantic(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """Two pod templates are the same rollout target if they differ at most in `pod-template-hash`."""
    return _semantic(without_hash(a)) == _semantic(without_hash(b))


def find_new_replica_set(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash label)."""
    for rs in sorted(rss, key=oldest_first):
        if equal_ignore_hash(rs.get("spec", {}).get("template"), d.get("spec", {}).get("template")):
            return rs
    return None


# --- maxSurge / maxUnavailable arithmetic ---


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """(surge, unavailable) in pods: surge rounds up, unavailable rounds down; if both come to 0 (rounding),
    unavailable becomes 1 so a rollout can still move."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def rolling_update(d: Obj) -> Obj | None:
    """`spec.strategy.rollingUpdate` with its defaults, or None for a Recreate Deployment."""
    strategy = d.get("spec", {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    rolling: Obj = strategy.get("rollingUpdate") or {"maxSurge": "25%", "maxUnavailable": "25%"}
    return rolling


def max_surge(d: Obj) -> int:
    rolling = rolling_update(d)
    if rolling is None:
        return 0
    return resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas_of(d))[0]


def max_unavailable(d: Obj) -> int:
    rolling = rolling_update(d)
    if rolling is None or replicas_of(d) == 0:
        return 0
    unavailable = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas_of(d))[1]
    return min(unavailable, replicas_of(d))


def pods_of(rs: Obj) -> int:
    """Pods an RS may have right now: its spec, or more while a scale-down is not yet reflected in status."""
    return max(replicas_of(rs), status_count(rs, "replicas"))


def new_rs_new_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
    """How many replicas the new ReplicaSet may have now (upstream's NewRSNewReplicas)."""
    if rolling_update(d) is None:
        return replicas_of(d)
    current = sum(pods_of(rs) for rs in all_rss)
    ceiling = replicas_of(d) + max_surge(d)
    if current >= ceiling:
        return replicas_of(new_rs)
    room = min(ceiling - current, replicas_of(d) - replicas_of(new_rs))
    return replicas_of(new_rs) + max(room, 0)


def replica_set_fraction(rs: Obj, d: Obj) -> int:
    """The change of `rs` when the Deployment is resized: proportional to its share of the old max size
    (upstream's getReplicaSetFraction)."""
    if replicas_of(d) == 0:
        return -replicas_of(rs)
    deployment_replicas = replicas_of(d) + max_surge(d)
    annotated = annotation_int(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = status_count(d, "replicas")
    if not annotated:
        return 0
    size = replicas_of(rs) * deployment_replicas / annotated
    rounded = int(size + 0.5) if size >= 0 else -int(-size + 0.5)  # Go's math.Round: half away from zero
    return rounded - replicas_of(rs)


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """The new ReplicaSet has all the Deployment's replicas, and all of them available."""
    if rs is None:
        return False
    return (replicas_of(rs) == replicas_of(d) and annotation_int(rs, DESIRED_REPLICAS) == replicas_of(d)
            and status_count(rs, "availableReplicas") == replicas_of(d))


# --- annotations the controller keeps on its ReplicaSets ---


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    annotations = rs["metadata"].setdefault("annotations", {})
    wanted = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(maximum)}
    changed = any(annotations.get(k) != v for k, v in wanted.items())
    annotations.update(wanted)
    return changed


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
    """Copy the Deployment's annotations, raise the revision (keeping the old one in revision-history, as a
    rollback does) and, on a new RS, the replicas annotations. True when something changed."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in (d["metadata"].get("annotations") or {}).items():
        if key not in SKIP_COPY and annotations.get(key) != value:
            annotations[key] = value
            changed = True
    old = annotations.get(REVISION)
    try:
        old_revision = int(old) if old else 0
    except ValueError:
        return False
    if old_revision < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if old:
            history = [r for r in annotations.get(REVISION_HISTORY, "").split(",") if r] + [old]
            while len(",".join(history)) > REVISION_HISTORY_CHARS and len(history) > 1:
                history.pop(0)
            annotations[REVISION_HISTORY] = ",".join(history)
    if not exists and set_replicas_annotations(rs, replicas_of(d), replicas_of(d) + max_surge(d)):
        changed = True
    return changed


# --- the Deployment's conditions (kept here, in one place, until kubeling has one conditions module) ---


def new_condition(kind: str, status: str, reason: str, message: str, now: datetime.datetime | None = None) -> Obj:
    stamp = meta.format_time(now or datetime.datetime.now(datetime.UTC))
    return {"type": kind, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def get_condition(status: Obj, kind: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def set_condition(status: Obj, condition: Obj) -> None:
    """As upstream: same status and reason is no change at all; same status keeps the transition time."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] and \
            current.get("reason") == condition.get("reason"):
        return
    if current is not None and current.get("status") == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]]
    status["conditions"].append(condition)


def remove_condition(status: Obj, kind: str) -> None:
    if status.get("conditions"):
        status["conditions"] = [c for c in status["conditions"] if c.get("type") != kind]
        if not status["conditions"]:
            del status["conditions"]


# --- is the rollout done, moving, or stuck? ---


def deployment_complete(d: Obj, status: Obj) -> bool:
    replicas = replicas_of(d)
    return (status.get("updatedReplicas", 0) == replicas and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 0))


def deployment_progressing(d: Obj, status: Obj) -> bool:
    """`status` (new) shows progress over the Deployment's current status: more updated, ready or available
    pods, or fewer old ones."""
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = status.get("replicas", 0) - status.get("updatedReplicas", 0)
    return (status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0) or new_old < old_old
            or status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or status.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def has_progress_deadline(d: Obj) -> bool:
    deadline = d.get("spec", {}).get("progressDeadlineSeconds")
    return deadline is not None and deadline != NO_DEADLINE


def deployment_timed_out(d: Obj, status: Obj, now: datetime.datetime | None = None) -> bool:
    if not has_progress_deadline(d):
        return False
    condition = get_condition(status, "Progressing")
    if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
        return False
    if condition.get("reason") == TIMED_OUT:
        return True
    since = meta.parse_time(condition.get("lastUpdateTime"))
    now = now or datetime.datetime.now(datetime.UTC)
    return since is not None and since + datetime.timedelta(seconds=d["spec"]["progressDeadlineSeconds"]) < now
