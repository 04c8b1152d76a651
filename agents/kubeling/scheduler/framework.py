"""The scheduling framework: tiny plugin interfaces, Status values with reasons, and the views plugins read.

As upstream's: a plugin is a name plus whichever extension points it implements. `pre_filter` / `pre_score`
run once per pod (they may stash parsed data in `pod.state`, answer SKIP when the plugin has nothing to do
for this pod, or reject the pod for every node); `filter` and `score` run once per node and see only the
`NodeInfo` they are given; `pre_bind` runs once the node is chosen, before the binding is written. Scores are
normalised to 0..MAX_NODE_SCORE before the framework weighs them, so a weighted sum means something.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
from typing import Any, Protocol, runtime_checkable

from kubeling.api.conditions import get_condition
from kubeling.api.quantity import milli_value, value
from kubeling.api.types import Obj
from kubeling.client import keys

MAX_NODE_SCORE = 100
TOO_MANY_PODS = "Too many pods"

# What the scheduler assumes a container without requests uses, when *scoring* (upstream's non-zero requests):
# otherwise a node full of request-less pods would look empty.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


class Code(enum.Enum):
    SUCCESS = "Success"
    ERROR = "Error"  # the plugin failed; retry the pod later
    UNSCHEDULABLE = "Unschedulable"  # this node does not fit now; preemption might help
    UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"  # no point preempting anything here
    SKIP = "Skip"  # from pre_filter / pre_score: this plugin has nothing to check for this pod


@dataclasses.dataclass(frozen=True, slots=True)
class Status:
    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code is Code.SUCCESS

    @property
    def rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)


SUCCESS = Status()
SKIP = Status(Code.SKIP)


def unschedulable(*reasons: str, resolvable: bool = True) -> Status:
    return Status(Code.UNSCHEDULABLE if resolvable else Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)


# The views plugins read


def _container_requests(container: Obj) -> dict[str, int]:
    resources = container.get("resources") or {}
    # The API server copies limits into missing requests; read them too in case a pod skipped defaulting.
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: (milli_value(q) if name == "cpu" else value(q)) for name, q in merged.items()}


def _add(total: dict[str, int], extra: dict[str, int]) -> None:
    for name, amount in extra.items():
        total[name] = total.get(name, 0) + amount


def _nonzero(requests: dict[str, int]) -> tuple[int, int]:
    return (requests.get("cpu", 0) if "cpu" in requests else DEFAULT_MILLI_CPU_REQUEST,
            requests.get("memory", 0) if "memory" in requests else DEFAULT_MEMORY_REQUEST)


def pod_requests(spec: Obj) -> tuple[dict[str, int], int, int]:
    """(requests, non-zero cpu, non-zero memory) of a pod, as upstream's resource helpers compute them.

    Containers run together, so their requests add up; init containers run one at a time before them, so the
    pod needs the larger of the two. Sidecars (init containers with restartPolicy Always) keep running, so they
    add to everything after them. Pod overhead comes on top.
    """
    requests: dict[str, int] = {}
    cpu = memory = 0
    for container in spec.get("containers") or []:
        own = _container_requests(container)
        _add(requests, own)
        c, m = _nonzero(own)
        cpu, memory = cpu + c, memory + m
    sidecars: dict[str, int] = {}
    side_cpu = side_memory = 0
    init_peak: dict[str, int] = {}
    peak_cpu = peak_memory = 0
    for container in spec.get("initContainers") or []:
        own = _container_requests(container)
        c, m = _nonzero(own)
        if container.get("restartPolicy") == "Always":
            _add(sidecars, own)
            side_cpu, side_memory = side_cpu + c, side_memory + m
            continue
        for name, amount in own.items():
            init_peak[name] = max(init_peak.get(name, 0), amount + sidecars.get(name, 0))
        peak_cpu, peak_memory = max(peak_cpu, c + side_cpu), max(peak_memory, m + side_memory)
    _add(requests, sidecars)
    cpu, memory = cpu + side_cpu, memory + side_memory
    for name, amount in init_peak.items():
        requests[name] = max(requests.get(name, 0), amount)
    cpu, memory = max(cpu, peak_cpu), max(memory, peak_memory)
    overhead = {name: (milli_value(q) if name == "cpu" else value(q))
                for name, q in (spec.get("overhead") or {}).items()}
    _add(requests, overhead)
    return requests, cpu + overhead.get("cpu", 0), memory + overhead.get("memory", 0)


def host_ports(spec: Obj) -> list[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) the pod claims on its node."""
    ports = []
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                ports.append((port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", int(port["hostPort"])))
    return ports


def controller_uid(pod: Obj) -> str:
    for ref in pod.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid", "")
    return ""


class PodInfo:
    """A pod parsed once per scheduling attempt. `state` is the cycle state: plugins' per-pod scratch space."""

    __slots__ = ("cpu", "cpu_request", "host_ports", "key", "memory", "memory_request", "name", "namespace", "obj",
                 "owner", "requests", "scalar_requests", "spec", "state", "uid")

    def __init__(self, pod: Obj) -> None:
        metadata = pod.get("metadata") or {}
        self.obj = pod
        self.spec: Obj = pod.get("spec") or {}
        self.name, self.namespace = metadata.get("name", ""), metadata.get("namespace", "")
        self.key = keys.key(self.namespace, self.name)
        self.uid: str = metadata.get("uid") or self.key
        self.requests, self.cpu, self.memory = pod_requests(self.spec)
        # As upstream's Resource: cpu and memory as plain numbers (every filter and score reads them, for every
        # node visited), the other resources (extended ones, ephemeral storage) by name, in the order shortages
        # are reported.
        self.cpu_request, self.memory_request = self.requests.get("cpu", 0), self.requests.get("memory", 0)
        self.scalar_requests = tuple((name, amount) for name, amount in sorted(self.requests.items())
                                     if name not in ("cpu", "memory", "pods") and amount > 0)
        self.host_ports = host_ports(self.spec)
        self.owner = controller_uid(pod)
        self.state: dict[str, Any] = {}


def _allocatable(node: Obj) -> dict[str, int]:
    status = node.get("status") or {}
    source = status.get("allocatable") or status.get("capacity") or {}
    result = {}
    for name, quantity in source.items():
        try:
            result[name] = milli_value(quantity) if name == "cpu" else value(quantity)
        except ValueError:
            result[name] = 0
    return result


def ready_status(node: Obj) -> str:
    """The node's Ready condition status: "True", "False" or "Unknown" (also when the kubelet never said)."""
    return (get_condition(node, "Ready") or {}).get("status") or "Unknown"


class NodeInfo:
    """One node and what is bound (or assumed bound) to it, with the aggregates filters and scores need.

    The scheduler cache keeps these current incrementally, so a scheduling attempt never sums a node's pods.
    """

    __slots__ = ("allocatable", "allocatable_cpu", "allocatable_memory", "allocatable_pods", "labels", "name", "node",
                 "nonzero_cpu", "nonzero_memory", "owners", "pods", "ready", "requested", "requested_cpu",
                 "requested_memory", "taints", "unschedulable", "used_ports")

    def __init__(self, node: Obj | None = None, name: str = "") -> None:
        self.name = name
        self.node: Obj | None = None
        self.labels: dict[str, str] = {}
        self.taints: list[Obj] = []
        self.unschedulable = False
        self.ready = "Unknown"
        # Every resource by name, and (as upstream's Resource) cpu, memory and the pod count also as plain numbers:
        # insufficient_resources and the resource scores read those for every node a pod is checked against.
        self.allocatable: dict[str, int] = {}
        self.allocatable_cpu = self.allocatable_memory = self.allocatable_pods = 0
        self.pods: dict[str, PodInfo] = {}
        self.requested: dict[str, int] = {}
        self.requested_cpu = self.requested_memory = 0
        self.nonzero_cpu = self.nonzero_memory = 0
        self.used_ports: dict[tuple[str, str, int], int] = {}
        self.owners: dict[str, int] = {}  # controller uid → pods of it here (for spreading)
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Obj) -> None:
        self.node = node
        self.name = node["metadata"]["name"]
        self.labels = node["metadata"].get("labels") or {}
        spec = node.get("spec") or {}
        self.taints = spec.get("taints") or []
        self.unschedulable = bool(spec.get("unschedulable"))
        self.ready = ready_status(node)
        self.allocatable = _allocatable(node)
        self.allocatable_cpu = self.allocatable.get("cpu", 0)
        self.allocatable_memory = self.allocatable.get("memory", 0)
        self.allocatable_pods = self.allocatable.get("pods", 0)

    def add_pod(self, pod: PodInfo) -> None:
        self.pods[pod.uid] = pod
        _add(self.requested, pod.requests)
        self.requested_cpu += pod.cpu_request
        self.requested_memory += pod.memory_request
        self.nonzero_cpu += pod.cpu
        self.nonzero_memory += pod.memory
        for port in pod.host_ports:
            self.used_ports[port] = self.used_ports.get(port, 0) + 1
        if pod.owner:
            self.owners[pod.owner] = self.owners.get(pod.owner, 0) + 1

    def remove_pod(self, uid: str) -> PodInfo | None:
        pod = self.pods.pop(uid, None)
        if pod is None:
            return None
        for name, amount in pod.requests.items():
            self.requested[name] = self.requested.get(name, 0) - amount
        self.requested_cpu -= pod.cpu_request
        self.requested_memory -= pod.memory_request
        self.nonzero_cpu -= pod.cpu
        self.nonzero_memory -= pod.memory
        for port in pod.host_ports:
            if self.used_ports.get(port, 0) <= 1:
                self.used_ports.pop(port, None)
            else:
                self.used_ports[port] -= 1
        if pod.owner:
            if self.owners.get(pod.owner, 0) <= 1:
                self.owners.pop(pod.owner, None)
            else:
                self.owners[pod.owner] -= 1
        return pod

    def insufficient_resources(self, pod: PodInfo) -> list[str]:
        """What this node lacks to run `pod` as well as what it already holds, in upstream's words ("Too many
        pods", "Insufficient cpu", ...); empty when the pod fits. Upstream's fitsRequest in
        pkg/scheduler/framework/plugins/noderesources/fit.go. Runs for every node a pod is checked against."""
        insufficient = []
        if len(self.pods) >= self.allocatable_pods:
            insufficient.append(TOO_MANY_PODS)
        if pod.cpu_request > 0 and self.requested_cpu + pod.cpu_request > self.allocatable_cpu:
            insufficient.append("Insufficient cpu")
        if pod.memory_request > 0 and self.requested_memory + pod.memory_request > self.allocatable_memory:
            insufficient.append("Insufficient memory")
        for name, amount in pod.scalar_requests:
            if self.requested.get(name, 0) + amount > self.allocatable.get(name, 0):
                insufficient.append(f"Insufficient {name}")
        return insufficient


# Plugin interfaces


class Plugin(Protocol):
    name: str


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status: ...


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(self, pod: PodInfo) -> Status: ...


@runtime_checkable
class ScorePlugin(Protocol):
    """`score` returns a raw score; `normalize`, when present, maps a pod's raw scores onto 0..MAX_NODE_SCORE."""

    name: str
    weight: int

    def score(self, pod: PodInfo, node: NodeInfo) -> int: ...


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(self, pod: PodInfo) -> Status: ...


@runtime_checkable
class NormalizeScorePlugin(Protocol):
    """Upstream's ScoreExtensions: maps the raw scores of one pod (one per feasible node) onto 0..MAX_NODE_SCORE."""

    name: str

    def normalize(self, pod: PodInfo, scores: list[int]) -> list[int]: ...


@runtime_checkable
class PreBindPlugin(Protocol):
    """Runs on a binding thread once `node` is chosen, before the pod is bound; anything but SUCCESS sends the
    pod back to be scheduled again (upstream's PreBind, e.g. VolumeBinding waiting for its claims)."""

    name: str

    def pre_bind(self, pod: PodInfo, node: str) -> Status: ...


# Extension point (the method a plugin defines) → the interface a plugin must satisfy to be registered for it.
EXTENSION_POINTS: dict[str, type] = {
    "pre_filter": PreFilterPlugin,
    "filter": FilterPlugin,
    "pre_score": PreScorePlugin,
    "score": ScorePlugin,
    "normalize": NormalizeScorePlugin,
    "pre_bind": PreBindPlugin,
}


def extension_points(plugin: object) -> list[str]:
    """The extension points `plugin` takes part in, after checking it implements each one's interface: its
    attributes, and its method's parameters by name. The Python form of upstream's compile-time
    `var _ framework.FilterPlugin = &NodeName{}`; the framework calls it when it registers a plugin."""
    name = getattr(plugin, "name", type(plugin).__name__)
    points = [point for point in EXTENSION_POINTS if callable(getattr(plugin, point, None))]
    for point in points:
        interface = EXTENSION_POINTS[point]
        missing = [attribute for attribute in interface.__annotations__ if not hasattr(plugin, attribute)]
        if missing or not isinstance(plugin, interface):
            raise TypeError(f"plugin {name} defines {point} but is not a {interface.__name__}: "
                            f"it lacks {', '.join(missing)}")
        wanted = [p for p in inspect.signature(getattr(interface, point)).parameters if p != "self"]
        given = list(inspect.signature(getattr(plugin, point)).parameters)
        if given != wanted:
            raise TypeError(f"plugin {name}: {point}({', '.join(given)}) should take ({', '.join(wanted)})")
    return points


def normalize(scores: list[int], reverse: bool = False) -> list[int]:
    """Scale so the highest raw score becomes MAX_NODE_SCORE (or, reversed, the lowest), as upstream's helper."""
    highest = max(scores, default=0)
    if highest == 0:
        return [MAX_NODE_SCORE] * len(scores) if reverse else list(scores)
    if reverse:
        return [MAX_NODE_SCORE - MAX_NODE_SCORE * s // highest for s in scores]
    return [MAX_NODE_SCORE * s // highest for s in scores]
