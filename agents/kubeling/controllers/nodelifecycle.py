"""Node lifecycle: notice dead kubelets, taint their nodes, and evict pods that do not tolerate the taints.

Health: a kubelet proves it is alive by renewing its Lease in `kube-node-lease` (or, before it has one, by the
Ready condition's heartbeat). We never compare those timestamps with our clock: we note on OUR clock when we
last saw the value change, so clock skew between hosts cannot make a healthy node look dead. A node silent for
longer than --node-monitor-grace-period gets Ready=Unknown and the `unreachable` taints; a node whose kubelet
reports Ready=False gets the `not-ready` taints; both go when Ready is True again.

Eviction (upstream's taint manager): a pod on a node with a NoExecute taint it does not tolerate is deleted;
one that tolerates it for `tolerationSeconds` is deleted that long after the taint's `timeAdded`.

Master disruption mode (upstream's handleDisruption, one zone here): when every node is NotReady at once, the
trouble is far more likely on the control plane's side (etcd refusing writes, so no kubelet could renew its Lease;
a partitioned master) than on every node, and evicting everything would only make it worse. The NoExecute taints
come off and nothing is evicted until some node is Ready again; then the taints (and their clocks) come back.

Queue keys are `node:<name>` (health and taints) and `pod:<namespace>/<name>` (eviction).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from kubeling.api import meta
from kubeling.api.conditions import get_condition
from kubeling.api.resources import must_lookup
from kubeling.api.scheduling import tolerates
from kubeling.api.types import Obj
from kubeling.client import errors, keys
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory
from kubeling.controllers.options import NodeLifecycleOptions

log = logging.getLogger(__name__)

NODES = must_lookup("", "nodes")
PODS = must_lookup("", "pods")
LEASES = must_lookup("coordination.k8s.io", "leases")
LEASE_NAMESPACE = "kube-node-lease"

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MANAGED_TAINTS = {UNREACHABLE, NOT_READY, UNSCHEDULABLE}
# The conditions a kubelet owns; when it goes silent, all of them become Unknown.
KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."


# Pure logic: taints and eviction (whether a toleration matches a taint: kubeling.api.scheduling)


def eviction_time(taints: list[Obj], tolerations: list[Obj], added_at: dict[str, float]) -> float | None:
    """When (epoch seconds) a pod with `tolerations` must leave a node with these NoExecute `taints`.

    0.0 means now (some taint is not tolerated), None means never (every matching toleration is forever).
    `added_at` maps a taint key to when it was added. Each taint allows the shortest tolerationSeconds among
    the tolerations that match it; the pod goes at the earliest of those deadlines.
    """
    deadline: float | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        seconds = [t["tolerationSeconds"] for t in matching if t.get("tolerationSeconds") is not None]
        if not seconds:
            continue
        due = added_at.get(taint.get("key", ""), time.time()) + max(min(seconds), 0)
        deadline = due if deadline is None else min(deadline, due)
    return deadline


def wanted_taints(node: Obj) -> list[tuple[str, str]]:
    """The (key, effect) taints this controller wants on `node`, from its Ready condition and spec.unschedulable."""
    ready = get_condition(node, "Ready")
    status = ready.get("status") if ready else "Unknown"
    wanted = []
    if status == "Unknown":
        wanted += [(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]
    elif status == "False":
        wanted += [(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append((UNSCHEDULABLE, "NoSchedule"))
    return wanted


def fully_disrupted(nodes: list[Obj]) -> bool:
    """Every node NotReady (upstream's stateFullDisruption, in every zone): master disruption mode."""
    return bool(nodes) and all((get_condition(n, "Ready") or {}).get("status") != "True" for n in nodes)


def reconcile_taints(taints: list[Obj], wanted: list[tuple[str, str]], now: str) -> list[Obj]:
    """`taints` with our managed ones set to exactly `wanted`; others untouched, existing ones keep timeAdded."""
    kept = [t for t in taints if t.get("key") not in MANAGED_TAINTS or (t.get("key"), t.get("effect")) in wanted]
    have = {(t.get("key"), t.get("effect")) for t in kept}
    for key, effect in wanted:
        if (key, effect) not in have:
            # As upstream: NoExecute taints carry timeAdded (eviction deadlines count from it), NoSchedule ones don't.
            kept.append({"key": key, "effect": effect, **({"timeAdded": now} if effect == "NoExecute" else {})})
    return kept


def mark_unknown(node: Obj, now: str) -> list[Obj]:
    """The node's conditions after its kubelet went silent: every kubelet condition Unknown."""
    conditions = []
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") in KUBELET_CONDITIONS and condition.get("status") != "Unknown":
            condition = {**condition, "status": "Unknown", "reason": UNKNOWN_REASON, "message": UNKNOWN_MESSAGE,
                         "lastTransitionTime": now}
        conditions.append(condition)
    if not any(c.get("type") == "Ready" for c in conditions):
        conditions.append({"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                           "message": "Kubelet never posted node status.",
                           "lastHeartbeatTime": node["metadata"].get("creationTimestamp", now),
                           "lastTransitionTime": now})
    return conditions


def _epoch(stamp: str | None) -> float | None:
    moment = meta.parse_time(stamp) if stamp else None
    return moment.timestamp() if moment else None


def _node_index(pod: Obj) -> list[str]:
    node = (pod.get("spec") or {}).get("nodeName")
    return [node] if node else []


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    workers = 2

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: NodeLifecycleOptions | None = None) -> None:
        super().__init__(client, informers, recorder)
        options = options or NodeLifecycleOptions()
        self.grace = options.node_monitor_grace_period
        self.period = options.node_monitor_period
        self.nodes = informers.informer(NODES)
        self.leases = informers.informer(LEASES)
        self.pods = informers.informer(PODS)
        self.pods.store.add_indexer("nodelifecycle-node", _node_index)
        self._observed: dict[str, tuple[str, float]] = {}  # node → (last probe value, our monotonic time)
        self._was_disrupted = False
        self._lock = threading.Lock()
        self.nodes.add_handler(self._on_node_add, self._on_node_update, self._on_node_delete)
        self.pods.add_handler(self._on_pod, lambda old, new: self._on_pod(new))

    # Handlers: work out keys, nothing else

    def _on_node_add(self, node: Obj) -> None:
        self.queue.add(f"node:{node['metadata']['name']}")

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        self.queue.add(f"node:{new['metadata']['name']}")
        if self._no_execute(old) != self._no_execute(new):
            for pod in self.pods.store.by_index("nodelifecycle-node", new["metadata"]["name"]):
                self.queue.add(f"pod:{keys.key_of(pod)}")

    def _on_node_delete(self, node: Obj) -> None:
        with self._lock:
            self._observed.pop(node["metadata"]["name"], None)

    def _on_pod(self, pod: Obj) -> None:
        node = self.nodes.store.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is not None and self._no_execute(node):
            self.queue.add(f"pod:{keys.key_of(pod)}")

    @staticmethod
    def _no_execute(node: Obj) -> list[Obj]:
        return [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]

    # The monitor: every period, look at every node

    def run(self, stop: threading.Event) -> None:
        super().run(stop)
        threading.Thread(target=self._monitor, args=(stop,), name="node-monitor", daemon=True).start()

    def _monitor(self, stop: threading.Event) -> None:
        while not stop.wait(self.period):
            for name in self.nodes.store.list_keys():
                self.queue.add(f"node:{name}")

    def sync(self, key: str) -> None:
        kind, _, rest = key.partition(":")
        if kind == "node":
            self._sync_node(rest)
        elif kind == "pod":
            self._sync_pod(rest)

    # Node health

    def _silent_for(self, node: Obj) -> float:
        """Seconds (our clock) since the node's lease or heartbeat last changed; 0 the first time we look."""
        name = node["metadata"]["name"]
        lease = self.leases.store.get(keys.key(LEASE_NAMESPACE, name))
        if lease is not None:
            probe = "lease:" + str((lease.get("spec") or {}).get("renewTime") or "")
        else:
            # Right after registration the kubelet may not have created its Lease yet.
            probe = "heartbeat:" + str((get_condition(node, "Ready") or {}).get("lastHeartbeatTime") or "")
        now = time.monotonic()
        with self._lock:
            seen = self._observed.get(name)
            if seen is None or seen[0] != probe:
                self._observed[name] = (probe, now)
                return 0.0
            return now - seen[1]

    def _sync_node(self, name: str) -> None:
        node = self.nodes.store.get(name)
        if node is None:
            return
        ready = get_condition(node, "Ready")
        if self._silent_for(node) > self.grace and (ready is None or ready.get("status") != "Unknown"):
            log.info("node %s: no lease renewal for %.0fs; marking Ready=Unknown", name, self.grace)
            updated = {**node, "status": {**(node.get("status") or {}), "conditions": mark_unknown(node, meta.now())}}
            try:
                node = self.client.replace_status(NODES, updated)
            except errors.NotFound:
                return
            if ready is None or ready.get("status") == "True":
                self.recorder.event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        wanted = wanted_taints(node)
        if self._disrupted():
            wanted = [(key, effect) for key, effect in wanted if effect != "NoExecute"]  # no evictions meanwhile
        taints = (node.get("spec") or {}).get("taints") or []
        new_taints = reconcile_taints(taints, wanted, meta.now())
        if new_taints != taints:
            log.info("node %s: taints now %s", name, [f"{t['key']}:{t['effect']}" for t in new_taints])
            try:
                node = self.client.replace(NODES, {**node, "spec": {**(node.get("spec") or {}), "taints": new_taints}})
            except errors.NotFound:
                return
        if (get_condition(node, "Ready") or {}).get("status") == "Unknown":
            self._mark_pods_not_ready(name)

    def _disrupted(self) -> bool:
        """Master disruption mode: every node NotReady. Logged as upstream on entering and leaving."""
        disrupted = fully_disrupted(self.nodes.store.list())
        if disrupted != self._was_disrupted:
            self._was_disrupted = disrupted
            if disrupted:
                log.warning("Controller detected that all Nodes are not-Ready. Entering master disruption mode.")
            else:
                log.warning("Controller detected that some Nodes are Ready. Exiting master disruption mode.")
            for name in self.nodes.store.list_keys():
                self.queue.add(f"node:{name}")  # every node's NoExecute taints follow the mode
        return disrupted

    def _mark_pods_not_ready(self, node_name: str) -> None:
        """Pods on an unreachable node can no longer be trusted to serve: Ready=False (upstream MarkPodsNotReady)."""
        for pod in self.pods.store.by_index("nodelifecycle-node", node_name):
            status = pod.get("status") or {}
            if status.get("phase") in ("Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp"):
                continue
            conditions = status.get("conditions") or []
            if not any(c.get("type") == "Ready" and c.get("status") != "False" for c in conditions):
                continue
            now = meta.now()
            new_conditions = [{**c, "status": "False", "lastTransitionTime": now} if c.get("type") == "Ready" else c
                              for c in conditions]
            try:
                self.client.replace_status(PODS, {**pod, "status": {**status, "conditions": new_conditions}})
            except (errors.NotFound, errors.Conflict):
                continue  # gone, or changed under us: the next monitor pass looks again
            self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready", action="UpdateStatus",
                                related={"kind": "Node", "apiVersion": "v1", "metadata": {"name": node_name}})

    # Eviction

    def _sync_pod(self, key: str) -> None:
        pod = self.pods.store.get(key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        node = self.nodes.store.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None:
            return
        taints = self._no_execute(node)
        if not taints or self._disrupted():
            return
        added = {t.get("key", ""): _epoch(t.get("timeAdded")) or time.time() for t in taints}
        due = eviction_time(taints, (pod.get("spec") or {}).get("tolerations") or [], added)
        if due is None:
            return
        wait = due - time.time()
        if wait > 0:
            self.queue.add_after(f"pod:{key}", wait)
            return
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        log.info("evicting pod %s from node %s (NoExecute taints)", key, node["metadata"]["name"])
        self.recorder.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {key}", action="Evict",
                            related={**node, "kind": "Node", "apiVersion": "v1"})
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            self.client.delete(PODS, name, namespace, preconditions={"uid": pod["metadata"]["uid"]})
