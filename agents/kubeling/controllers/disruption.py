"""The disruption controller: for each PodDisruptionBudget, how many of its pods are healthy, how many must stay
healthy, and so how many may be disrupted now. The eviction subresource (apiserver/eviction.py) reads that answer
and counts each eviction against it.

A worked example: a Deployment of 3 replicas and a budget `minAvailable: 2`. With 3 ready pods, `currentHealthy`
is 3, `desiredHealthy` 2, so `disruptionsAllowed` is 1: `kubectl drain` may evict one pod, then must wait (429)
until the Deployment's replacement is ready again. With `maxUnavailable: 1` the answer is the same, but
`desiredHealthy` comes from the controllers' scale (3 - 1), not from the pods that happen to exist.

Upstream: pkg/controller/disruption/disruption.go (trySync, getExpectedPodCount, countHealthyPods,
buildDisruptedPodMap, updatePdbStatus).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable

from kubeling.api import meta
from kubeling.api.podutil import is_pod_ready
from kubeling.api.resources import must_lookup
from kubeling.api.selectors import selector_from_label_selector
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.client.keys import key_of, split_key
from kubeling.controllers.base import Controller, InformerFactory, controller_of, scaled_value

log = logging.getLogger(__name__)

PODS = must_lookup("", "pods")
BUDGETS = must_lookup("policy", "poddisruptionbudgets")
REPLICASETS = must_lookup("apps", "replicasets")
DEPLOYMENTS = must_lookup("apps", "deployments")
STATEFULSETS = must_lookup("apps", "statefulsets")
# An eviction the API server counted but whose pod is not yet seen deleted stays counted this long.
DELETION_TIMEOUT = datetime.timedelta(minutes=2)


class ScaleUnknown(Exception):
    """A pod's controller (and so the expected number of pods) cannot be found."""


def pods_of(pdb: Obj, pods: list[Obj]) -> list[Obj]:
    """The pods the budget's selector picks (policy/v1: `{}` picks all of the namespace, no selector none)."""
    selector = selector_from_label_selector((pdb.get("spec") or {}).get("selector"))
    return [p for p in pods if selector.matches(p["metadata"].get("labels") or {})]


def expected_and_desired(pdb: Obj, pods: list[Obj],
                         scale_of: Callable[[Obj], tuple[str, int]]) -> tuple[int, int]:
    """(expectedPods, desiredHealthy). An integer `minAvailable` needs no controller: the pods are what is
    expected. A percentage, or `maxUnavailable`, is taken of the controllers' replicas (`scale_of(pod)` returns
    (controller uid, replicas), or raises ScaleUnknown)."""
    spec = pdb.get("spec") or {}
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if isinstance(min_available, int):
        return len(pods), min_available
    scales: dict[str, int] = {}
    for pod in pods:
        uid, replicas = scale_of(pod)
        scales[uid] = replicas
    expected = sum(scales.values())
    if max_unavailable is not None:
        return expected, max(0, expected - scaled_value(max_unavailable, expected, round_up=True))
    if min_available is not None:
        return expected, scaled_value(min_available, expected, round_up=True)
    return expected, expected  # neither set: upstream defaults minAvailable to 1 only in v1beta1


def disrupted_pods(pdb: Obj, pods: list[Obj],
                   now: datetime.datetime) -> tuple[dict[str, str], datetime.datetime | None]:
    """The evictions still in flight (pod present, not yet being deleted, counted less than 2 minutes ago), and when
    the oldest of them expires (to look again then)."""
    present = {p["metadata"]["name"]: p for p in pods}
    kept: dict[str, str] = {}
    recheck: datetime.datetime | None = None
    for name, when in ((pdb.get("status") or {}).get("disruptedPods") or {}).items():
        pod = present.get(name)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            continue
        counted = meta.parse_time(when)
        if counted is None or counted + DELETION_TIMEOUT < now:
            continue  # the eviction was counted but its delete never came: forget it
        kept[name] = when
        expires = counted + DELETION_TIMEOUT
        recheck = expires if recheck is None or expires < recheck else recheck
    return kept, recheck


def budget_status(pdb: Obj, pods: list[Obj], expected: int, desired: int, disrupted: dict[str, str]) -> Obj:
    """The status upstream's updatePdbStatus writes."""
    healthy = sum(1 for p in pods if p["metadata"]["name"] not in disrupted and
                  not p["metadata"].get("deletionTimestamp") and is_pod_ready(p))
    allowed = healthy - desired if expected > 0 else 0
    allowed = max(0, allowed)
    status: Obj = {"observedGeneration": pdb["metadata"].get("generation", 1), "disruptionsAllowed": allowed,
                   "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected}
    if disrupted:
        status["disruptedPods"] = disrupted
    reason = "SufficientPods" if allowed > 0 else "InsufficientPods"
    status["conditions"] = [_condition(pdb, "True" if allowed > 0 else "False", reason)]
    return status


def _condition(pdb: Obj, status: str, reason: str, message: str = "") -> Obj:
    old = next((c for c in (pdb.get("status") or {}).get("conditions") or [] if c.get("type") == "DisruptionAllowed"),
               None)
    since = old["lastTransitionTime"] if old and old.get("status") == status else meta.now()
    return {"type": "DisruptionAllowed", "status": status, "reason": reason, "message": message,
            "observedGeneration": pdb["metadata"].get("generation", 1), "lastTransitionTime": since}


def failed_status(pdb: Obj, error: str) -> Obj:
    """What a budget says when its expected pods cannot be worked out: nothing may be disrupted."""
    status = meta.deep_copy(pdb.get("status") or {})
    status.update({"observedGeneration": pdb["metadata"].get("generation", 1), "disruptionsAllowed": 0})
    status["conditions"] = [_condition(pdb, "False", "SyncFailed", error)]
    return status


class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.budgets = informers.informer(BUDGETS)
        self.pods = informers.informer(PODS)
        self.replicasets = informers.informer(REPLICASETS)
        self.deployments = informers.informer(DEPLOYMENTS)
        self.statefulsets = informers.informer(STATEFULSETS)
        self.budgets.add_handler(self.enqueue, lambda old, new: self.enqueue(new), None)
        self.pods.add_handler(self._on_pod, lambda old, new: self._on_pod(new), self._on_pod)
        # A scale change moves `expectedPods`: look at the budgets of the controller's pods.
        for informer in (self.replicasets, self.deployments, self.statefulsets):
            informer.add_handler(None, lambda old, new: self._on_controller(new), None)

    def _on_pod(self, pod: Obj) -> None:
        namespace = pod["metadata"].get("namespace", "")
        for pdb in self.budgets.store.list(namespace):
            if pods_of(pdb, [pod]):
                self.enqueue(pdb)

    def _on_controller(self, owner: Obj) -> None:
        for pdb in self.budgets.store.list(owner["metadata"].get("namespace", "")):
            self.enqueue(pdb)

    def scale_of(self, pod: Obj) -> tuple[str, int]:
        """(uid, replicas) of the controller that decides how many pods like this one should exist
        (upstream's finders: a ReplicaSet's Deployment, else the ReplicaSet; a StatefulSet)."""
        ref = controller_of(pod)
        namespace = pod["metadata"]["namespace"]
        if ref is None:
            raise ScaleUnknown(f'found no controller ref for pod "{pod["metadata"]["name"]}"')
        if ref.get("kind") == "ReplicaSet":
            rs = self.replicasets.store.get(f"{namespace}/{ref['name']}")
            if rs is not None:
                parent = controller_of(rs)
                if parent is not None and parent.get("kind") == "Deployment":
                    deployment = self.deployments.store.get(f"{namespace}/{parent['name']}")
                    if deployment is not None:
                        return deployment["metadata"]["uid"], deployment["spec"].get("replicas", 1)
                return rs["metadata"]["uid"], rs["spec"].get("replicas", 1)
        if ref.get("kind") == "StatefulSet":
            sts = self.statefulsets.store.get(f"{namespace}/{ref['name']}")
            if sts is not None:
                return sts["metadata"]["uid"], sts["spec"].get("replicas", 1)
        raise ScaleUnknown(f'found no controllers for pod "{pod["metadata"]["name"]}"')

    def sync(self, key: str) -> None:
        pdb = self.budgets.store.get(key)
        if pdb is None:
            return
        namespace, _ = split_key(key)
        pods = pods_of(pdb, self.pods.store.list(namespace))
        now = datetime.datetime.now(datetime.UTC)
        try:
            expected, desired = expected_and_desired(pdb, pods, self.scale_of)
        except ScaleUnknown as exc:
            self.recorder.event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                                f"Failed to calculate the number of expected pods: {exc}")
            self._write(pdb, failed_status(pdb, str(exc)))
            return
        disrupted, recheck = disrupted_pods(pdb, pods, now)
        if recheck is not None:
            self.enqueue_after(pdb, max(1.0, (recheck - now).total_seconds()))
        if not pods:
            self.recorder.event(pdb, "Normal", "NoPods", "No matching pods found")
        self._write(pdb, budget_status(pdb, pods, expected, desired, disrupted))

    def _write(self, pdb: Obj, status: Obj) -> None:
        old = pdb.get("status") or {}
        if {k: v for k, v in old.items() if k != "conditions"} == {k: v for k, v in status.items() if
                                                                   k != "conditions"} and \
                [(c["status"], c["reason"]) for c in old.get("conditions") or []] == \
                [(c["status"], c["reason"]) for c in status["conditions"]]:
            return  # nothing changed: no write
        try:
            self.client.replace_status(BUDGETS, {**pdb, "status": status})
        except errors.Conflict:
            self.queue.add(key_of(pdb))  # an eviction wrote it first: compute again from the new object
        except errors.NotFound:
            pass
