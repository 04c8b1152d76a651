"""StatefulSetController.sync on hand-fed caches (upstream: pkg/controller/statefulset/stateful_set_control_test.go):
pods made one ordinal at a time with a stable identity, removed from the highest ordinal down."""

from __future__ import annotations

from kubeling.controllers.statefulset import StatefulSetController, new_pod, revision_name
from support.builders import container, statefulset
from support.fakeclient import ControllerFixture, controller_fixture

KEY = "default/db"


def member(sts: dict, ordinal: int, ready: bool = True, revision: str | None = None, **status: object) -> dict:
    """The pod `ordinal` as the controller makes it, then running (and ready) on a node."""
    made = new_pod(sts, ordinal, revision or revision_name(sts))
    made["metadata"]["uid"] = f"uid-{ordinal}"
    made["spec"]["nodeName"] = "n1"
    made["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                          "lastTransitionTime": "2025-01-01T00:00:00Z"}], **status}
    return made


def with_set(replicas: int = 3, **spec: object) -> tuple[ControllerFixture, dict]:
    f = controller_fixture(StatefulSetController)
    (sts,) = f.add(statefulset("db", replicas=replicas, uid="sts-1", **spec))
    return f, sts


def test_creates_only_the_first_ordinal_while_none_is_ready() -> None:
    f, _ = with_set()
    f.sync(KEY)
    (create,) = f.actions("create", "pods")
    body = create.object
    assert body["metadata"]["name"] == "db-0"
    assert body["spec"]["hostname"] == "db-0" and body["spec"]["subdomain"] == "db"
    assert body["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-0"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "sts-1"


def test_creates_the_next_ordinal_once_the_previous_is_ready() -> None:
    f, sts = with_set()
    f.add(member(sts, 0))
    f.sync(KEY)
    assert [a.object["metadata"]["name"] for a in f.actions("create", "pods")] == ["db-1"]


def test_waits_while_a_lower_ordinal_is_not_ready() -> None:
    f, sts = with_set()
    f.add(member(sts, 0, ready=False))
    f.sync(KEY)
    assert f.actions("create", "pods") == []


def test_parallel_management_creates_every_ordinal_at_once() -> None:
    f, _ = with_set(podManagementPolicy="Parallel")
    f.sync(KEY)
    assert sorted(a.object["metadata"]["name"] for a in f.actions("create", "pods")) == ["db-0", "db-1", "db-2"]


def test_scales_down_from_the_highest_ordinal_one_at_a_time() -> None:
    f, sts = with_set(replicas=1)
    f.add(member(sts, 0), member(sts, 1), member(sts, 2))
    f.sync(KEY)
    assert [a.name for a in f.actions("delete", "pods")] == ["db-2"]
    assert f.actions("delete", "pods")[0].object["preconditions"] == {"uid": "uid-2"}


def test_a_failed_member_is_deleted_to_be_recreated_with_the_same_name() -> None:
    f, sts = with_set(replicas=2)
    failed = member(sts, 0)
    failed["status"]["phase"] = "Failed"
    f.add(failed, member(sts, 1))
    f.sync(KEY)
    assert [a.name for a in f.actions("delete", "pods")] == ["db-0"]


def test_a_rolling_update_replaces_the_highest_ordinal_of_the_old_revision_first() -> None:
    f, sts = with_set(replicas=3)
    old_sts = statefulset("db", replicas=3, uid="sts-1")
    old_sts["spec"]["template"]["spec"]["containers"] = [container(image="old")]
    old = revision_name(old_sts)
    f.add(*(member(sts, i, revision=old) for i in range(3)))
    f.sync(KEY)
    assert [a.name for a in f.actions("delete", "pods")] == ["db-2"]


def test_status_counts_members_by_readiness_and_revision() -> None:
    f, sts = with_set(replicas=3)
    f.add(member(sts, 0), member(sts, 1, ready=False))
    f.sync(KEY)
    status = f.actions("update", "statefulsets", "status")[-1].object["status"]
    assert status["replicas"] == 2 and status["readyReplicas"] == 1
    assert status["updateRevision"] == revision_name(sts)
