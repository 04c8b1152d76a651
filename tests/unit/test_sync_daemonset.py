"""DaemonSetController.sync on hand-fed caches (upstream: pkg/controller/daemon/daemon_controller_test.go): one
pod per eligible node, none where the node does not fit, and the surplus deleted."""

from __future__ import annotations

from kubeling.controllers.daemonset import DaemonSetController as Controller
from support.builders import daemonset, node, pod
from support.fakeclient import controller_fixture

KEY = "default/agent"


def daemon_pod(ds: dict, name: str, on: str, **extra: object) -> dict:
    return pod(name, labels={"app": "agent"}, owner=ds, node=on, uid=f"uid-{name}", **extra)


def test_creates_one_pod_per_node_bound_to_that_node() -> None:
    f = controller_fixture(Controller)
    f.add(daemonset("agent", uid="ds-1"), node("n1"), node("n2"))
    f.sync(KEY)
    created = [a.object for a in f.actions("create", "pods")]
    assert len(created) == 2
    targets = set()
    for body in created:
        terms = body["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        (field,) = terms["nodeSelectorTerms"][0]["matchFields"]
        assert field["key"] == "metadata.name" and field["operator"] == "In"
        targets.add(field["values"][0])
        assert body["metadata"]["ownerReferences"][0]["uid"] == "ds-1"
        assert body["metadata"]["labels"]["app"] == "agent"
    assert targets == {"n1", "n2"}


def test_daemon_pods_tolerate_the_node_condition_taints() -> None:
    f = controller_fixture(Controller)
    f.add(daemonset("agent", uid="ds-1"), node("n1"))
    f.sync(KEY)
    (body,) = [a.object for a in f.actions("create", "pods")]
    keys = {t.get("key") for t in body["spec"].get("tolerations") or []}
    assert {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"} <= keys


def test_skips_nodes_the_pod_does_not_fit() -> None:
    f = controller_fixture(Controller)
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    f.add(daemonset("agent", uid="ds-1", nodeSelector={"disk": "ssd"}),
          node("plain"), node("ssd", labels={"disk": "ssd"}), node("tainted", labels={"disk": "ssd"}, taints=[taint]))
    f.sync(KEY)
    created = [a.object["spec"]["nodeName"] for a in f.actions("create", "pods")]
    assert created == ["ssd"]


def test_deletes_the_pod_of_a_node_that_no_longer_fits_and_extra_pods_on_a_node() -> None:
    f = controller_fixture(Controller)
    (ds,) = f.add(daemonset("agent", uid="ds-1", nodeSelector={"disk": "ssd"}))
    f.add(node("ssd", labels={"disk": "ssd"}), node("plain"))
    f.add(daemon_pod(ds, "old", "ssd", creationTimestamp="2025-01-01T00:00:00Z"),
          daemon_pod(ds, "twin", "ssd", creationTimestamp="2025-01-02T00:00:00Z"),
          daemon_pod(ds, "misplaced", "plain"))
    f.sync(KEY)
    assert sorted(a.name for a in f.actions("delete", "pods")) == ["misplaced", "twin"]
    assert f.actions("create", "pods") == []


def test_replaces_a_failed_daemon_pod() -> None:
    f = controller_fixture(Controller)
    ds, _ = f.add(daemonset("agent", uid="ds-1"), node("n1"))
    f.add(daemon_pod(ds, "broken", "n1", phase="Failed"))
    f.sync(KEY)
    assert [a.name for a in f.actions("delete", "pods")] == ["broken"]
    assert "FailedDaemonPod" in f.recorder.reasons()


def test_an_empty_selector_is_refused_with_an_event() -> None:
    f = controller_fixture(Controller)
    ds = daemonset("agent", uid="ds-1")
    ds["spec"]["selector"] = {}
    f.add(ds, node("n1"))
    f.sync(KEY)
    assert f.actions("create", "pods") == []
    assert f.recorder.reasons() == ["SelectingAll"]


def test_status_counts_scheduled_and_ready_daemon_pods() -> None:
    f = controller_fixture(Controller)
    ds, _, _ = f.add(daemonset("agent", uid="ds-1"), node("n1"), node("n2"))
    f.add(daemon_pod(ds, "a", "n1", phase="Running", ready=True))
    f.sync(KEY)
    (write,) = f.actions("update", "daemonsets", "status")
    status = write.object["status"]
    assert status["desiredNumberScheduled"] == 2
    assert status["currentNumberScheduled"] == 1
    assert status["numberReady"] == 1
