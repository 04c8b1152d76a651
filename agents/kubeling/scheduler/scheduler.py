"""The running scheduler: informers feed the cache and the queue; one loop schedules a pod at a time; binding
runs on a pool of threads so the next pod is scheduled while the last one's binding is in flight.

The cycle for one pod: pop it, run filters and scores over a consistent cache (under the cache lock), assume
it onto the chosen node, and hand the binding to a worker (which first runs the PreBind plugins: VolumeBinding
waits there until the pod's claims are bound on that node). A pod that fits nowhere gets `PodScheduled=False`
(reason Unschedulable) and a FailedScheduling event, and waits in the queue until nodes or pods change.

Unless `record_decisions` is off, the decision itself (each filter's verdict on each node, each score, the node
chosen: record.py) is written on the pod as annotations, carried by the binding or the unschedulable status write.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from kubeling.api import decisionrecord, meta
from kubeling.api.conditions import set_condition
from kubeling.api.resources import must_lookup
from kubeling.api.types import Condition, Obj
from kubeling.client import errors, keys
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.client.informer import Informer, wait_for_cache_sync
from kubeling.component import when_stopped
from kubeling.scheduler import record
from kubeling.scheduler.cache import Cache, counts_on_node
from kubeling.scheduler.framework import PodInfo, ready_status
from kubeling.scheduler.generic import Framework, Result, schedule
from kubeling.scheduler.queue import SchedulingQueue
from kubeling.scheduler.volumecache import VolumeCache

log = logging.getLogger(__name__)

PODS = must_lookup("", "pods")
NODES = must_lookup("", "nodes")
PROFILE = "default-scheduler"
# Pods naming either scheduler are ours; anything else belongs to another scheduler.
SCHEDULER_NAMES = frozenset({"default-scheduler", "kubeling"})

_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60)
ATTEMPTS = Counter("scheduler_schedule_attempts_total", "Scheduling attempts by result", ["result", "profile"])
ATTEMPT_SECONDS = Histogram("scheduler_scheduling_attempt_duration_seconds",
                            "Filtering and scoring time of one attempt", ["result", "profile"], buckets=_BUCKETS)
E2E_SECONDS = Histogram("scheduler_e2e_scheduling_duration_seconds",
                        "From the pod's first queueing to its successful binding", ["profile"], buckets=_BUCKETS)
PENDING = Gauge("scheduler_pending_pods", "Pending pods by queue", ["queue"])


def responsible_for(pod: Obj) -> bool:
    """A pod this scheduler should place: unbound, ours, not being deleted, not finished."""
    spec = pod.get("spec") or {}
    return (not spec.get("nodeName") and spec.get("schedulerName", "default-scheduler") in SCHEDULER_NAMES
            and not pod.get("metadata", {}).get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))


def _schedulable_view(pod: Obj) -> tuple[Any, ...]:
    """What of a pending pod can change whether it fits; our own status writes do not touch it."""
    metadata = pod.get("metadata") or {}
    annotations = {key: value for key, value in (metadata.get("annotations") or {}).items()
                   if not decisionrecord.is_record_key(key)}
    return pod.get("spec"), metadata.get("labels"), annotations


def _node_view(node: Obj) -> tuple[Any, ...]:
    """What of a node can change whether pods fit; kubelet heartbeats alone do not touch it."""
    status = node.get("status") or {}
    return (node.get("metadata", {}).get("labels"), node.get("spec"), status.get("allocatable"),
            ready_status(node))


class Scheduler:
    def __init__(self, client: Client, recorder: EventRecorder, *, framework: Framework | None = None,
                 percentage_of_nodes_to_score: int = 0, bind_workers: int = 16,
                 assumed_pod_ttl: float = 30.0, record_decisions: bool = True,
                 record_max_nodes: int = record.MAX_NODES) -> None:
        self.client, self.recorder = client, recorder
        self.record_decisions, self.record_max_nodes = record_decisions, record_max_nodes
        self.percentage = percentage_of_nodes_to_score
        self.cache = Cache(assumed_pod_ttl)
        self.queue = SchedulingQueue()
        # Claims, volumes and classes for VolumeBinding; any change may let a waiting pod fit.
        self.volumes = VolumeCache(client, self.queue.move_all)
        self.framework = framework or Framework(volumes=self.volumes)
        self.pods = Informer(client, PODS)
        self.nodes = Informer(client, NODES)
        self.pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)
        self.nodes.add_handler(self._on_node_add, self._on_node_update, self._on_node_delete)
        self.binder = ThreadPoolExecutor(bind_workers, thread_name_prefix="bind")
        self._next_start = 0
        self.ready = threading.Event()

    # Event handlers: keep the cache current and tell the queue what changed

    def _on_pod_add(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            self.cache.add_pod(pod)
            self.queue.delete(keys.key_of(pod))
        elif responsible_for(pod):
            self.queue.add(keys.key_of(pod), int(pod["spec"].get("priority") or 0))

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        key = keys.key_of(new)
        if (new.get("spec") or {}).get("nodeName"):
            self.cache.update_pod(new)
            self.queue.delete(key)
            if counts_on_node(old) and not counts_on_node(new):  # finished: its room is free again
                self.queue.move_all()
        elif not responsible_for(new):
            self.queue.delete(key)
        elif not responsible_for(old) or _schedulable_view(old) != _schedulable_view(new):
            self.queue.add(key, int(new["spec"].get("priority") or 0))

    def _on_pod_delete(self, pod: Obj) -> None:
        self.cache.remove_pod(pod)
        self.queue.delete(keys.key_of(pod))
        if counts_on_node(pod):
            self.queue.move_all()

    def _on_node_add(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.queue.move_all()

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        self.cache.set_node(new)
        if _node_view(old) != _node_view(new):
            self.queue.move_all()

    def _on_node_delete(self, node: Obj) -> None:
        self.cache.remove_node(node["metadata"]["name"])

    # Running

    def run(self, stop: threading.Event) -> None:
        """Start informers, wait for their caches, then schedule until `stop` is set (returns at once)."""
        informers = (self.pods, self.nodes, *self.volumes.informers())
        for informer in informers:
            informer.start()
        if not wait_for_cache_sync(*informers, timeout=120):
            raise SystemExit("scheduler: informer caches did not sync")
        threading.Thread(target=self._loop, args=(stop,), name="schedule", daemon=True).start()
        threading.Thread(target=self._housekeeping, args=(stop,), name="cache-cleanup", daemon=True).start()
        when_stopped(stop, self.queue.close)
        self.ready.set()
        log.info("scheduler started: %d nodes, %d pods cached", len(self.nodes.store), len(self.pods.store))

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.schedule_one(timeout=0.5)
            except Exception:  # the loop must survive anything; the pod was already requeued
                log.exception("scheduling cycle failed")

    def _housekeeping(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            for uid in self.cache.cleanup_expired():
                log.warning("assumed pod %s never showed up bound; its room is released", uid)
            for name, count in self.queue.lengths().items():
                PENDING.labels(name).set(count)

    def schedule_one(self, timeout: float | None = None) -> bool:
        """One scheduling cycle; False when there was nothing to do within `timeout`."""
        key = self.queue.pop(timeout)
        if key is None:
            return False
        pod = self.pods.store.get(key)
        if pod is None or not responsible_for(pod) or self.cache.contains(pod["metadata"].get("uid", "")):
            self.queue.done(key)  # gone, bound meanwhile, or assumed and its binding in flight
            return True
        queued_at = self.queue.first_seen(key) or time.monotonic()
        started = time.monotonic()
        try:
            info = PodInfo(pod)
            with self.cache.lock:
                nodes = self.cache.nodes()
                start = self._next_start % len(nodes) if nodes else 0
                result = schedule(self.framework, info, nodes, start, self.percentage, self.record_decisions)
                self._next_start = start + result.evaluated
                if result.node:
                    self.cache.assume(info, result.node)
        except Exception:
            ATTEMPTS.labels("error", PROFILE).inc()
            self.queue.add_backoff(key)
            raise
        elapsed = time.monotonic() - started
        if result.node:
            ATTEMPT_SECONDS.labels("scheduled", PROFILE).observe(elapsed)
            self.queue.done(key)
            self.binder.submit(self._bind, pod, info, result, queued_at)
        else:
            ATTEMPT_SECONDS.labels("unschedulable", PROFILE).observe(elapsed)
            ATTEMPTS.labels("unschedulable", PROFILE).inc()
            self.queue.add_unschedulable(key)
            log.info("pod %s is unschedulable: %s", key, result.message)
            self.binder.submit(self._record_failure, pod, result)
        return True

    # Binding and reporting (on the binder threads)

    def _bind(self, pod: Obj, info: PodInfo, result: Result, queued_at: float) -> None:
        node = result.node or ""
        prepared = self.framework.pre_bind(info, node)  # e.g. VolumeBinding: claims bound on `node` first
        if not prepared.ok:
            message = f'running PreBind plugin "{prepared.plugin}": {"; ".join(prepared.reasons)}'
            log.warning("binding %s to %s failed: %s; retrying with backoff", info.key, node, message)
            ATTEMPTS.labels("error", PROFILE).inc()
            self.cache.forget(info.uid)
            self.queue.add_backoff(info.key)
            self.queue.move_all()
            self.recorder.event(pod, "Warning", "FailedScheduling", message)
            return
        annotations = record.for_pod(pod, result.trace, node, self.record_max_nodes) if result.trace else None
        try:
            self.client.bind(info.namespace, info.name, node, pod["metadata"].get("uid"), annotations=annotations)
        except (errors.NotFound, errors.Conflict) as exc:
            # Deleted, or bound by someone else meanwhile: the informer will tell; nothing to retry.
            log.info("binding %s to %s dropped: %s", info.key, node, exc)
            self.cache.forget(info.uid)
            self.queue.move_all()
        except Exception as exc:
            log.warning("binding %s to %s failed: %s; retrying with backoff", info.key, node, exc)
            ATTEMPTS.labels("error", PROFILE).inc()
            self.cache.forget(info.uid)
            self.queue.add_backoff(info.key)
            self.queue.move_all()
            self.recorder.event(pod, "Warning", "FailedScheduling", f"Binding rejected: {exc}")
        else:
            self.cache.finish_binding(info.uid)
            ATTEMPTS.labels("scheduled", PROFILE).inc()
            E2E_SECONDS.labels(PROFILE).observe(time.monotonic() - queued_at)
            self.recorder.event(pod, "Normal", "Scheduled", f"Successfully assigned {info.key} to {node}",
                                action="Binding", related={"kind": "Node", "apiVersion": "v1",
                                                           "metadata": {"name": node}})

    def _record_failure(self, pod: Obj, result: Result) -> None:
        message = result.message
        self.recorder.event(pod, "Warning", "FailedScheduling", message)
        for _ in range(3):
            annotations = record.for_pod(pod, result.trace, None, self.record_max_nodes) if result.trace else {}
            updated = with_unschedulable_condition(pod, message, annotations)
            if updated is None:
                return
            try:
                self.client.replace_status(PODS, updated)
                return
            except errors.NotFound:
                return
            except errors.Conflict:
                namespace, name = meta.namespace_of(pod), meta.name_of(pod)
                try:
                    pod = self.client.get(PODS, name, namespace)
                except errors.NotFound:
                    return
                if not responsible_for(pod):
                    return
            except errors.ApiError as exc:
                log.warning("could not update the status of %s: %s", keys.key_of(pod), exc)
                return


def with_unschedulable_condition(pod: Obj, message: str, annotations: dict[str, str] | None = None) -> Obj | None:
    """A copy of `pod` with PodScheduled=False (reason Unschedulable) and `annotations` added (the record of the
    decision: a pod's status write may change its annotations, as upstream's), or None if it already says so."""
    status = pod.get("status") or {}
    conditions = list(status.get("conditions") or [])
    wanted: Condition = {"type": "PodScheduled", "status": "False", "lastProbeTime": None, "reason": "Unschedulable",
                         "message": message}
    if not set_condition(conditions, wanted) and not annotations:
        return None
    updated = {**pod, "status": {**status, "phase": status.get("phase") or "Pending", "conditions": conditions}}
    if annotations:
        metadata = pod.get("metadata") or {}
        updated["metadata"] = {**metadata, "annotations": {**(metadata.get("annotations") or {}), **annotations}}
    return updated
