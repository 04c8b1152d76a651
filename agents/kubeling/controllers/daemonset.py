"""DaemonSet: one pod on every node the pod template fits (node selector, required node affinity, taints).

As upstream's `pkg/controller/daemon`: for each node work out whether a daemon pod should run there and whether
an existing one may keep running; create or delete so that exactly one live pod runs on every eligible node; then
roll template changes out node by node within `maxUnavailable`, and write status last.

Differences from upstream, on purpose:
- Upstream (since 1.12) leaves binding to the default scheduler, steering it with a required node affinity
  `metadata.name In [node]`. We set that affinity too, and also `spec.nodeName`, so daemon pods run even where no
  scheduler does (a cluster being bootstrapped, or a test); the scheduler skips pods that already have a node.
- ControllerRevisions don't exist in our API: the revision is a hash of the pod template, kept only in each
  pod's `controller-revision-hash` label. There is no rollback history.
- `maxSurge` is treated as 0 (replace by deleting first), and orphaned pods are not adopted.
"""

from __future__ import annotations

import copy
import datetime
import logging

from kubeling.api.podutil import is_pod_available, is_pod_ready, template_hash
from kubeling.api.resources import must_lookup
from kubeling.api.scheduling import required_node_affinity_matches, untolerated_taint
from kubeling.api.selectors import selector_from_label_selector
from kubeling.api.types import Obj
from kubeling.client import errors, keys
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory, controller_uid_index, owner_reference, scaled_value
from kubeling.controllers.expectations import Expectations

log = logging.getLogger(__name__)

DAEMONSETS = must_lookup("apps", "daemonsets")
PODS = must_lookup("", "pods")
NODES = must_lookup("", "nodes")

REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
OWNER_INDEX = "daemonset-uid"

# Upstream's AddOrUpdateDaemonPodTolerations: a daemon pod rides out node conditions that evict or repel others.
DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]
HOST_NETWORK_TOLERATION = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                           "effect": "NoSchedule"}


# --- pure helpers (taints and node affinity: kubeling.api.scheduling) ---


def daemon_pod_spec(ds: Obj) -> Obj:
    """The template's pod spec with the tolerations every daemon pod gets."""
    spec = copy.deepcopy(ds["spec"]["template"].get("spec") or {})
    tolerations = spec.setdefault("tolerations", [])
    extra = DAEMON_TOLERATIONS + ([HOST_NETWORK_TOLERATION] if spec.get("hostNetwork") else [])
    for toleration in extra:
        if not any(t.get("key") == toleration["key"] and t.get("effect") == toleration["effect"]
                   for t in tolerations):
            tolerations.append(dict(toleration))
    return spec


def node_should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """(should a daemon pod be created here, may an existing one keep running): upstream's NodeShouldRunDaemonPod.

    A NoSchedule taint only keeps new pods away; an untolerated NoExecute taint also evicts the running one.
    """
    spec = daemon_pod_spec(ds)
    name = node["metadata"]["name"]
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    if not required_node_affinity_matches(spec, node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    if untolerated_taint(taints, spec["tolerations"], ("NoSchedule", "NoExecute")) is not None:
        return False, untolerated_taint(taints, spec["tolerations"], ("NoExecute",)) is None
    return True, True


def target_node(pod: Obj) -> str:
    """The node a daemon pod is for: spec.nodeName, or the node named in its `metadata.name` affinity."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and \
                    len(field.get("values") or []) == 1:
                return field["values"][0]
    return ""


def new_daemon_pod(ds: Obj, node_name: str, revision: str) -> Obj:
    template = ds["spec"]["template"]
    template_meta = template.get("metadata") or {}
    labels = {**(template_meta.get("labels") or {}), REVISION_LABEL: revision,
              GENERATION_LABEL: str(ds["metadata"].get("generation", 1))}
    spec = daemon_pod_spec(ds)
    # Upstream's ReplaceDaemonSetPodNodeNameNodeAffinity: the node was already checked against the template's own
    # affinity, so the required terms are replaced by the one node.
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    spec["nodeName"] = node_name
    owner = owner_reference({**ds, "apiVersion": "apps/v1", "kind": "DaemonSet"})  # list items may lack them
    metadata: Obj = {"generateName": f"{ds['metadata']['name']}-", "namespace": ds["metadata"]["namespace"],
                     "labels": labels, "ownerReferences": [owner]}
    if template_meta.get("annotations"):
        metadata["annotations"] = dict(template_meta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def oldest_first(pods: list[Obj]) -> list[Obj]:
    return sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))


def calculate_status(ds: Obj, nodes: list[Obj], node_pods: dict[str, list[Obj]], revision: str,
                     now: datetime.datetime) -> Obj:
    """Upstream's updateDaemonSetStatus counts, over every node."""
    min_ready = ds["spec"].get("minReadySeconds") or 0
    desired = current = misscheduled = ready = available = updated = 0
    for node in nodes:
        should_run, _ = node_should_run(ds, node)
        pods = oldest_first(node_pods.get(node["metadata"]["name"], []))
        if should_run:
            desired += 1
            if pods:
                current += 1
                if is_pod_ready(pods[0]):
                    ready += 1
                    if is_pod_available(pods[0], min_ready, now) and not pods[0]["metadata"].get(
                            "deletionTimestamp"):
                        available += 1
                if pods[0]["metadata"].get("labels", {}).get(REVISION_LABEL) == revision:
                    updated += 1
        elif pods:
            misscheduled += 1
    status: Obj = {"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
                   "desiredNumberScheduled": desired, "numberReady": ready,
                   "observedGeneration": ds["metadata"].get("generation", 0)}
    # omitempty fields, as upstream serialises them
    for name, value in (("updatedNumberScheduled", updated), ("numberAvailable", available),
                        ("numberUnavailable", desired - available)):
        if value:
            status[name] = value
    if ds.get("status", {}).get("collisionCount") is not None:
        status["collisionCount"] = ds["status"]["collisionCount"]
    if ds.get("status", {}).get("conditions"):
        status["conditions"] = ds["status"]["conditions"]
    return status


def pods_to_replace(ds: Obj, node_pods: dict[str, list[Obj]], revision: str, desired: int,
                    now: datetime.datetime) -> list[Obj]:
    """Old-revision pods to delete now, keeping at most `maxUnavailable` nodes without an available pod.

    Upstream's rollingUpdate without surge: an unavailable old pod may always go (it serves nothing); an available
    one only while the budget lasts. The manage step then creates the new pod once the old one is gone.
    """
    rolling = (ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
    max_unavailable = scaled_value(rolling.get("maxUnavailable", 1), desired, round_up=True)
    if max_unavailable == 0 and desired:
        max_unavailable = 1  # validation forbids 0 with maxSurge 0; be safe against stuck rollouts
    min_ready = ds["spec"].get("minReadySeconds") or 0
    unavailable = 0
    replace_now: list[Obj] = []
    candidates: list[Obj] = []
    for node_name in sorted(node_pods):
        pods = [p for p in node_pods[node_name] if not p["metadata"].get("deletionTimestamp")]
        if len(pods) != 1:
            unavailable += 1  # none (being replaced) or several (the manage step cleans up)
            continue
        pod = pods[0]
        is_new = pod["metadata"].get("labels", {}).get(REVISION_LABEL) == revision
        if is_new:
            if not is_pod_available(pod, min_ready, now):
                unavailable += 1
        elif not is_pod_available(pod, min_ready, now):
            replace_now.append(pod)
        else:
            candidates.append(pod)
    budget = max(0, max_unavailable - unavailable)
    return replace_now + candidates[:budget]


# --- the controller ---


class DaemonSetController(Controller):
    name = "daemonset"
    workers = 2
    burst = 250  # most pods created or deleted in one sync, as upstream's BurstReplicas

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.expectations = Expectations()
        self.clock = lambda: datetime.datetime.now(datetime.UTC)
        ds_informer = informers.informer(DAEMONSETS)
        pod_informer = informers.informer(PODS)
        node_informer = informers.informer(NODES)
        self.daemonsets, self.pods, self.nodes = ds_informer.store, pod_informer.store, node_informer.store
        self.pods.add_indexer(OWNER_INDEX, controller_uid_index("DaemonSet"))
        ds_informer.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self._ds_deleted)
        self.track_owned_pods(pod_informer, "DaemonSet", self.daemonsets, self.expectations)
        node_informer.add_handler(self._node_changed, self._node_updated, self._node_changed)

    # Event handlers: work out which DaemonSets care and queue them.

    def _ds_deleted(self, ds: Obj) -> None:
        self.expectations.forget(keys.key_of(ds))

    def _node_changed(self, node: Obj) -> None:
        for ds in self.daemonsets.list():
            self.enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        # Heartbeats change node status all the time; only labels, taints and the spec decide placement.
        if (old["metadata"].get("labels"), old.get("spec")) != (new["metadata"].get("labels"), new.get("spec")):
            self._node_changed(new)

    # The sync

    def sync(self, key: str) -> None:
        ds = self.daemonsets.get(key)
        if ds is None:
            self.expectations.forget(key)
            return
        if ds["metadata"].get("deletionTimestamp"):
            return
        try:
            selector = selector_from_label_selector(ds["spec"].get("selector"))
        except ValueError as exc:
            self.recorder.event(ds, "Warning", "InvalidSelector", f"invalid selector: {exc}")
            return
        if selector.empty:
            self.recorder.event(ds, "Warning", "SelectingAll",
                                "This daemon set is selecting all pods. A non-empty selector is required.")
            return
        revision = template_hash(ds["spec"]["template"])
        nodes = self.nodes.list()
        node_pods = self._node_pods(ds)
        now = self.clock()
        if self.expectations.satisfied(key):
            changed = self._manage(ds, key, nodes, node_pods)
            strategy = (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
            if not changed and strategy == "RollingUpdate":
                desired = sum(1 for node in nodes if node_should_run(ds, node)[0])
                old = pods_to_replace(ds, node_pods, revision, desired, now)
                self._delete_pods(ds, key, old)
        status = calculate_status(ds, nodes, self._node_pods(ds), revision, now)
        self._write_status(ds, status)
        min_ready = ds["spec"].get("minReadySeconds") or 0
        if min_ready and status["numberReady"] > status.get("numberAvailable", 0):
            self.queue.add_after(key, float(min_ready))  # ready pods turn available with no event to wake us

    def _node_pods(self, ds: Obj) -> dict[str, list[Obj]]:
        node_pods: dict[str, list[Obj]] = {}
        for pod in self.pods.by_index(OWNER_INDEX, ds["metadata"]["uid"]):
            node_pods.setdefault(target_node(pod), []).append(pod)
        return node_pods

    def _manage(self, ds: Obj, key: str, nodes: list[Obj], node_pods: dict[str, list[Obj]]) -> bool:
        """Create missing daemon pods and delete surplus, failed and misplaced ones; True if anything changed."""
        to_create: list[str] = []
        to_delete: list[Obj] = []
        node_names = set()
        for node in nodes:
            name = node["metadata"]["name"]
            node_names.add(name)
            should_run, should_continue = node_should_run(ds, node)
            pods = node_pods.get(name, [])
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            if should_run and not pods:
                to_create.append(name)
            elif should_continue:
                running = []
                for pod in live:
                    phase = (pod.get("status") or {}).get("phase")
                    if phase == "Failed":
                        self.recorder.event(ds, "Warning", "FailedDaemonPod", f"Found failed daemon pod "
                                            f"{keys.key_of(pod)} on node {name}, will try to kill it")
                        to_delete.append(pod)
                    elif phase == "Succeeded":
                        to_delete.append(pod)
                    else:
                        running.append(pod)
                to_delete += oldest_first(running)[1:]  # more than one: keep the oldest
            else:
                to_delete += live
        # Pods on nodes that no longer exist (or with no node at all) have nowhere to run.
        for name, pods in node_pods.items():
            if name not in node_names:
                to_delete += [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        to_create, to_delete = to_create[: self.burst], to_delete[: self.burst]
        if not to_create and not to_delete:
            return False
        self.expectations.expect(key, len(to_create), [p["metadata"]["uid"] for p in to_delete])
        revision = template_hash(ds["spec"]["template"])
        failure: errors.ApiError | None = None
        for index, node_name in enumerate(to_create):
            try:
                created = self.client.create(PODS, new_daemon_pod(ds, node_name, revision))
            except errors.ApiError as exc:
                # As upstream's slow start: stop at the first failure; the creations never attempted (and this
                # one) will never be observed.
                for _ in range(len(to_create) - index):
                    self.expectations.creation_observed(key)
                self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {exc}")
                failure = exc
                break
            self.recorder.event(ds, "Normal", "SuccessfulCreate",
                                f"Created pod: {created['metadata']['name']} (on node {node_name})",
                                related={**created, "kind": "Pod", "apiVersion": "v1"})
        self._delete_pods(ds, key, to_delete, expect=False)
        if failure is not None:
            raise failure
        return True

    def _delete_pods(self, ds: Obj, key: str, pods: list[Obj], expect: bool = True) -> None:
        if not pods:
            return
        if expect:
            self.expectations.expect(key, 0, [p["metadata"]["uid"] for p in pods])
        for pod in pods:
            try:
                self.client.delete(PODS, pod["metadata"]["name"], pod["metadata"]["namespace"],
                                   preconditions={"uid": pod["metadata"]["uid"]})
            except errors.NotFound:
                self.expectations.deletion_observed(key, pod["metadata"]["uid"])
            except errors.ApiError as exc:
                self.expectations.deletion_observed(key, pod["metadata"]["uid"])
                self.recorder.event(ds, "Warning", "FailedDelete", f"Error deleting: {exc}",
                                    related={**pod, "kind": "Pod", "apiVersion": "v1"})
                raise
            else:
                self.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                                    related={**pod, "kind": "Pod", "apiVersion": "v1"})

    def _write_status(self, ds: Obj, status: Obj) -> None:
        if ds.get("status") == status:
            return
        updated = {**ds, "status": status}
        try:
            self.client.replace_status(DAEMONSETS, updated)
        except (errors.NotFound, errors.Conflict):
            return  # deleted, or our cache is behind: the event that made it stale queues us again
