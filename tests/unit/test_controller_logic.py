"""Pure logic of the node, IPAM, endpoints, namespace and garbage-collector controllers."""

from __future__ import annotations

import pytest

from kubeling.api.scheduling import tolerates
from kubeling.controllers.endpoints import endpoint_subsets, find_port
from kubeling.controllers.garbagecollector import without_finalizer, without_owner
from kubeling.controllers.namespace import deletion_conditions
from kubeling.controllers.nodeipam import CidrAllocator, RangeFull
from kubeling.controllers.nodelifecycle import (
    UNREACHABLE,
    eviction_time,
    mark_unknown,
    reconcile_taints,
    wanted_taints,
)
from support import builders
from support.builders import service

# CIDR allocation


def test_allocator_hands_out_consecutive_subnets() -> None:
    allocator = CidrAllocator("10.244.0.0/16", 24)
    assert [allocator.allocate() for _ in range(3)] == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]


def test_allocator_skips_ranges_already_on_nodes() -> None:
    allocator = CidrAllocator("10.244.0.0/16", 24)
    assert allocator.occupy("10.244.0.0/24")
    assert allocator.occupy("10.244.1.0/24")
    assert allocator.allocate() == "10.244.2.0/24"


def test_allocator_ignores_foreign_ranges() -> None:
    allocator = CidrAllocator("10.244.0.0/16", 24)
    assert not allocator.occupy("192.168.0.0/24")
    assert not allocator.occupy("10.244.0.0/25")
    assert allocator.used() == 0


def test_allocator_reuses_released_range_and_reports_full() -> None:
    allocator = CidrAllocator("10.0.0.0/30", 31)
    first, second = allocator.allocate(), allocator.allocate()
    assert {first, second} == {"10.0.0.0/31", "10.0.0.2/31"}
    with pytest.raises(RangeFull):
        allocator.allocate()
    allocator.release(first)
    assert allocator.allocate() == first


def test_allocator_never_duplicates() -> None:
    allocator = CidrAllocator("10.244.0.0/20", 26)
    cidrs = [allocator.allocate() for _ in range(64)]
    assert len(set(cidrs)) == 64


def test_allocator_rejects_mask_shorter_than_cluster() -> None:
    with pytest.raises(ValueError):
        CidrAllocator("10.244.0.0/16", 8)


# Endpoints


def pod(name: str, ip: str | None = "10.0.0.1", ready: bool = True, ports: list[dict] | None = None,
        node: str = "n1", deleting: bool = False, phase: str = "Running") -> dict:
    """A pod of app=web in namespace ns (tests/support/builders) with these ports, address and readiness."""
    obj = builders.pod(name, "ns", labels={"app": "web"}, uid=f"uid-{name}", node=node, phase=phase, ready=ready,
                       ip=ip, containers=[{"name": "c", "ports": ports or []}])
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return obj


def test_find_port_by_number_and_by_name() -> None:
    p = pod("a", ports=[{"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 53,
                                                                   "protocol": "UDP"}])
    assert find_port(p, {"port": 80, "targetPort": 9090}) == 9090
    assert find_port(p, {"port": 80, "targetPort": "http"}) == 8080
    assert find_port(p, {"port": 80}) == 80
    assert find_port(p, {"port": 53, "targetPort": "dns", "protocol": "UDP"}) == 53
    assert find_port(p, {"port": 53, "targetPort": "dns"}) is None  # TCP asked, only UDP named dns
    assert find_port(p, {"port": 80, "targetPort": "missing"}) is None


def test_ready_and_not_ready_addresses() -> None:
    svc = service("web", "ns", ports=[{"port": 80, "targetPort": 8080, "protocol": "TCP"}])
    subsets = endpoint_subsets(svc, [pod("a", "10.0.0.2"), pod("b", "10.0.0.1", ready=False)])
    assert subsets == [{
        "addresses": [{"ip": "10.0.0.2", "nodeName": "n1",
                       "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}}],
        "notReadyAddresses": [{"ip": "10.0.0.1", "nodeName": "n1",
                               "targetRef": {"kind": "Pod", "namespace": "ns", "name": "b", "uid": "uid-b"}}],
        "ports": [{"port": 8080, "protocol": "TCP"}],
    }]


def test_pods_grouped_by_resolved_named_port() -> None:
    svc = service("web", "ns", ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    pods = [pod("a", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080}]),
            pod("b", "10.0.0.2", ports=[{"name": "web", "containerPort": 9090}]),
            pod("c", "10.0.0.3", ports=[{"name": "web", "containerPort": 8080}]),
            pod("d", "10.0.0.4", ports=[{"name": "other", "containerPort": 1}])]
    subsets = endpoint_subsets(svc, pods)
    summary = [([a["ip"] for a in s["addresses"]], s["ports"]) for s in subsets]
    assert summary == [
        (["10.0.0.1", "10.0.0.3"], [{"name": "http", "port": 8080, "protocol": "TCP"}]),
        (["10.0.0.2"], [{"name": "http", "port": 9090, "protocol": "TCP"}]),
    ]


def test_pods_without_ip_terminating_or_finished_are_left_out() -> None:
    svc = service("web", "ns", ports=[{"port": 80, "protocol": "TCP"}])
    pods = [pod("noip", None), pod("gone", "10.0.0.2", deleting=True), pod("done", "10.0.0.3", phase="Succeeded")]
    assert endpoint_subsets(svc, pods) == []


def test_publish_not_ready_addresses_counts_everyone_ready() -> None:
    svc = service("web", "ns", ports=[{"port": 80, "protocol": "TCP"}], publishNotReadyAddresses=True)
    subsets = endpoint_subsets(svc, [pod("a", "10.0.0.1", ready=False), pod("b", "10.0.0.2", deleting=True)])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.0.0.1", "10.0.0.2"]
    assert "notReadyAddresses" not in subsets[0]


# Tolerations and taints


def test_toleration_matching() -> None:
    taint = {"key": UNREACHABLE, "effect": "NoExecute"}
    assert tolerates({"key": UNREACHABLE, "operator": "Exists"}, taint)
    assert tolerates({"operator": "Exists"}, taint)  # empty key + Exists tolerates everything
    assert not tolerates({"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}, taint)
    assert not tolerates({"key": "other", "operator": "Exists"}, taint)
    assert tolerates({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoSchedule"})
    assert not tolerates({"key": "k", "operator": "Equal", "value": "x"}, {"key": "k", "value": "v"})


def test_eviction_time() -> None:
    taints = [{"key": UNREACHABLE, "effect": "NoExecute"}]
    added = {UNREACHABLE: 1000.0}
    assert eviction_time(taints, [], added) == 0.0  # not tolerated: now
    forever = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]
    assert eviction_time(taints, forever, added) is None
    limited = [*forever, {"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 30},
               {"operator": "Exists", "tolerationSeconds": 300}]
    assert eviction_time(taints, limited, added) == 1030.0  # the shortest matching tolerationSeconds wins
    assert eviction_time([{"key": "x", "effect": "NoSchedule"}], [], added) is None  # NoSchedule never evicts


def test_wanted_and_reconciled_taints() -> None:
    node = {"metadata": {"name": "n"}, "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert wanted_taints(node) == []
    node["status"]["conditions"] = mark_unknown(node, "2024-01-01T00:00:00Z")
    ready = node["status"]["conditions"][0]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    wanted = wanted_taints(node)
    mine = {"key": "mine", "effect": "NoSchedule"}
    taints = reconcile_taints([mine], wanted, "2024-01-01T00:00:05Z")
    assert taints == [mine, {"key": UNREACHABLE, "effect": "NoSchedule"},
                      {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2024-01-01T00:00:05Z"}]
    assert reconcile_taints(taints, wanted, "later") == taints  # timeAdded is kept
    node["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    assert [t["key"] for t in reconcile_taints(taints, wanted_taints(node), "t")][1:] == [
        "node.kubernetes.io/not-ready", "node.kubernetes.io/not-ready"]
    assert reconcile_taints(taints, [], "t") == [mine]


# Garbage collector and namespace helpers


def test_without_owner_and_finalizer() -> None:
    obj = {"metadata": {"name": "p", "ownerReferences": [{"uid": "a"}, {"uid": "b"}], "finalizers": ["orphan", "x"]}}
    assert without_owner(obj, {"a"})["metadata"]["ownerReferences"] == [{"uid": "b"}]
    assert "ownerReferences" not in without_owner(obj, {"a", "b"})["metadata"]
    assert without_finalizer(obj, "orphan")["metadata"]["finalizers"] == ["x"]
    assert obj["metadata"]["finalizers"] == ["orphan", "x"]  # the cached object is never changed


def test_namespace_conditions() -> None:
    done = {c["type"]: c for c in deletion_conditions({}, {}, [])}
    assert done["NamespaceContentRemaining"]["status"] == "False"
    assert done["NamespaceContentRemaining"]["reason"] == "ContentRemoved"
    waiting = {c["type"]: c for c in deletion_conditions({"pods": 2}, {"foregroundDeletion": 1}, [])}
    assert waiting["NamespaceContentRemaining"]["status"] == "True"
    assert waiting["NamespaceContentRemaining"]["message"] == (
        "Some resources are remaining: pods has 2 resource instances")
    assert waiting["NamespaceFinalizersRemaining"]["message"] == (
        "Some content in the namespace has finalizers remaining: foregroundDeletion in 1 resource instances")
