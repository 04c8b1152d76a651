"""The Deployment controller: roll a Deployment's pod template out through ReplicaSets, as upstream's
pkg/controller/deployment (sync.go, rolling.go, recreate.go, progress.go and util/deployment_util.go).

Each template gets a ReplicaSet named `<deployment>-<pod-template-hash>`; the one whose template equals the
Deployment's is the *new* one, all others are *old*. A sync scales them one step towards the new template,
within `maxSurge`/`maxUnavailable` (RollingUpdate) or old-to-zero-then-new (Recreate), then writes status.

The module starts with pure functions (template comparison, arithmetic, status), then the controller.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import logging
from typing import Any

from kubeling.api import meta
from kubeling.api.meta import key_of
from kubeling.api.podutil import template_hash
from kubeling.api.resources import lookup
from kubeling.api.selectors import selector_from_label_selector
from kubeling.client import errors
from kubeling.client.api import STRATEGIC_PATCH
from kubeling.controllers.base import (
    Controller,
    controller_of,
    controller_uid_index,
    owner_of,
    owner_reference,
    scaled_value,
    selecting,
    split_key,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DEPLOYMENTS = lookup("apps", "deployments")
REPLICASETS = lookup("apps", "replicasets")
PODS = lookup("", "pods")

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

POD_OWNER_INDEX = "deployment-controller-pod-owner"
RS_OWNER_INDEX = "deployment-controller-rs-owner"

# --- comparing pod templates (their hash is kubeling.api.podutil.template_hash) ---


def _without_hash(template: Obj | None) -> Obj:
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
    return _semantic(_without_hash(a)) == _semantic(_without_hash(b))


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


def _replicas(obj: Obj) -> int:
    value = obj.get("spec", {}).get("replicas")
    return 1 if value is None else int(value)


def _rolling(d: Obj) -> Obj | None:
    strategy = d.get("spec", {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    return strategy.get("rollingUpdate") or {"maxSurge": "25%", "maxUnavailable": "25%"}


def max_surge(d: Obj) -> int:
    rolling = _rolling(d)
    if rolling is None:
        return 0
    return resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), _replicas(d))[0]


def max_unavailable(d: Obj) -> int:
    rolling = _rolling(d)
    if rolling is None or _replicas(d) == 0:
        return 0
    unavailable = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), _replicas(d))[1]
    return min(unavailable, _replicas(d))


# --- ReplicaSet bookkeeping ---


def _status(rs: Obj | None, field: str) -> int:
    return int(((rs or {}).get("status") or {}).get(field) or 0)


def _pods_of(rs: Obj) -> int:
    """Pods an RS may have right now: its spec, or more while a scale-down is not yet reflected in status."""
    return max(_replicas(rs), _status(rs, "replicas"))


def _available_of(rs: Obj) -> int:
    """Available pods an RS will keep: a pending scale-down will remove some of those its status still counts."""
    return min(_replicas(rs), _status(rs, "availableReplicas"))


def revision_of(obj: Obj | None) -> int:
    try:
        return int(((obj or {}).get("metadata", {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _created(rs: Obj) -> tuple[str, str]:
    return rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"]


def active(rss: list[Obj]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and _replicas(rs) > 0]


def find_new_replica_set(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash label)."""
    for rs in sorted(rss, key=_created):
        if equal_ignore_hash(rs.get("spec", {}).get("template"), d.get("spec", {}).get("template")):
            return rs
    return None


def new_rs_new_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
    """How many replicas the new ReplicaSet may have now (upstream's NewRSNewReplicas)."""
    if _rolling(d) is None:
        return _replicas(d)
    current = sum(_pods_of(rs) for rs in all_rss)
    ceiling = _replicas(d) + max_surge(d)
    if current >= ceiling:
        return _replicas(new_rs)
    room = min(ceiling - current, _replicas(d) - _replicas(new_rs))
    return _replicas(new_rs) + max(room, 0)


def max_scaled_down(all_rss: list[Obj], new_rs: Obj, d: Obj) -> int:
    """How many old pods may go now without dropping below replicas - maxUnavailable, counting the new RS's
    pods that are not available yet as unavailable (upstream's reconcileOldReplicaSets)."""
    min_available = _replicas(d) - max_unavailable(d)
    new_unavailable = _replicas(new_rs) - _status(new_rs, "availableReplicas")
    return sum(_replicas(rs) for rs in all_rss) - min_available - new_unavailable


def plan_cleanup_unhealthy(old_rss: list[Obj], budget: int) -> dict[str, int]:
    """Scale old ReplicaSets down by their unavailable pods first, oldest first, up to `budget` pods."""
    plan: dict[str, int] = {}
    removed = 0
    for rs in sorted(old_rss, key=_created):
        if removed >= budget:
            break
        unhealthy = _replicas(rs) - _status(rs, "availableReplicas")
        if _replicas(rs) == 0 or unhealthy <= 0:
            continue
        count = min(budget - removed, unhealthy)
        plan[rs["metadata"]["name"]] = _replicas(rs) - count
        removed += count
    return plan


def plan_scale_down_old(all_rss: list[Obj], old_rss: list[Obj], d: Obj) -> dict[str, int]:
    """Scale old ReplicaSets down, oldest first, by as many available pods as exceed replicas - maxUnavailable."""
    min_available = _replicas(d) - max_unavailable(d)
    available = sum(_available_of(rs) for rs in all_rss)
    excess = available - min_available
    plan: dict[str, int] = {}
    removed = 0
    for rs in sorted(old_rss, key=_created):
        if removed >= excess:
            break
        if _replicas(rs) == 0:
            continue
        count = min(_replicas(rs), excess - removed)
        plan[rs["metadata"]["name"]] = _replicas(rs) - count
        removed += count
    return plan


def _annotation_int(rs: Obj, name: str) -> int | None:
    try:
        return int((rs.get("metadata", {}).get("annotations") or {})[name])
    except (KeyError, ValueError):
        return None


def replica_set_fraction(rs: Obj, d: Obj) -> int:
    """The change of `rs` when the Deployment is resized: proportional to its share of the old max size."""
    if _replicas(d) == 0:
        return -_replicas(rs)
    deployment_replicas = _replicas(d) + max_surge(d)
    annotated = _annotation_int(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = _status(d, "replicas")
    if not annotated:
        return 0
    size = _replicas(rs) * deployment_replicas / annotated
    rounded = int(size + 0.5) if size >= 0 else -int(-size + 0.5)  # Go's math.Round: half away from zero
    return rounded - _replicas(rs)


def proportions(d: Obj, rss: list[Obj], to_add: int) -> dict[str, int]:
    """New sizes of active ReplicaSets when `to_add` pods (negative: remove) are spread in proportion to their
    sizes; leftovers go to the first (largest) one (upstream's DeploymentController.scale)."""
    if to_add > 0:
        ordered = sorted(rss, key=lambda rs: (-_replicas(rs), _neg_created(rs)))  # bigger, then newer first
    else:
        ordered = sorted(rss, key=lambda rs: (-_replicas(rs), _created(rs)))  # bigger, then older first
    sizes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        proportion = 0
        if to_add and _replicas(rs) and to_add != added:
            fraction, allowed = replica_set_fraction(rs, d), to_add - added
            proportion = min(fraction, allowed) if to_add > 0 else max(fraction, allowed)
        sizes[rs["metadata"]["name"]] = _replicas(rs) + proportion
        added += proportion
    if ordered and added != to_add:
        first = ordered[0]["metadata"]["name"]
        sizes[first] = max(sizes[first] + to_add - added, 0)
    return sizes


def _neg_created(rs: Obj) -> tuple[float, str]:
    moment = meta.parse_time(rs["metadata"].get("creationTimestamp"))
    return (-moment.timestamp() if moment else 0.0), rs["metadata"]["name"]


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    return (_replicas(rs) == _replicas(d) and _annotation_int(rs, DESIRED_REPLICAS) == _replicas(d)
            and _status(rs, "availableReplicas") == _replicas(d))


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
    if not exists and set_replicas_annotations(rs, _replicas(d), _replicas(d) + max_surge(d)):
        changed = True
    return changed


# --- conditions and status ---


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


def calculate_status(all_rss: list[Obj], new_rs: Obj | None, d: Obj, now: datetime.datetime | None = None) -> Obj:
    """The Deployment's status from its ReplicaSets (upstream's calculateStatus); zero counts are omitted, as
    upstream's JSON does."""
    rss = [rs for rs in all_rss if rs is not None]
    available = sum(_status(rs, "availableReplicas") for rs in rss)
    total = sum(_replicas(rs) for rs in rss)
    status: Obj = {
        "observedGeneration": d["metadata"].get("generation", 0),
        "replicas": sum(_status(rs, "replicas") for rs in rss),
        "updatedReplicas": _status(new_rs, "replicas"),
        "readyReplicas": sum(_status(rs, "readyReplicas") for rs in rss),
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
    }
    status = {k: v for k, v in status.items() if v}
    old = d.get("status") or {}
    if old.get("conditions"):
        status["conditions"] = copy.deepcopy(old["conditions"])
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= _replicas(d) - max_unavailable(d):
        set_condition(status, new_condition("Available", "True", MIN_AVAILABLE, "Deployment has minimum availability.",
                                            now))
    else:
        set_condition(status, new_condition("Available", "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status


def deployment_complete(d: Obj, status: Obj) -> bool:
    replicas = _replicas(d)
    return (status.get("updatedReplicas", 0) == replicas and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 0))


def deployment_progressing(d: Obj, status: Obj) -> bool:
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


def rollout_status(all_rss: list[Obj], new_rs: Obj | None, d: Obj, now: datetime.datetime | None = None) -> Obj:
    """Status plus the Progressing and ReplicaFailure conditions (upstream's syncRolloutStatus)."""
    status = calculate_status(all_rss, new_rs, d, now)
    if not has_progress_deadline(d):
        remove_condition(status, "Progressing")
    current = get_condition(status, "Progressing")
    complete = (status.get("replicas", 0) == status.get("updatedReplicas", 0) and current is not None
                and current.get("reason") == NEW_RS_AVAILABLE)
    # Messages name the new ReplicaSet, or the Deployment while there is none.
    subject = f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs else f'Deployment "{d["metadata"]["name"]}"'
    if has_progress_deadline(d) and not complete:
        if deployment_complete(d, status):
            set_condition(status, new_condition("Progressing", "True", NEW_RS_AVAILABLE,
                                                f"{subject} has successfully progressed.", now))
        elif deployment_progressing(d, status):
            condition = new_condition("Progressing", "True", RS_UPDATED, f"{subject} is progressing.", now)
            if current is not None and current.get("status") == "True":
                condition["lastTransitionTime"] = current.get("lastTransitionTime")
            remove_condition(status, "Progressing")
            set_condition(status, condition)
        elif deployment_timed_out(d, status, now):
            set_condition(status, new_condition("Progressing", "False", TIMED_OUT,
                                                f"{subject} has timed out progressing.", now))
    failure = next((c for rs in ([new_rs] if new_rs else []) + all_rss if rs
                    for c in (rs.get("status") or {}).get("conditions") or [] if c.get("type") == "ReplicaFailure"),
                   None)
    if failure is not None:
        stamp = failure.get("lastTransitionTime")
        set_condition(status, {"type": "ReplicaFailure", "status": failure.get("status"), "lastUpdateTime": stamp,
                               "lastTransitionTime": stamp, "reason": failure.get("reason", ""),
                               "message": failure.get("message", "")})
    else:
        remove_condition(status, "ReplicaFailure")
    return status


def _newer(candidate: Obj | None, cached: Obj | None) -> bool:
    try:
        return int(candidate["metadata"]["resourceVersion"]) > int(cached["metadata"]["resourceVersion"])
    except (TypeError, KeyError, ValueError):
        return False


# --- the controller ---


class DeploymentController(Controller):
    name = "deployment"
    workers = 5

    def __init__(self, client, informers, recorder, options=None) -> None:
        super().__init__(client, informers, recorder, options)
        d_informer = informers.informer(DEPLOYMENTS)
        rs_informer, pod_informer = informers.informer(REPLICASETS), informers.informer(PODS)
        self.deployments, self.replicasets, self.pods = d_informer.store, rs_informer.store, pod_informer.store
        self.pods.add_indexer(POD_OWNER_INDEX, controller_uid_index())
        self.replicasets.add_indexer(RS_OWNER_INDEX, controller_uid_index())
        # Our own writes, until the informer catches up: the next sync must not act on what it already changed
        # (client-go's MutationCache).
        self._written: dict[str, Obj] = {}
        d_informer.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        rs_informer.add_handler(self._on_rs_add, self._on_rs_update, self._on_rs_delete)
        pod_informer.add_handler(on_delete=self._on_pod_delete)

    # Handlers

    def _deployment_for(self, obj: Obj, ref: Obj | None = None) -> Obj | None:
        return owner_of(obj, "Deployment", self.deployments, ref)

    def _matching_deployments(self, rs: Obj) -> list[Obj]:
        return selecting(self.deployments.list(meta.namespace_of(rs)), rs["metadata"].get("labels"))

    def _on_rs_add(self, rs: Obj) -> None:
        if rs["metadata"].get("deletionTimestamp"):
            self._on_rs_delete(rs)
        elif controller_of(rs):
            if (d := self._deployment_for(rs)) is not None:
                self.enqueue(d)
        else:
            for d in self._matching_deployments(rs):
                self.enqueue(d)

    def _on_rs_update(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        old_ref, new_ref = controller_of(old), controller_of(new)
        if old_ref != new_ref and old_ref and (d := self._deployment_for(old, old_ref)) is not None:
            self.enqueue(d)
        if new_ref:
            if (d := self._deployment_for(new, new_ref)) is not None:
                self.enqueue(d)
        elif old_ref != new_ref or old["metadata"].get("labels") != new["metadata"].get("labels"):
            for d in self._matching_deployments(new):
                self.enqueue(d)

    def _on_rs_delete(self, rs: Obj) -> None:
        self._written.pop(key_of(rs), None)
        if (d := self._deployment_for(rs)) is not None:
            self.enqueue(d)

    def _on_pod_delete(self, pod: Obj) -> None:
        """Recreate waits for old pods to be gone: each disappearance may be the last one."""
        rs = owner_of(pod, "ReplicaSet", self.replicasets)
        if rs is None:
            return
        d = self._deployment_for(rs)
        if d is not None and (d.get("spec", {}).get("strategy") or {}).get("type") == "Recreate":
            self.enqueue(d)

    # Reading through our own writes

    def _remember(self, obj: Obj, kind: str = "ReplicaSet") -> Obj:
        self._written[f"{obj.get('kind') or kind}:{key_of(obj)}"] = obj
        return obj

    def _view(self, kind: str, cached: Obj | None) -> Obj | None:
        if cached is None:
            return None
        key = f"{kind}:{key_of(cached)}"
        written = self._written.get(key)
        if written is not None and _newer(written, cached):
            return written
        self._written.pop(key, None)
        return cached

    # Sync

    def sync(self, key: str) -> None:
        d = self._view("Deployment", self.deployments.get(key))
        if d is None:
            self._written.pop(f"Deployment:{key}", None)
            return
        d = {**copy.deepcopy(d), "apiVersion": "apps/v1", "kind": "Deployment"}
        rss = self._claim_replica_sets(d)
        if d["metadata"].get("deletionTimestamp"):
            new_rs, old_rss = self._get_all(d, rss, create=False)
            self._write_status(d, calculate_status([*old_rss, new_rs], new_rs, d))
            return
        d = self._check_paused_conditions(d)
        if d["spec"].get("paused"):
            self._sync_scale(d, rss)
        elif (d["spec"].get("rollbackTo") or {}).get("revision") is not None:
            self._rollback(d, rss)
        elif self._is_scaling_event(d, rss):
            self._sync_scale(d, rss)
        elif (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            self._rollout_recreate(d, rss)
        else:
            self._rollout_rolling(d, rss)

    def _claim_replica_sets(self, d: Obj) -> list[Obj]:
        """ReplicaSets this Deployment owns, after adopting matching orphans and releasing ones that stopped
        matching its selector."""
        selector = selector_from_label_selector(d["spec"].get("selector"))
        uid, deleting = d["metadata"]["uid"], bool(d["metadata"].get("deletionTimestamp"))
        namespace, _ = split_key(key_of(d))
        claimed, fresh_checked = [], False
        for rs in self.replicasets.list(namespace):
            rs = self._view("ReplicaSet", rs)
            labels = rs["metadata"].get("labels") or {}
            ref = controller_of(rs)
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if selector.matches(labels):
                    claimed.append(rs)
                elif not deleting:
                    self._patch_rs_owner(rs, {"$patch": "delete", "uid": uid})
                continue
            if deleting or rs["metadata"].get("deletionTimestamp") or not selector.matches(labels):
                continue
            if not fresh_checked:
                fresh = self.client.get(DEPLOYMENTS, d["metadata"]["name"], namespace)
                if fresh["metadata"].get("uid") != uid or fresh["metadata"].get("deletionTimestamp"):
                    raise errors.ApiError(409, "Conflict", f"original Deployment {key_of(d)} is gone or deleting")
                fresh_checked = True
            adopted = self._patch_rs_owner(rs, owner_reference(d))
            if adopted is not None:
                claimed.append(adopted)
        return claimed

    def _patch_rs_owner(self, rs: Obj, ref: Obj) -> Obj | None:
        patch = {"metadata": {"ownerReferences": [ref], "uid": rs["metadata"]["uid"]}}
        try:
            return self._remember(self.client.patch(REPLICASETS, rs["metadata"]["name"], patch,
                                                    rs["metadata"]["namespace"], patch_type=STRATEGIC_PATCH))
        except errors.NotFound:
            return None

    # Revisions and the new ReplicaSet

    def _get_all(self, d: Obj, rss: list[Obj], create: bool) -> tuple[Obj | None, list[Obj]]:
        """(new ReplicaSet or None, all old ReplicaSets), syncing the revision annotations on the way."""
        existing = find_new_replica_set(d, rss)
        old_rss = [rs for rs in rss if existing is None or rs["metadata"]["uid"] != existing["metadata"]["uid"]]
        return self._new_replica_set(d, existing, old_rss, create), old_rss

    def _new_replica_set(self, d: Obj, existing: Obj | None, old_rss: list[Obj], create: bool) -> Obj | None:
        new_revision = max((revision_of(rs) for rs in old_rss), default=0) + 1
        if existing is not None:
            rs = copy.deepcopy(existing)
            changed = set_new_rs_annotations(d, rs, new_revision, exists=True)
            if (rs["spec"].get("minReadySeconds") or 0) != (d["spec"].get("minReadySeconds") or 0):
                rs["spec"]["minReadySeconds"] = d["spec"].get("minReadySeconds") or 0
                changed = True
            if changed:
                rs = self._remember(self.client.replace(REPLICASETS, rs))
            self._set_deployment_revision(d, rs["metadata"]["annotations"].get(REVISION, ""))
            if get_condition(d.get("status") or {}, "Progressing") is None:
                status = copy.deepcopy(d.get("status") or {})
                set_condition(status, new_condition("Progressing", "True", FOUND_NEW_RS,
                                                    f'Found new replica set "{rs["metadata"]["name"]}"'))
                self._write_status(d, status)
            return rs
        if not create:
            return None
        return self._create_new_replica_set(d, old_rss, new_revision)

    def _create_new_replica_set(self, d: Obj, old_rss: list[Obj], new_revision: int) -> Obj:
        status = d.get("status") or {}
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = template_hash(d["spec"]["template"], status.get("collisionCount"))
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{d['metadata']['name']}-{pod_hash}", "namespace": d["metadata"]["namespace"],
                         "labels": dict(template["metadata"]["labels"]), "ownerReferences": [owner_reference(d)]},
            "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds") or 0,
                     "selector": selector, "template": template},
        }
        rs["spec"]["replicas"] = new_rs_new_replicas(d, [*old_rss, rs], rs)
        set_new_rs_annotations(d, rs, new_revision, exists=False)
        name = rs["metadata"]["name"]
        try:
            created = self._remember(self.client.create(REPLICASETS, rs))
        except errors.AlreadyExists:
            current = self.client.get(REPLICASETS, name, d["metadata"]["namespace"])
            ref = controller_of(current)
            if ref and ref.get("uid") == d["metadata"]["uid"] and \
                    equal_ignore_hash(current["spec"].get("template"), d["spec"]["template"]):
                return current  # ours: the informer had not shown it yet
            # A different ReplicaSet has this name: hash again with a higher collision count.
            self._write_status(d, {**status, "collisionCount": (status.get("collisionCount") or 0) + 1})
            raise
        except errors.ApiError as exc:
            failed = copy.deepcopy(status)
            set_condition(failed, new_condition("Progressing", "False", FAILED_RS_CREATE,
                                                f'Failed to create new replica set "{name}": {exc.message}'))
            self._write_status(d, failed)
            raise
        if _replicas(created) > 0:
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled up replica set {name} from 0 to {_replicas(created)}")
        self._set_deployment_revision(d, str(new_revision))
        status = copy.deepcopy(d.get("status") or {})
        set_condition(status, new_condition("Progressing", "True", NEW_RS_CREATED, f'Created new replica set "{name}"'))
        self._write_status(d, status)
        return created

    def _set_deployment_revision(self, d: Obj, revision: str) -> None:
        if not revision or (d["metadata"].get("annotations") or {}).get(REVISION) == revision:
            return
        patch = {"metadata": {"annotations": {REVISION: revision}}}
        updated = self._remember(self.client.patch(DEPLOYMENTS, d["metadata"]["name"], patch,
                                                   d["metadata"]["namespace"]))
        d["metadata"] = updated["metadata"]  # later writes need the new resourceVersion

    def _write_status(self, d: Obj, status: Obj) -> None:
        """Write `status` if it changed; `d` (our working copy) takes the new status and resourceVersion."""
        if status == (d.get("status") or {}):
            return
        updated = self._remember(self.client.replace_status(DEPLOYMENTS, {**d, "status": status}))
        d["metadata"], d["status"] = updated["metadata"], updated.get("status") or {}

    # Scaling ReplicaSets

    def _scale(self, rs: Obj, replicas: int, d: Obj, operation: str | None = None) -> tuple[bool, Obj]:
        """Set `rs` to `replicas` and refresh its replicas annotations. Returns (size changed, rs)."""
        size_changed = _replicas(rs) != replicas
        maximum = _replicas(d) + max_surge(d)
        annotations = rs["metadata"].get("annotations") or {}
        if not size_changed and annotations.get(DESIRED_REPLICAS) == str(_replicas(d)) and \
                annotations.get(MAX_REPLICAS) == str(maximum):
            return False, rs
        updated = copy.deepcopy(rs)
        updated["spec"]["replicas"] = replicas
        set_replicas_annotations(updated, _replicas(d), maximum)
        updated = self._remember(self.client.replace(REPLICASETS, updated))
        if size_changed:
            operation = operation or ("up" if replicas > _replicas(rs) else "down")
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {operation} replica set {rs['metadata']['name']} from {_replicas(rs)} to "
                                f"{replicas}")
        return size_changed, updated

    def _refresh(self, rss: list[Obj]) -> list[Obj]:
        return [self._view("ReplicaSet", rs) for rs in rss]

    def _apply_plan(self, rss: list[Obj], plan: dict[str, int], d: Obj) -> bool:
        scaled = False
        for rs in rss:
            if rs["metadata"]["name"] in plan:
                scaled = self._scale(rs, plan[rs["metadata"]["name"]], d)[0] or scaled
        return scaled

    # Strategies

    def _rollout_rolling(self, d: Obj, rss: list[Obj]) -> None:
        new_rs, old_rss = self._get_all(d, rss, create=True)
        assert new_rs is not None
        if self._reconcile_new([*old_rss, new_rs], new_rs, d) or \
                self._reconcile_old(old_rss, new_rs, d):
            new_rs, old_rss = self._view("ReplicaSet", new_rs), self._refresh(old_rss)
            self._sync_rollout_status([*old_rss, new_rs], new_rs, d)
            return
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(old_rss, d)
        self._sync_rollout_status([*old_rss, new_rs], new_rs, d)

    def _reconcile_new(self, all_rss: list[Obj], new_rs: Obj, d: Obj) -> bool:
        if _replicas(new_rs) == _replicas(d):
            return False
        if _replicas(new_rs) > _replicas(d):
            return self._scale(new_rs, _replicas(d), d)[0]
        return self._scale(new_rs, new_rs_new_replicas(d, all_rss, new_rs), d)[0]

    def _reconcile_old(self, old_rss: list[Obj], new_rs: Obj, d: Obj) -> bool:
        old_active = active(old_rss)
        if not old_active:
            return False
        budget = max_scaled_down([*old_rss, new_rs], new_rs, d)
        if budget <= 0:
            return False
        scaled = self._apply_plan(old_active, plan_cleanup_unhealthy(old_active, budget), d)
        old_active = self._refresh(old_active)
        plan = plan_scale_down_old([*self._refresh(old_rss), new_rs], old_active, d)
        return self._apply_plan(old_active, plan, d) or scaled

    def _rollout_recreate(self, d: Obj, rss: list[Obj]) -> None:
        new_rs, old_rss = self._get_all(d, rss, create=False)
        scaled = False
        for rs in active(old_rss):
            scaled = self._scale(rs, 0, d)[0] or scaled
        old_rss = self._refresh(old_rss)
        if scaled or self._old_pods_running(old_rss):
            self._sync_rollout_status(old_rss + ([new_rs] if new_rs else []), new_rs, d)
            return
        if new_rs is None:
            new_rs, old_rss = self._get_all(d, rss, create=True)
            assert new_rs is not None
        new_rs = self._scale(new_rs, _replicas(d), d)[1]
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(old_rss, d)
        self._sync_rollout_status([*old_rss, new_rs], new_rs, d)

    def _old_pods_running(self, old_rss: list[Obj]) -> bool:
        """Any old pod not finished, terminating ones included: Recreate must never overlap old and new."""
        if sum(_status(rs, "replicas") for rs in old_rss) > 0:
            return True
        for rs in old_rss:
            for pod in self.pods.by_index(POD_OWNER_INDEX, rs["metadata"]["uid"]):
                if pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                    return True
        return False

    # Scaling events, pause and rollback

    def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        new_rs, old_rss = self._get_all(d, rss, create=False)
        for rs in active(old_rss + ([new_rs] if new_rs else [])):
            desired = _annotation_int(rs, DESIRED_REPLICAS)
            if desired is not None and desired != _replicas(d):
                return True
        return False

    def _sync_scale(self, d: Obj, rss: list[Obj]) -> None:
        """Resize without rolling out (paused, or `replicas` changed): spread the change proportionally."""
        new_rs, old_rss = self._get_all(d, rss, create=False)
        self._resize(d, new_rs, old_rss)
        new_rs, old_rss = self._view("ReplicaSet", new_rs), self._refresh(old_rss)
        if d["spec"].get("paused") and not d["spec"].get("rollbackTo"):
            self._cleanup(old_rss, d)
        self._write_status(d, calculate_status(old_rss + ([new_rs] if new_rs else []), new_rs, d))

    def _resize(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        everything = ([new_rs] if new_rs else []) + sorted(old_rss, key=_neg_created)
        live = active(everything)
        if len(live) <= 1:  # one active (or, with none, the newest) ReplicaSet takes all the replicas
            target = live[0] if live else (everything[0] if everything else None)
            if target is not None:
                self._scale(target, _replicas(d), d)  # also refreshes stale replicas annotations
            return
        if is_saturated(d, new_rs):
            for rs in active(old_rss):
                self._scale(rs, 0, d)
            return
        if _rolling(d) is None:
            return
        allowed = _replicas(d) + max_surge(d) if _replicas(d) > 0 else 0
        to_add = allowed - sum(_replicas(rs) for rs in live)
        sizes = proportions(d, live, to_add)
        operation = "up" if to_add > 0 else "down"
        for rs in live:
            self._scale(rs, sizes[rs["metadata"]["name"]], d, operation)

    def _check_paused_conditions(self, d: Obj) -> Obj:
        if not has_progress_deadline(d):
            return d
        condition = get_condition(d.get("status") or {}, "Progressing")
        if condition is not None and condition.get("reason") == TIMED_OUT:
            return d  # a reported lack of progress is not overwritten by "paused"
        paused_shown = condition is not None and condition.get("reason") == PAUSED
        status = copy.deepcopy(d.get("status") or {})
        if d["spec"].get("paused") and not paused_shown:
            set_condition(status, new_condition("Progressing", "Unknown", PAUSED, "Deployment is paused"))
        elif not d["spec"].get("paused") and paused_shown:
            set_condition(status, new_condition("Progressing", "Unknown", RESUMED, "Deployment is resumed"))
        self._write_status(d, status)
        return d

    def _rollback(self, d: Obj, rss: list[Obj]) -> None:
        """The legacy `spec.rollbackTo` (extensions/v1beta1): copy that revision's template, clear the field."""
        new_rs, old_rss = self._get_all(d, rss, create=True)
        all_rss = old_rss + ([new_rs] if new_rs else [])
        wanted = int(d["spec"]["rollbackTo"].get("revision") or 0)
        if wanted == 0:
            revisions = sorted({revision_of(rs) for rs in all_rss}, reverse=True)
            wanted = revisions[1] if len(revisions) > 1 else 0
        source = next((rs for rs in all_rss if wanted and revision_of(rs) == wanted), None)
        updated = copy.deepcopy(d)
        if source is None:
            self.recorder.event(d, "Warning", "RollbackRevisionNotFound", "Unable to find the revision to rollback to.")
        elif equal_ignore_hash(source["spec"]["template"], d["spec"]["template"]):
            self.recorder.event(d, "Warning", "RollbackTemplateUnchanged",
                                f"The rollback revision contains the same template as current deployment "
                                f"\"{d['metadata']['name']}\"")
        else:
            updated["spec"]["template"] = _without_hash(source["spec"]["template"])
            annotations = updated["metadata"].setdefault("annotations", {})
            for key, value in (source["metadata"].get("annotations") or {}).items():
                if key not in SKIP_COPY:
                    annotations[key] = value
            self.recorder.event(d, "Normal", "DeploymentRollback",
                                f"Rolled back deployment \"{d['metadata']['name']}\" to revision {wanted}")
        updated["spec"].pop("rollbackTo", None)
        updated.pop("status", None)
        self._remember(self.client.replace(DEPLOYMENTS, updated))

    # Status and history

    def _sync_rollout_status(self, all_rss: list[Obj], new_rs: Obj | None, d: Obj) -> None:
        status = rollout_status(all_rss, new_rs, d)
        self._write_status(d, status)
        self._requeue_if_stuck(d, status)

    def _requeue_if_stuck(self, d: Obj, status: Obj) -> None:
        """Come back when the progress deadline passes, to report ProgressDeadlineExceeded."""
        condition = get_condition(status, "Progressing")
        if not has_progress_deadline(d) or condition is None:
            return
        if deployment_complete(d, status) or condition.get("reason") == TIMED_OUT:
            return
        since = meta.parse_time(condition.get("lastUpdateTime"))
        if since is None:
            return
        deadline = since + datetime.timedelta(seconds=d["spec"]["progressDeadlineSeconds"])
        remaining = (deadline - datetime.datetime.now(datetime.UTC)).total_seconds()
        self.enqueue_after(d, remaining + 1 if remaining >= 1 else 0)

    def _cleanup(self, old_rss: list[Obj], d: Obj) -> None:
        """Delete the oldest unused old ReplicaSets beyond `revisionHistoryLimit`."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")]
        excess = len(alive) - limit
        if excess <= 0:
            return
        for rs in sorted(alive, key=lambda r: (revision_of(r), _created(r)))[:excess]:
            if _status(rs, "replicas") or _replicas(rs) or \
                    rs["metadata"].get("generation", 0) > _status(rs, "observedGeneration"):
                continue  # still has (or may still get) pods
            with contextlib.suppress(errors.NotFound):
                self.client.delete(REPLICASETS, rs["metadata"]["name"], rs["metadata"]["namespace"],
                                   preconditions={"uid": rs["metadata"]["uid"]})
