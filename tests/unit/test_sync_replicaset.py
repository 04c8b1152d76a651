"""ReplicaSetController.sync, one call at a time on hand-fed caches (upstream: pkg/controller/replicaset/
replica_set_test.go): which pods it creates, deletes, adopts and releases, and the status it writes."""

from __future__ import annotations

import pytest

from kubeling.client import errors
from kubeling.controllers.replicaset import ReplicaSetController
from kubeling.controllers.replication import ReplicationManager
from support.builders import pod, replicaset
from support.fakeclient import controller_fixture

KEY = "default/web"


def owned_pods(rs: dict, count: int, **status: object) -> list[dict]:
    return [pod(f"web-{i}", labels={"app": "web"}, owner=rs, phase="Running", ready=True, uid=f"pod-{i}", **status)
            for i in range(count)]


def test_creates_the_missing_pods_from_the_template_with_a_controller_reference() -> None:
    f = controller_fixture(ReplicaSetController)
    (rs,) = f.add(replicaset("web", replicas=2, uid="rs-1"))
    f.sync(KEY)
    created = [a.object for a in f.actions("create", "pods")]
    assert len(created) == 2
    for body in created:
        assert body["metadata"]["generateName"] == "web-"
        assert body["metadata"]["labels"] == {"app": "web"}
        ref = body["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("ReplicaSet", "web", "rs-1", True)
        assert body["spec"]["containers"] == rs["spec"]["template"]["spec"]["containers"]
    assert f.recorder.reasons() == ["SuccessfulCreate", "SuccessfulCreate"]


def test_waits_for_its_creations_to_be_observed_before_acting_again() -> None:
    f = controller_fixture(ReplicaSetController)
    f.add(replicaset("web", replicas=2, uid="rs-1"))
    f.sync(KEY)
    f.client.clear()
    f.sync(KEY)  # the informer has not shown the new pods yet: creating more would overshoot
    assert f.actions("create", "pods") == []


def test_deletes_the_surplus_with_a_uid_precondition() -> None:
    f = controller_fixture(ReplicaSetController)
    (rs,) = f.add(replicaset("web", replicas=2, uid="rs-1"))
    f.add(*owned_pods(rs, 3))
    f.sync(KEY)
    deletes = f.actions("delete", "pods")
    assert len(deletes) == 1
    doomed = deletes[0]
    assert doomed.object["preconditions"] == {"uid": f"pod-{doomed.name[-1]}"}
    assert f.recorder.reasons() == ["SuccessfulDelete"]


def test_prefers_deleting_pods_that_are_not_ready() -> None:
    f = controller_fixture(ReplicaSetController)
    (rs,) = f.add(replicaset("web", replicas=2, uid="rs-1"))
    ready = owned_pods(rs, 2)
    pending = pod("web-new", labels={"app": "web"}, owner=rs, phase="Pending", uid="pod-new")
    f.add(*ready, pending)
    f.sync(KEY)
    assert [a.name for a in f.actions("delete", "pods")] == ["web-new"]


def test_does_nothing_when_the_pods_and_the_status_are_as_wanted() -> None:
    f = controller_fixture(ReplicaSetController)
    rs = replicaset("web", replicas=2, uid="rs-1")
    rs["metadata"]["generation"] = 1
    rs["status"] = {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
                    "observedGeneration": 1}
    (rs,) = f.add(rs)
    f.add(*owned_pods(rs, 2))
    f.sync(KEY)
    assert f.actions() == []


def test_writes_the_counts_it_sees_to_status() -> None:
    f = controller_fixture(ReplicaSetController)
    rs = replicaset("web", replicas=2, uid="rs-1")
    rs["metadata"]["generation"] = 3
    (rs,) = f.add(rs)
    f.add(pod("web-0", labels={"app": "web"}, owner=rs, phase="Running", ready=True, uid="p0"),
          pod("web-1", labels={"app": "web"}, owner=rs, phase="Running", ready=False, uid="p1"))
    f.sync(KEY)
    (write,) = f.actions("update", "replicasets")
    assert write.subresource == "status"
    status = write.object["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (2, 1, 1)
    assert status["observedGeneration"] == 3


def test_adopts_a_matching_orphan_and_releases_a_pod_that_no_longer_matches() -> None:
    f = controller_fixture(ReplicaSetController)
    (rs,) = f.add(replicaset("web", replicas=2, uid="rs-1"))
    orphan = pod("orphan", labels={"app": "web"}, phase="Running", ready=True, uid="o")
    stray = pod("stray", labels={"app": "other"}, owner=rs, phase="Running", ready=True, uid="s")
    f.add(orphan, stray, owned_pods(rs, 1)[0])
    f.sync(KEY)
    patches = {a.name: a.object for a in f.actions("patch", "pods")}
    assert patches["orphan"]["metadata"]["ownerReferences"][0]["uid"] == "rs-1"
    assert patches["orphan"]["metadata"]["uid"] == "o"  # only this very pod
    assert patches["stray"]["metadata"]["ownerReferences"] == [{"$patch": "delete", "uid": "rs-1"}]
    assert f.actions("create", "pods") == []  # the adopted orphan makes two


def test_does_not_adopt_when_the_replicaset_in_the_cache_is_gone_from_the_server() -> None:
    f = controller_fixture(ReplicaSetController)
    f.add(replicaset("web", replicas=1, uid="rs-1"))
    f.add(pod("orphan", labels={"app": "web"}, phase="Running", uid="o"))
    f.client.objects.pop(("replicasets", "default", "web"))
    with pytest.raises(errors.ApiError):
        f.sync(KEY)
    assert f.actions("patch", "pods") == [] and f.actions("create", "pods") == []


def test_leaves_pods_of_another_controller_alone() -> None:
    f = controller_fixture(ReplicaSetController)
    (rs,) = f.add(replicaset("web", replicas=0, uid="rs-1"))
    other = {**rs, "metadata": {**rs["metadata"], "name": "other", "uid": "rs-2"}}
    f.add(pod("theirs", labels={"app": "web"}, owner=other, phase="Running", uid="t"))
    f.sync(KEY)
    assert f.actions("delete", "pods") == [] and f.actions("patch", "pods") == []


def test_a_replicaset_gone_from_the_cache_is_a_no_op() -> None:
    f = controller_fixture(ReplicaSetController)
    f.sync(KEY)
    assert f.client.actions == []


def test_a_failed_create_is_an_event_and_an_error_for_the_queue_to_retry() -> None:
    f = controller_fixture(ReplicaSetController)
    f.add(replicaset("web", replicas=1, uid="rs-1"))
    f.client.fail("create", "pods", errors.Forbidden(403, "Forbidden", "exceeded quota"))
    with pytest.raises(errors.Forbidden):  # so that the queue retries the key
        f.sync(KEY)
    assert f.recorder.reasons() == ["FailedCreate"]
    assert "ReplicaFailure" in str(f.actions("update", "replicasets")[0].object["status"].get("conditions"))


def test_pods_being_deleted_do_not_count() -> None:
    f = controller_fixture(ReplicaSetController)
    (rs,) = f.add(replicaset("web", replicas=1, uid="rs-1"))
    going = owned_pods(rs, 1)[0]
    going["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    f.add(going)
    f.sync(KEY)
    assert len(f.actions("create", "pods")) == 1



# ReplicationControllers: the same controller with a plain label set for a selector.


def replication_controller(name: str = "web", replicas: int = 2, uid: str = "rc-1") -> dict:
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name, "namespace": "default", "uid": uid, "generation": 1},
            "spec": {"replicas": replicas, "selector": {"app": name},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def test_a_replication_controller_creates_pods_it_owns_and_adopts_by_its_label_set() -> None:
    f = controller_fixture(ReplicationManager)
    f.add(replication_controller(replicas=2), pod("orphan", "default", labels={"app": "web"}),
          pod("stranger", "default", labels={"app": "db"}))
    f.sync(KEY)
    created = [a.object for a in f.actions("create", "pods")]
    assert len(created) == 1  # the orphan with matching labels is adopted, the stranger is not
    ref = created[0]["metadata"]["ownerReferences"][0]
    assert (ref["apiVersion"], ref["kind"], ref["uid"]) == ("v1", "ReplicationController", "rc-1")
    (adopt,) = f.actions("patch", "pods")
    assert adopt.name == "orphan"
    (status,) = f.actions("update", "replicationcontrollers")
    assert status.subresource == "status" and status.object["status"]["replicas"] == 1
