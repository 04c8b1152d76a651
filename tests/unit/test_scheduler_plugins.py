"""Each plugin tested through the scheduler's node selection with the default registry: removing a plugin from
`kubeling.scheduler.plugins.REGISTRY` makes its tests fail."""

import uuid

import pytest

from kubeling.client.events import EventRecorder
from kubeling.scheduler import plugins
from kubeling.scheduler.cache import Cache
from kubeling.scheduler.framework import NodeInfo, PodInfo, pod_requests
from kubeling.scheduler.generic import Framework, feasible_nodes_to_find, schedule, select_node, snapshot
from kubeling.scheduler.queue import SchedulingQueue
from kubeling.scheduler.scheduler import Scheduler
from support import builders
from support.builders import node
from support.fakeclient import FakeClient


def pod(name=None, cpu=None, memory=None, node_name=None, owner=None, host_port=None, **spec):
    """A pod (tests/support/builders) with these requests, host port and owner, for the default scheduler."""
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container = builders.container(image="nginx", resources={"requests": requests} if requests else {})
    if host_port:
        container["ports"] = [{"containerPort": 80, "hostPort": host_port, **spec.pop("port_extra", {})}]
    obj = builders.pod(name or f"p-{uuid.uuid4().hex[:6]}", "default", uid=str(uuid.uuid4()), node=node_name,
                       containers=[container], schedulerName="default-scheduler", **spec)
    if owner:
        obj["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                               "uid": owner, "controller": True}]
    return obj


def fits(new_pod, nodes, bound=()):
    """Names of the nodes that pass every filter."""
    result = select_node(new_pod, nodes, bound)
    return {n["metadata"]["name"] for n in nodes} - set(result.statuses)


def chosen(nodes, bound=(), count=20, **pod_args):
    """Where `count` different pods (different uids, so different tie-breaks) would each go, one at a time."""
    return {select_node(pod(**pod_args), nodes, bound).node for _ in range(count)}


def test_registry_lists_every_plugin_once():
    names = [cls.name for cls in plugins.REGISTRY]
    assert len(names) == len(set(names))
    assert {"NodeUnschedulable", "NodeName", "TaintToleration", "NodeReady", "NodeAffinity", "NodePorts",
            "NodeResourcesFit", "VolumeBinding", "NodeResourcesBalancedAllocation", "SelectorSpread"} == set(names)


# Filters


def test_node_unschedulable():
    result = select_node(pod(), [node("a", unschedulable=True)])
    assert result.node is None
    assert result.message == ("0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are "
                              "available: 1 Preemption is not helpful for scheduling.")
    tolerating = pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                                   "effect": "NoSchedule"}])
    assert select_node(tolerating, [node("a", unschedulable=True)]).node == "a"


def test_node_name():
    assert select_node(pod(node_name="b"), [node("a"), node("b"), node("c")]).node == "b"
    result = select_node(pod(node_name="x"), [node("a")])
    assert result.message.startswith("0/1 nodes are available: 1 node(s) didn't match the requested node name.")


def test_taint_toleration_filter():
    nodes = [node("a", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
             node("b", taints=[{"key": "maintenance", "effect": "NoExecute"}]), node("c")]
    assert fits(pod(), nodes) == {"c"}
    result = select_node(pod(), nodes[:2])
    assert result.message == (
        "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated "
        "taint {maintenance: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
    tolerant = pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
                                {"key": "maintenance", "operator": "Exists"}])
    assert fits(tolerant, nodes) == {"a", "b", "c"}
    assert fits(pod(tolerations=[{"key": "dedicated", "value": "cpu"}]), nodes) == {"c"}
    assert fits(pod(tolerations=[{"operator": "Exists"}]), nodes) == {"a", "b", "c"}


def test_taint_toleration_prefers_nodes_without_prefer_no_schedule_taints():
    nodes = [node("a", taints=[{"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}]), node("b")]
    assert fits(pod(), nodes) == {"a", "b"}  # a soft taint never filters
    assert chosen(nodes) == {"b"}
    tolerant = [{"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"}]
    assert chosen(nodes, tolerations=tolerant) == {"a", "b"}


def test_node_readiness():
    nodes = [node("a", ready="False"), node("b", ready="Unknown"), node("c")]
    assert fits(pod(), nodes) == {"c"}
    assert select_node(pod(), nodes[:1]).message.startswith("0/1 nodes are available: 1 node(s) were not ready.")
    tolerant = pod(tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}])
    assert fits(tolerant, nodes) == {"a", "c"}
    # A tainted not-ready node is reported by TaintToleration, with the taint, as upstream does.
    tainted = node("d", ready="False", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}])
    assert "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }" in select_node(pod(), [tainted]).message


def test_node_selector():
    nodes = [node("a", labels={"disk": "ssd", "zone": "z1"}), node("b", labels={"disk": "hdd"}), node("c")]
    assert fits(pod(nodeSelector={"disk": "ssd"}), nodes) == {"a"}
    assert fits(pod(nodeSelector={"disk": "ssd", "zone": "z2"}), nodes) == set()
    result = select_node(pod(nodeSelector={"disk": "nvme"}), nodes)
    assert result.message == ("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
                              "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")


def required(*expressions, fields=()):
    term = {"matchExpressions": list(expressions)}
    if fields:
        term["matchFields"] = list(fields)
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


@pytest.mark.parametrize(("expression", "expected"), [
    ({"key": "disk", "operator": "In", "values": ["ssd", "nvme"]}, {"a"}),
    ({"key": "disk", "operator": "NotIn", "values": ["ssd"]}, {"b", "c"}),
    ({"key": "disk", "operator": "Exists"}, {"a", "b"}),
    ({"key": "disk", "operator": "DoesNotExist"}, {"c"}),
    ({"key": "cores", "operator": "Gt", "values": ["8"]}, {"b"}),
    ({"key": "cores", "operator": "Lt", "values": ["8"]}, {"a"}),
    ({"key": "cores", "operator": "Gt", "values": ["eight"]}, set()),
])
def test_required_node_affinity_operators(expression, expected):
    nodes = [node("a", labels={"disk": "ssd", "cores": "4"}), node("b", labels={"disk": "hdd", "cores": "16"}),
             node("c", labels={"cores": "many"})]
    assert fits(pod(affinity=required(expression)), nodes) == expected


def test_required_node_affinity_terms_are_ored_and_fields_match_the_name():
    nodes = [node("a", labels={"disk": "ssd"}), node("b", labels={"gpu": "1"}), node("c")]
    terms = [{"matchExpressions": [{"key": "disk", "operator": "Exists"}]},
             {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}]
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}
    assert fits(pod(affinity=affinity), nodes) == {"a", "b"}
    by_name = required(fields=[{"key": "metadata.name", "operator": "In", "values": ["c"]}])
    assert fits(pod(affinity=by_name), nodes) == {"c"}
    empty = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}}
    assert fits(pod(affinity=empty), nodes) == set()


def test_preferred_node_affinity():
    nodes = [node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"}), node("c")]
    preferred = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}},
        {"weight": 50, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}},
    ]}}
    assert chosen(nodes, affinity=preferred) == {"b"}


def test_node_ports():
    nodes = [node("a"), node("b")]
    bound = [pod(node_name="a", host_port=8080)]
    assert fits(pod(host_port=8080), nodes, bound) == {"b"}
    assert fits(pod(host_port=8081), nodes, bound) == {"a", "b"}
    assert fits(pod(host_port=8080, port_extra={"protocol": "UDP"}), nodes, bound) == {"a", "b"}
    result = select_node(pod(host_port=8080), nodes[:1], bound)
    assert result.message == ("0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod "
                              "ports. preemption: 0/1 nodes are available: 1 No preemption victims found for "
                              "incoming pod.")
    specific = [pod(node_name="a", host_port=9090, port_extra={"hostIP": "10.0.0.1"})]
    assert fits(pod(host_port=9090, port_extra={"hostIP": "10.0.0.2"}), nodes, specific) == {"a", "b"}
    assert fits(pod(host_port=9090), nodes, specific) == {"b"}  # 0.0.0.0 overlaps every address


def test_node_resources_fit():
    nodes = [node("a", cpu="2"), node("b", cpu="1"), node("c", cpu="4", memory="1Gi")]
    bound = [pod(node_name="a", cpu="1500m")]
    assert fits(pod(cpu="1100m", memory="2Gi"), nodes, bound) == set()
    assert fits(pod(cpu="500m"), nodes, bound) == {"a", "b", "c"}
    assert fits(pod(cpu="600m"), nodes, bound) == {"b", "c"}
    assert fits(pod(memory="1.5Gi"), nodes, bound) == {"a", "b"}
    result = select_node(pod(cpu="3", memory="2Gi"), nodes, bound)
    assert result.message == ("0/3 nodes are available: 1 Insufficient memory, 2 Insufficient cpu. preemption: "
                              "0/3 nodes are available: 3 No preemption victims found for incoming pod.")


def test_too_many_pods_and_extended_resources():
    nodes = [node("a", pods="2"), node("b")]
    bound = [pod(node_name="a"), pod(node_name="a")]
    assert fits(pod(), nodes, bound) == {"b"}
    assert "1 Too many pods" in select_node(pod(), nodes[:1], bound).message
    gpu_pod = pod()
    gpu_pod["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    gpu_node = node("g")
    gpu_node["status"]["allocatable"]["nvidia.com/gpu"] = "1"
    assert fits(gpu_pod, [*nodes, gpu_node], bound) == {"g"}
    assert "2 Insufficient nvidia.com/gpu" in select_node(gpu_pod, nodes).message


def test_upstream_summary_is_sorted_as_strings():
    nodes = [node("a", cpu="1"), node("b", cpu="1"), node("c", taints=[{"key": "key", "value": "value",
                                                                        "effect": "NoSchedule"}])]
    result = select_node(pod(cpu="2"), nodes)
    assert result.message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu. preemption: "
        "0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for "
        "incoming pod.")
    assert select_node(pod(), []).message == "no nodes available to schedule pods"


def test_requests_count_init_containers_sidecars_and_overhead():
    spec = {"containers": [{"resources": {"requests": {"cpu": "100m"}}}, {"resources": {"limits": {"cpu": "1"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
                               {"restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}}],
            "overhead": {"cpu": "10m"}}
    requests, cpu, memory = pod_requests(spec)
    assert memory == 1024**3
    # Containers and the sidecar need 1150m together; the first init container alone needs 2 cpu.
    assert requests == {"cpu": 2010, "memory": 1024**3}
    assert cpu == 2010


# Scores


def test_least_allocated_prefers_emptier_nodes():
    nodes = [node("a"), node("b")]
    bound = [pod(node_name="a", cpu="2", memory="4Gi")]
    assert chosen(nodes, bound, cpu="100m", memory="100Mi") == {"b"}


def test_balanced_allocation_prefers_even_use():
    nodes = [node("a"), node("b")]
    # Equal LeastAllocated scores (59 each for this pod), very different balance.
    bound = [pod(node_name="a", cpu="3", memory="0"), pod(node_name="b", cpu="1600m", memory="2900Mi")]
    assert chosen(nodes, bound, cpu="100m", memory="256Mi") == {"b"}


def test_selector_spread_prefers_nodes_with_fewer_pods_of_the_same_owner():
    nodes = [node("a"), node("b")]
    bound = [pod(node_name="a", cpu="10m", memory="10Mi", owner="rs-1"), pod(node_name="b", cpu="10m", memory="10Mi")]
    assert chosen(nodes, bound, cpu="10m", memory="10Mi", owner="rs-1") == {"b"}


def test_a_replicaset_spreads_evenly_when_scheduled_one_after_another():
    framework = Framework()
    infos = snapshot([node("a"), node("b"), node("c")])
    for _ in range(10):
        info = PodInfo(pod(owner="rs-2", cpu="100m", memory="64Mi"))
        result = schedule(framework, info, infos)
        next(i for i in infos if i.name == result.node).add_pod(info)
    counts = [len(i.pods) for i in infos]
    assert sum(counts) == 10 and max(counts) - min(counts) <= 1


def test_choice_is_deterministic():
    nodes = [node(f"n{i}") for i in range(5)]
    one = pod()
    assert len({select_node(one, nodes).node for _ in range(5)}) == 1


# Large clusters: only a sample of feasible nodes is scored


def test_feasible_nodes_to_find_follows_upstream():
    assert feasible_nodes_to_find(50) == 50
    assert feasible_nodes_to_find(1000) == 420
    assert feasible_nodes_to_find(5000) == 500
    assert feasible_nodes_to_find(200) == 100
    assert feasible_nodes_to_find(1000, percentage=100) == 1000
    infos = snapshot([node(f"n{i:03}") for i in range(300)])
    result = schedule(Framework(), PodInfo(pod()), infos)
    assert result.feasible == 144 and result.evaluated == 144  # 48% of 300
    result = schedule(Framework(), PodInfo(pod(cpu="99")), infos)
    assert result.evaluated == 300 and result.message.startswith("0/300 nodes are available: 300 Insufficient cpu.")


# The cache and the queue


def test_assumed_pods_hold_room_until_confirmed_or_expired():
    cache = Cache(ttl=30)
    cache.set_node(node("a", cpu="1"))
    first = PodInfo(pod(cpu="600m"))
    cache.assume(first, "a")
    info = cache.node("a")
    assert info.requested["cpu"] == 600
    assert schedule(Framework(), PodInfo(pod(cpu="600m")), cache.nodes()).node is None  # no over-commit
    cache.finish_binding(first.uid, now=100.0)
    assert cache.cleanup_expired(now=120.0) == []
    bound = {**first.obj, "spec": {**first.obj["spec"], "nodeName": "a"}}
    cache.add_pod(bound)  # the informer confirms: never expires now
    assert cache.cleanup_expired(now=1000.0) == [] and info.requested["cpu"] == 600
    second = PodInfo(pod(cpu="100m"))
    cache.assume(second, "a")
    cache.finish_binding(second.uid, now=100.0)
    assert cache.cleanup_expired(now=131.0) == [second.uid]
    assert info.requested["cpu"] == 600
    cache.remove_pod(bound)
    assert info.requested["cpu"] == 0 and not info.pods


def test_queue_parks_unschedulable_pods_until_the_cluster_changes():
    queue = SchedulingQueue(initial_backoff=0.01, max_backoff=0.02)
    queue.add("ns/low")
    queue.add("ns/high", priority=10)
    assert queue.pop(0.1) == "ns/high"
    assert queue.pop(0.1) == "ns/low"
    queue.add_unschedulable("ns/high")
    assert queue.pop(0.1) is None  # parked: no hot loop
    queue.move_all()
    assert queue.pop(0.5) == "ns/high"  # back after its (short) backoff
    queue.move_all()  # a change while it is being scheduled…
    queue.add_unschedulable("ns/high")
    assert queue.pop(0.5) == "ns/high"  # …is not lost


def test_node_info_accounting_is_reversible():
    info = NodeInfo(node("a"))
    pods = [PodInfo(pod(cpu="100m", memory="1Gi", owner="o", host_port=80)) for _ in range(3)]
    for p in pods:
        info.add_pod(p)
    assert info.requested == {"cpu": 300, "memory": 3 * 1024**3} and info.owners == {"o": 3}
    for p in pods:
        info.remove_pod(p.uid)
    assert info.requested == {"cpu": 0, "memory": 0} and not info.owners and not info.used_ports


def test_the_scheduler_queues_pending_pods_by_the_priority_admission_gave_them():
    client = FakeClient()
    scheduler = Scheduler(client, EventRecorder(client, "default-scheduler"))  # type: ignore[arg-type]
    try:
        scheduler._on_pod_add(builders.pod("low", "ns", priority=0))
        scheduler._on_pod_add(builders.pod("critical", "ns", priority=2000000000,
                                           priorityClassName="system-cluster-critical"))
        scheduler._on_pod_add(builders.pod("none", "ns"))
        assert [scheduler.queue.pop(0.1) for _ in range(3)] == ["ns/critical", "ns/low", "ns/none"]
    finally:
        scheduler.binder.shutdown(wait=False)
