"""NodeLifecycleController.sync on hand-fed caches (upstream: pkg/controller/nodelifecycle/
node_lifecycle_controller_test.go and tainteviction/taint_eviction_test.go): nodes that stop reporting turn Unknown
and tainted, and pods on NoExecute-tainted nodes are evicted unless they tolerate it."""

from __future__ import annotations

import types

from kubeling.api import meta
from kubeling.controllers.nodelifecycle import NodeLifecycleController
from support.builders import node, pod
from support.fakeclient import controller_fixture

PATIENT = types.SimpleNamespace(node_monitor_grace_period=40.0, node_monitor_period=5.0)
# A grace period below zero: the first look at a node already finds it silent for too long.
IMPATIENT = types.SimpleNamespace(node_monitor_grace_period=-1.0, node_monitor_period=5.0)
LONG_AGO = "2020-01-01T00:00:00Z"
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


def taint_keys(n: dict) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (n.get("spec") or {}).get("taints") or []}


def test_a_reporting_ready_node_is_left_alone() -> None:
    f = controller_fixture(NodeLifecycleController, PATIENT)
    f.add(node("n1"))
    f.sync("node:n1")
    assert f.actions() == []


def test_a_silent_node_turns_unknown_gets_the_unreachable_taints_and_its_pods_not_ready() -> None:
    f = controller_fixture(NodeLifecycleController, IMPATIENT)
    f.add(node("n1"), pod("web", node="n1", phase="Running", ready=True), pod("elsewhere", node="n2", phase="Running",
                                                                               ready=True))
    f.sync("node:n1")
    (status,) = f.actions("update", "nodes", "status")
    ready = next(c for c in status.object["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "Unknown"
    (spec,) = f.actions("update", "nodes", None)
    assert {(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")} <= taint_keys(spec.object)
    (pod_status,) = f.actions("update", "pods", "status")
    assert pod_status.name == "web"
    assert [c["status"] for c in pod_status.object["status"]["conditions"] if c["type"] == "Ready"] == ["False"]
    assert "NodeNotReady" in f.recorder.reasons()


def test_a_not_ready_node_gets_the_not_ready_taints() -> None:
    f = controller_fixture(NodeLifecycleController, PATIENT)
    f.add(node("n1", ready="False"), node("healthy"))
    f.sync("node:n1")
    (update,) = f.actions("update", "nodes")
    assert {(NOT_READY, "NoExecute"), (NOT_READY, "NoSchedule")} <= taint_keys(update.object)


def test_a_cordoned_node_gets_the_unschedulable_taint() -> None:
    f = controller_fixture(NodeLifecycleController, PATIENT)
    f.add(node("n1", unschedulable=True))
    f.sync("node:n1")
    (update,) = f.actions("update", "nodes")
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in taint_keys(update.object)


def unreachable_node(added: str = LONG_AGO) -> dict:
    return node("n1", ready="Unknown", taints=[{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": added},
                                               {"key": UNREACHABLE, "effect": "NoSchedule"}])


def test_a_pod_that_does_not_tolerate_a_no_execute_taint_is_evicted() -> None:
    f = controller_fixture(NodeLifecycleController, PATIENT)
    f.add(unreachable_node(), node("healthy"), pod("web", node="n1", uid="p1"))
    f.sync("pod:default/web")
    (delete,) = f.actions("delete", "pods")
    assert delete.name == "web" and delete.object == {"preconditions": {"uid": "p1"}}
    assert f.recorder.reasons() == ["TaintManagerEviction"]


def test_a_pod_tolerating_the_taint_for_ever_stays() -> None:
    f = controller_fixture(NodeLifecycleController, PATIENT)
    forever = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]
    f.add(unreachable_node(), pod("web", node="n1", tolerations=forever))
    f.sync("pod:default/web")
    assert f.actions() == []


def test_a_pod_tolerating_the_taint_for_a_while_stays_until_then() -> None:
    f = controller_fixture(NodeLifecycleController, PATIENT)
    for_a_while = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
    f.add(unreachable_node(added=meta.now()), node("healthy"), pod("web", node="n1", tolerations=for_a_while))
    f.sync("pod:default/web")
    assert f.actions() == []
    f.add(unreachable_node(added=LONG_AGO))
    f.sync("pod:default/web")
    assert [a.name for a in f.actions("delete", "pods")] == ["web"]


def test_when_every_node_is_not_ready_nothing_is_evicted_until_one_is_ready_again() -> None:
    """Master disruption mode (upstream's handleDisruption): every node NotReady at once is taken for the control
    plane's trouble (etcd refusing writes, so no kubelet renewed its Lease), not the nodes': the NoExecute taints
    come off and no pod is evicted; once a node is Ready again, the taints and evictions come back."""
    f = controller_fixture(NodeLifecycleController, PATIENT)
    other = node("n2", ready="Unknown", taints=[{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": LONG_AGO}])
    f.add(unreachable_node(), other, pod("web", node="n1", uid="p1"))
    f.sync("pod:default/web")
    assert f.actions("delete", "pods") == []
    f.sync("node:n1")
    (update,) = f.actions("update", "nodes")
    assert taint_keys(update.object) == {(UNREACHABLE, "NoSchedule")}  # NoExecute off, NoSchedule kept
    f.add(node("n2"))  # n2 is Ready again: n1 alone is in trouble
    f.add(unreachable_node())
    f.sync("pod:default/web")
    assert [a.name for a in f.actions("delete", "pods")] == ["web"]
