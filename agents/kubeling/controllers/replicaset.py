"""The ReplicaSet controller: keep `spec.replicas` live pods that match the selector, as upstream's replica_set.go.

A sync claims pods (adopts matching orphans, releases owned pods that stopped matching), creates or deletes the
difference in slow-start batches, and writes status last. Expectations remember the creates and deletes in
flight, so a sync that runs before the informer has seen them does not act twice.
"""

from __future__ import annotations

import copy
import datetime
import functools
import logging
import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from kubeling.api import meta
from kubeling.api.podutil import is_pod_active, is_pod_available, is_pod_ready, ready_since
from kubeling.api.resources import must_lookup
from kubeling.api.selectors import LabelSelector, selector_from_label_selector
from kubeling.api.types import Obj, OwnerReference
from kubeling.client import errors
from kubeling.client.api import STRATEGIC_PATCH, Client
from kubeling.client.events import EventRecorder
from kubeling.client.keys import key_of, split_key
from kubeling.controllers.base import (
    Controller,
    InformerFactory,
    claim,
    controller_of,
    controller_uid_index,
    owner_of,
    owner_reference,
    selecting,
)
from kubeling.controllers.expectations import Expectations

log = logging.getLogger(__name__)

PODS = must_lookup("", "pods")
REPLICASETS = must_lookup("apps", "replicasets")

BURST_REPLICAS = 500  # upstream's cap on creates or deletes per sync
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
OWNER_INDEX = "replicaset-controller-uid"


# --- pure helpers: status, delete ranking, pods from templates ---


def calculate_status(rs: Obj, pods: list[Obj], manage_error: Exception | None = None,
                     now: datetime.datetime | None = None) -> Obj:
    """The ReplicaSet status for its claimed active `pods`; a failed create/delete sets ReplicaFailure."""
    now = now or datetime.datetime.now(datetime.UTC)
    spec = rs.get("spec", {})
    status = meta.deep_copy(rs.get("status") or {})
    template_labels = (spec.get("template", {}).get("metadata") or {}).get("labels") or {}
    min_ready = spec.get("minReadySeconds") or 0
    labels = [(p.get("metadata", {}).get("labels") or {}) for p in pods]
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
    failure = next((c for c in status.get("conditions") or [] if c.get("type") == "ReplicaFailure"), None)
    if manage_error is not None and failure is None:
        reason = "FailedCreate" if len(pods) < spec.get("replicas", 1) else "FailedDelete"
        failure = {"type": "ReplicaFailure", "status": "True", "lastTransitionTime": meta.format_time(now),
                   "reason": reason, "message": str(manage_error)}
    if manage_error is not None:
        conditions.append(failure)
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    status["replicas"] = len(pods)
    status["fullyLabeledReplicas"] = sum(all(lab.get(k) == v for k, v in template_labels.items()) for lab in labels)
    status["readyReplicas"] = sum(is_pod_ready(p) for p in pods)
    status["availableReplicas"] = sum(is_pod_available(p, min_ready, now) for p in pods)
    for field in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        if not status[field]:
            del status[field]  # omitempty upstream; `replicas` is always written
    return status


_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: Obj) -> int:
    try:
        return int((pod["metadata"].get("annotations") or {}).get(DELETION_COST, 0))
    except ValueError:
        return 0


def _log_rank_diff(t1: datetime.datetime, t2: datetime.datetime, now: datetime.datetime) -> int:
    """Compare ages on a log2 scale (LogarithmicScaleDown): pods of about the same age count as equal."""
    def rank(moment: datetime.datetime) -> int:
        age_ns = (now - moment).total_seconds() * 1e9
        return int(math.log2(age_ns)) if age_ns > 0 else -1
    return rank(t1) - rank(t2)


def _max_restarts(pod: Obj) -> int:
    return max((c.get("restartCount", 0) for c in pod.get("status", {}).get("containerStatuses") or []), default=0)


def _compare_for_deletion(a: tuple[Obj, int], b: tuple[Obj, int], now: datetime.datetime) -> int:
    """Negative when pod `a` should be deleted before `b` (upstream's ActivePodsWithRanks.Less)."""
    (pa, rank_a), (pb, rank_b) = a, b
    sa, sb = pa.get("spec", {}), pb.get("spec", {})
    if bool(sa.get("nodeName")) != bool(sb.get("nodeName")):  # 1. unscheduled first
        return -1 if not sa.get("nodeName") else 1
    phase_a = _PHASE_ORDER.get(pa.get("status", {}).get("phase", "Pending"), 0)
    phase_b = _PHASE_ORDER.get(pb.get("status", {}).get("phase", "Pending"), 0)
    if phase_a != phase_b:  # 2. Pending < Unknown < Running
        return -1 if phase_a < phase_b else 1
    if is_pod_ready(pa) != is_pod_ready(pb):  # 3. not ready first
        return -1 if not is_pod_ready(pa) else 1
    if _deletion_cost(pa) != _deletion_cost(pb):  # 4. lower pod-deletion-cost first
        return -1 if _deletion_cost(pa) < _deletion_cost(pb) else 1
    if rank_a != rank_b:  # 5. doubled up on a node with related pods first
        return -1 if rank_a > rank_b else 1
    if is_pod_ready(pa):  # 6. ready for less time first
        cmp = _compare_times(ready_since(pa), ready_since(pb), pa, pb, now)
        if cmp:
            return cmp
    if _max_restarts(pa) != _max_restarts(pb):  # 7. more restarts first
        return -1 if _max_restarts(pa) > _max_restarts(pb) else 1
    return _compare_times(meta.parse_time(pa["metadata"].get("creationTimestamp")),  # 8. newer first
                          meta.parse_time(pb["metadata"].get("creationTimestamp")), pa, pb, now)


def _compare_times(t1: datetime.datetime | None, t2: datetime.datetime | None, pa: Obj, pb: Obj,
                   now: datetime.datetime) -> int:
    if t1 == t2:
        return 0
    if t1 is None or t2 is None:  # an unknown time sorts first
        return -1 if t1 is None else 1
    diff = _log_rank_diff(t1, t2, now)
    if diff == 0:  # same age bucket: a stable but arbitrary order, as upstream (by UID)
        ua, ub = pa["metadata"].get("uid", ""), pb["metadata"].get("uid", "")
        return (ua > ub) - (ua < ub)
    return -1 if diff < 0 else 1


def rank_for_deletion(pods: list[Obj], related: list[Obj] | None = None,
                      now: datetime.datetime | None = None) -> list[Obj]:
    """`pods` ordered best-to-delete first; `related` are the pods of sibling ReplicaSets (same owner), used to
    prefer deleting pods on nodes crowded with them."""
    now = now or datetime.datetime.now(datetime.UTC)
    on_node: dict[str, int] = {}
    for pod in related if related is not None else pods:
        node = pod.get("spec", {}).get("nodeName")
        if node and is_pod_active(pod):
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [(pod, on_node.get(pod.get("spec", {}).get("nodeName") or "", 0)) for pod in pods]
    ranked.sort(key=functools.cmp_to_key(functools.partial(_compare_for_deletion, now=now)))
    return [pod for pod, _ in ranked]


def pod_from_template(rs: Obj) -> Obj:
    """A new pod for `rs`: the template's metadata and spec, a generated name and a controller reference."""
    template = rs.get("spec", {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    metadata: Obj = {"generateName": f"{rs['metadata']['name']}-", "namespace": rs["metadata"]["namespace"],
                     "labels": dict(template_meta.get("labels") or {}),
                     "ownerReferences": [owner_reference(rs)]}
    for field in ("annotations", "finalizers"):
        if template_meta.get(field):
            metadata[field] = copy.deepcopy(template_meta[field])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": meta.deep_copy(template.get("spec") or {})}


def slow_start_batch(count: int, initial: int, create: Callable[[], None],
                     pool: ThreadPoolExecutor | None = None) -> tuple[int, Exception | None]:
    """Call `create` `count` times in parallel batches of 1, 2, 4, …; stop after the first batch with a failure,
    so a quota or admission error costs one failed call, not `count`. Returns (successes, first error)."""
    own_pool = pool is None
    pool = pool or ThreadPoolExecutor(max_workers=16)
    successes, remaining = 0, count
    batch = min(remaining, initial)
    try:
        while batch > 0:
            futures = [pool.submit(create) for _ in range(batch)]
            # A Future holds any BaseException; `create` raises the ordinary ones (API errors).
            failures = [exc for f in futures if isinstance(exc := f.exception(), Exception)]
            successes += batch - len(failures)
            if failures:
                return successes, failures[0]
            remaining -= batch
            batch = min(2 * batch, remaining)
        return successes, None
    finally:
        if own_pool:
            pool.shutdown()


# --- the controller ---


class ReplicaSetController(Controller):
    name = "replicaset"
    workers = 5
    # What this controller keeps replicated: ReplicaSets here; the ReplicationController manager
    # (controllers/replication.py) is this class with another resource and selector.
    rtype = REPLICASETS

    @staticmethod
    def label_selector(rs: Obj) -> Obj | None:
        """The object's selector as a LabelSelector (`matchLabels`/`matchExpressions`)."""
        selector: Obj | None = rs.get("spec", {}).get("selector")
        return selector

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.expectations = Expectations()
        # Long-lived, so its threads keep their kept-alive API connections between syncs.
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="replicaset-io")
        rs_informer, pod_informer = informers.informer(self.rtype), informers.informer(PODS)
        self.replicasets, self.pods = rs_informer.store, pod_informer.store
        self.pods.add_indexer(OWNER_INDEX, controller_uid_index())
        rs_informer.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self._on_rs_delete)
        pod_informer.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)

    # Handlers: work out which ReplicaSet cares, count expectations down, enqueue.

    def _on_rs_delete(self, rs: Obj) -> None:
        self.expectations.forget(key_of(rs))
        self.enqueue(rs)

    def _owner(self, pod: Obj, ref: OwnerReference | None = None) -> Obj | None:
        return owner_of(pod, self.rtype.kind, self.replicasets, ref)

    def _matching(self, pod: Obj) -> list[Obj]:
        return selecting(self.replicasets.list(meta.namespace_of(pod)), pod.get("metadata", {}).get("labels"),
                         self.label_selector)

    def _on_pod_add(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._on_pod_delete(pod)  # seen for the first time while terminating (e.g. after a relist)
            return
        if controller_of(pod):
            if (rs := self._owner(pod)) is not None:
                self.expectations.creation_observed(key_of(rs))
                self.enqueue(rs)
            return
        for rs in self._matching(pod):
            self.enqueue(rs)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return  # a periodic resync: nothing changed
        labels_changed = old["metadata"].get("labels") != new["metadata"].get("labels")
        if new["metadata"].get("deletionTimestamp"):
            # Graceful deletion: the pod is as good as gone, so count the delete now rather than in 30 s.
            self._on_pod_delete(new)
            if labels_changed:
                self._on_pod_delete(old)
            return
        old_ref, new_ref = controller_of(old), controller_of(new)
        if old_ref != new_ref and old_ref and (rs := self._owner(old, old_ref)) is not None:
            self.enqueue(rs)
        if new_ref:
            if (rs := self._owner(new, new_ref)) is not None:
                self.enqueue(rs)
                min_ready = rs.get("spec", {}).get("minReadySeconds") or 0
                if min_ready and not is_pod_ready(old) and is_pod_ready(new):
                    self.enqueue_after(rs, min_ready + 1)  # it becomes available then
            return
        if labels_changed or old_ref != new_ref:
            for rs in self._matching(new):
                self.enqueue(rs)

    def _on_pod_delete(self, pod: Obj) -> None:
        if (rs := self._owner(pod)) is not None:
            self.expectations.deletion_observed(key_of(rs), key_of(pod))
            self.enqueue(rs)

    # Sync

    def sync(self, key: str) -> None:
        rs = self.replicasets.get(key)
        if rs is None:
            self.expectations.forget(key)
            return
        needs_sync = self.expectations.satisfied(key)
        try:
            selector = selector_from_label_selector(self.label_selector(rs))
        except ValueError as exc:
            log.warning("%s %s has an invalid selector: %s", self.rtype.singular, key, exc)
            return
        namespace, _ = split_key(key)
        pods = [p for p in self.pods.list(namespace) if is_pod_active(p)]
        pods = self._claim(rs, selector, pods)
        manage_error: Exception | None = None
        if needs_sync and not rs["metadata"].get("deletionTimestamp"):
            try:
                self._manage(rs, pods)
            except errors.ApiError as exc:
                manage_error = exc
        rs = self._write_status(rs, calculate_status(rs, pods, manage_error))
        spec, status = rs.get("spec", {}), rs.get("status", {})
        min_ready = spec.get("minReadySeconds") or 0
        if (manage_error is None and min_ready and status.get("readyReplicas") == spec.get("replicas")
                and status.get("availableReplicas") != spec.get("replicas")):
            self.enqueue_after(rs, min_ready)
        if manage_error is not None:
            raise manage_error

    def _claim(self, rs: Obj, selector: LabelSelector, pods: list[Obj]) -> list[Obj]:
        """Pods this ReplicaSet owns after adopting matching orphans and releasing owned pods that stopped
        matching (upstream's PodControllerRefManager)."""
        uid = rs["metadata"]["uid"]

        def can_adopt() -> None:  # adopt only if this very ReplicaSet (not a deleted namesake) still exists
            fresh = self.client.get(self.rtype, rs["metadata"]["name"], rs["metadata"]["namespace"])
            if fresh["metadata"].get("uid") != uid or fresh["metadata"].get("deletionTimestamp"):
                raise errors.ApiError(409, "Conflict", f"original ReplicaSet {key_of(rs)} is gone or deleting")

        return claim(rs, selector, pods, can_adopt=can_adopt,
                     adopt=lambda pod: pod if self._patch_owner(pod, owner_reference(self._typed(rs))) else None,
                     release=lambda pod: self._patch_owner(pod, {"$patch": "delete", "uid": uid}))

    def _patch_owner(self, pod: Obj, ref: Mapping[str, object]) -> bool:
        """Add `ref` to the pod's owner references, or (a `$patch: delete` directive) remove the one of its uid."""
        patch = {"metadata": {"ownerReferences": [ref], "uid": pod["metadata"]["uid"]}}
        try:
            self.client.patch(PODS, pod["metadata"]["name"], patch, pod["metadata"]["namespace"],
                              patch_type=STRATEGIC_PATCH)
        except errors.NotFound:
            return False
        return True

    def _typed(self, rs: Obj) -> Obj:
        return {**rs, "apiVersion": self.rtype.api_version, "kind": self.rtype.kind}

    def _manage(self, rs: Obj, pods: list[Obj]) -> None:
        key = key_of(rs)
        desired = rs.get("spec", {}).get("replicas", 1)
        diff = len(pods) - desired
        counts = f"(desired {desired}, observed {len(pods)})"  # for the events' notes
        if diff < 0:
            count = min(-diff, BURST_REPLICAS)
            self.expectations.expect(key, creations=count)
            template = pod_from_template(self._typed(rs))
            successes, error = slow_start_batch(count, 1, lambda: self._create_pod(rs, template, counts), self.pool)
            for _ in range(count - successes):
                self.expectations.creation_observed(key)  # skipped or failed: never coming
            if error is not None:
                raise error
        elif diff > 0:
            count = min(diff, BURST_REPLICAS)
            doomed = rank_for_deletion(pods, self._related_pods(rs))[:count]
            self.expectations.expect(key, deletions=[key_of(p) for p in doomed])
            results = list(self.pool.map(lambda p: self._delete_pod(rs, p, counts), doomed))
            failures = [exc for exc in results if exc is not None]
            if failures:
                raise failures[0]

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of every ReplicaSet with the same controller (a Deployment's old and new ReplicaSets)."""
        owner = controller_of(rs)
        siblings = [s for s in self.replicasets.list(meta.namespace_of(rs))
                    if owner and (controller_of(s) or {}).get("uid") == owner.get("uid")] or [rs]
        return [p for s in siblings for p in self.pods.by_index(OWNER_INDEX, s["metadata"]["uid"])]

    def _create_pod(self, rs: Obj, template: Obj, counts: str = "") -> None:
        try:
            pod = self.client.create(PODS, meta.deep_copy(template), rs["metadata"]["namespace"])
        except errors.ApiError as exc:
            if "NamespaceTerminating" not in str(exc.body):
                self.recorder.event(self._typed(rs), "Warning", "FailedCreate", f"Error creating: {exc.message}",
                                    action="Create")
            raise
        self.recorder.event(self._typed(rs), "Normal", "SuccessfulCreate",
                            f"Created pod: {pod['metadata']['name']} {counts}".strip(), action="Create",
                            related={**pod, "kind": "Pod", "apiVersion": "v1"})

    def _delete_pod(self, rs: Obj, pod: Obj, counts: str = "") -> Exception | None:
        name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        try:
            self.client.delete(PODS, name, namespace, preconditions={"uid": pod["metadata"]["uid"]})
        except (errors.NotFound, errors.Conflict):
            self.expectations.deletion_observed(key_of(rs), key_of(pod))  # already gone (or replaced)
            return None
        except errors.ApiError as exc:
            self.expectations.deletion_observed(key_of(rs), key_of(pod))
            self.recorder.event(self._typed(rs), "Warning", "FailedDelete", f"Error deleting: {exc.message}",
                                action="Delete", related={**pod, "kind": "Pod", "apiVersion": "v1"})
            return exc
        self.recorder.event(self._typed(rs), "Normal", "SuccessfulDelete", f"Deleted pod: {name} {counts}".strip(),
                            action="Delete", related={**pod, "kind": "Pod", "apiVersion": "v1"})
        return None

    def _write_status(self, rs: Obj, status: Obj) -> Obj:
        status["observedGeneration"] = rs["metadata"].get("generation", 0)
        if status == rs.get("status"):
            return rs
        try:
            return self.client.replace_status(self.rtype, {**rs, "status": status})
        except errors.Conflict:
            # The spec moved on (a scale): the update event requeues this key with fresh data.
            return rs
