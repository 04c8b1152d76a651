"""Pod garbage collection: force-delete the pods nobody else will ever finish
(upstream's pkg/controller/podgc/gc_controller.go).

A pod is normally removed by its kubelet: the API server marks it (deletionTimestamp) and the kubelet, once the
containers are stopped, deletes it for good. Some pods have no kubelet left to do that, and would stay for ever
(a namespace holding them would never finish deleting). Every `gc_check_period` this controller looks at all pods
and force-deletes (grace period 0), after marking them `Failed` when they had not finished:

- terminated pods (Succeeded or Failed) beyond `--terminated-pod-gc-threshold`, oldest first;
- terminating pods on a node tainted `node.kubernetes.io/out-of-service` that is not Ready: the
  administrator says the machine is gone, so its pods may run elsewhere (StatefulSet pods included);
- orphans: pods bound to a node that no longer exists. A missing node is first kept in quarantine for
  `quarantine_time` (the node cache may lag behind, or the node may be re-registering), then asked of the API
  server itself; only if it is still absent are its pods deleted, with the `DisruptionTarget` condition saying why;
- terminating pods that were never scheduled (no kubelet will ever see them).

Queue keys: `gc` (one pass over every pod) and `node:<name>` (a node in quarantine whose time is up).
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import Counter

from kubeling.api import meta
from kubeling.api.conditions import get_condition, set_condition
from kubeling.api.resources import must_lookup
from kubeling.api.types import Condition, Obj
from kubeling.client import errors
from kubeling.client.api import STRATEGIC_PATCH, Client
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory
from kubeling.controllers.options import PodGCOptions

log = logging.getLogger(__name__)

PODS = must_lookup("", "pods")
NODES = must_lookup("", "nodes")
GC_KEY = "gc"
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
FINISHED = ("Succeeded", "Failed")

# Upstream's metrics (pkg/controller/podgc/metrics): force deletions by namespace and why.
DELETED = Counter("kubeling_pod_gc_force_delete_pods_total", "Pods force-deleted by PodGC",
                  ["namespace", "reason"])
DELETE_ERRORS = Counter("kubeling_pod_gc_force_delete_pod_errors_total", "PodGC force deletions that failed",
                        ["namespace", "reason"])


# Pure logic: which pods go


def is_terminated(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in FINISHED


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp")) and not is_terminated(pod)


def node_name(pod: Obj) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


def eviction_then_age(pod: Obj) -> tuple[bool, str, str]:
    """Sort key of upstream's byEvictionAndCreationTimestamp: evicted pods first, then the oldest."""
    status = pod.get("status") or {}
    evicted = status.get("phase") == "Failed" and status.get("reason") == "Evicted"
    return (not evicted, pod["metadata"].get("creationTimestamp") or "", pod["metadata"]["name"])


def terminated_over_threshold(pods: list[Obj], threshold: int) -> list[Obj]:
    """The terminated pods to delete so that at most `threshold` remain (none when threshold <= 0: off)."""
    terminated = [p for p in pods if is_terminated(p)]
    excess = len(terminated) - threshold
    if threshold <= 0 or excess <= 0:
        return []
    return sorted(terminated, key=eviction_then_age)[:excess]


def out_of_service_nodes(nodes: list[Obj]) -> set[str]:
    """The nodes an administrator declared gone: tainted out-of-service (any effect; NoExecute is usual, it also
    evicts the pods) and not Ready."""
    found = set()
    for node in nodes:
        taints = (node.get("spec") or {}).get("taints") or []
        tainted = any(t.get("key") == OUT_OF_SERVICE for t in taints)
        ready = (get_condition(node, "Ready") or {}).get("status") == "True"
        if tainted and not ready:
            found.add(node["metadata"]["name"])
    return found


def terminating_on(pods: list[Obj], nodes: set[str]) -> list[Obj]:
    return sorted((p for p in pods if is_terminating(p) and node_name(p) in nodes), key=eviction_then_age)


def unscheduled_terminating(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if p["metadata"].get("deletionTimestamp") and not node_name(p)]


def missing_nodes(pods: list[Obj], existing: set[str]) -> set[str]:
    """Names of nodes that pods are bound to but the node cache does not hold."""
    return {node_name(p) for p in pods if node_name(p) and node_name(p) not in existing}


def orphaned_condition() -> Condition:
    """The condition upstream sets on a pod whose node is gone (type DisruptionTarget, reason DeletionByPodGC)."""
    return {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists"}


class PodGCController(Controller):
    name = "podgc"
    workers = 1  # one pass at a time, as upstream's single gc loop

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: PodGCOptions | None = None) -> None:
        super().__init__(client, informers, recorder)
        options = options or PodGCOptions()
        self.threshold = options.terminated_pod_gc_threshold
        self.period = options.gc_check_period
        self.quarantine = options.quarantine_time
        self.pods = informers.informer(PODS)
        self.nodes = informers.informer(NODES)
        self._quarantined: set[str] = set()  # nodes already waiting in the queue
        self._lock = threading.Lock()
        # Upstream only looks every period; noticing a deletion starts the node's quarantine at once.
        self.nodes.add_handler(on_delete=lambda node: self._quarantine(node["metadata"]["name"]))

    def run(self, stop: threading.Event) -> None:
        super().run(stop)
        threading.Thread(target=self._tick, args=(stop,), name="podgc-tick", daemon=True).start()

    def _tick(self, stop: threading.Event) -> None:
        self.queue.add(GC_KEY)
        while not stop.wait(self.period):
            self.queue.add(GC_KEY)

    def _quarantine(self, node: str) -> None:
        with self._lock:
            if node in self._quarantined:
                return
            self._quarantined.add(node)
        self.queue.add_after(f"node:{node}", self.quarantine)

    def sync(self, key: str) -> None:
        if key == GC_KEY:
            self._gc()
        elif key.startswith("node:"):
            self._gc_orphans_of(key.removeprefix("node:"))

    def _gc(self) -> None:
        pods = self.pods.store.list()
        nodes = self.nodes.store.list()
        for pod in terminated_over_threshold(pods, self.threshold):
            self._force_delete(pod, "TerminatedPodGC")
        for pod in terminating_on(pods, out_of_service_nodes(nodes)):
            self._force_delete(pod, "NodeOutOfService")
        for node in missing_nodes(pods, {n["metadata"]["name"] for n in nodes}):
            self._quarantine(node)
        for pod in unscheduled_terminating(pods):
            self._force_delete(pod, "TerminatingUnscheduled")

    def _gc_orphans_of(self, node: str) -> None:
        """The quarantine is over: ask the API server itself (not the cache) whether the node exists."""
        with self._lock:
            self._quarantined.discard(node)
        try:
            self.client.get(NODES, node)
            return  # it exists (again): its pods are its kubelet's business
        except errors.NotFound:
            pass
        orphans = [p for p in self.pods.store.list() if node_name(p) == node]
        if orphans:
            log.info("node %s no longer exists: force-deleting its %d pods", node, len(orphans))
        for pod in orphans:
            self._force_delete(pod, "OrphanedPod", orphaned_condition())

    def _force_delete(self, pod: Obj, reason: str, condition: Condition | None = None) -> None:
        """Upstream's markFailedAndDeletePodWithCondition: a pod that had not finished is first marked Failed
        (with `condition`), so that whoever counts finished pods (the Job controller) sees it end; then it is
        deleted with grace period 0, which removes it from the store at once."""
        namespace, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
        log.info("PodGC is force deleting pod %s/%s (%s)", namespace, name, reason)
        try:
            if not is_terminated(pod):
                status = meta.deep_copy(pod.get("status") or {})
                conditions = status.setdefault("conditions", [])
                if condition is not None:
                    set_condition(conditions, condition, meta.now())
                patch = {"metadata": {"uid": uid}, "status": {"phase": "Failed", "conditions": conditions}}
                self.client.patch(PODS, name, patch, namespace, patch_type=STRATEGIC_PATCH, subresource="status")
            self.client.delete(PODS, name, namespace, grace_period=0, preconditions={"uid": uid})
        except (errors.NotFound, errors.Conflict):
            return  # already gone, or replaced by a namesake (the uid precondition)
        except errors.ApiError:
            DELETE_ERRORS.labels(namespace, reason).inc()
            raise
        DELETED.labels(namespace, reason).inc()
