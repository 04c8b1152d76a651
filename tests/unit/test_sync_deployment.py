"""DeploymentController.sync on hand-fed caches (upstream: pkg/controller/deployment/deployment_controller_test.go,
rolling_test.go, recreate_test.go): the ReplicaSets it creates and scales, and what it leaves alone."""

from __future__ import annotations

import contextlib

from kubeling.api.resources import lookup
from kubeling.client import errors
from kubeling.controllers.deployment import DeploymentController
from support.builders import container, deployment, pod, replicaset
from support.fakeclient import ControllerFixture, controller_fixture

KEY = "default/web"
REPLICASETS = lookup("apps", "replicasets")
REVISION = "deployment.kubernetes.io/revision"


def first_rollout(replicas: int = 4, **spec: object) -> tuple[ControllerFixture, dict, dict]:
    """A deployment whose first ReplicaSet exists, with every pod up: (fixture, deployment, replicaset)."""
    f = controller_fixture(DeploymentController)
    (d,) = f.add(deployment("web", replicas=replicas, uid="d-1", **spec))
    f.sync(KEY)
    (create,) = f.actions("create", "replicasets")
    rs = f.stored(REPLICASETS, "default", create.object["metadata"]["name"])
    rs["status"] = {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                    "observedGeneration": 1}
    (rs,) = f.add(rs)
    (d,) = f.add(f.stored(lookup("apps", "deployments"), "default", "web"))
    f.client.clear()
    return f, d, rs


def test_a_new_deployment_gets_a_replicaset_of_its_template() -> None:
    f = controller_fixture(DeploymentController)
    (d,) = f.add(deployment("web", replicas=4, uid="d-1"))
    f.sync(KEY)
    (create,) = f.actions("create", "replicasets")
    rs = create.object
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["spec"]["replicas"] == 4
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["template"]["spec"] == d["spec"]["template"]["spec"]
    assert rs["metadata"]["annotations"][REVISION] == "1"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "d-1"
    statuses = [a.object["status"] for a in f.actions("update", "deployments", "status")]
    assert statuses and statuses[-1]["unavailableReplicas"] == 4


def test_the_same_template_hashes_to_the_same_replicaset_name() -> None:
    names = set()
    for _ in range(2):
        f = controller_fixture(DeploymentController)
        f.add(deployment("web", replicas=1, uid="d-1"))
        f.sync(KEY)
        names.add(f.actions("create", "replicasets")[0].name)
    assert len(names) == 1


def test_nothing_to_do_once_the_rollout_is_complete() -> None:
    f, _, _ = first_rollout()
    f.sync(KEY)
    assert f.actions("create", "replicasets") == []
    assert [a for a in f.actions(resource="replicasets") if a.verb in ("update", "patch")] == []


def test_a_template_change_starts_a_rolling_update_within_max_surge() -> None:
    f, d, old = first_rollout(replicas=4)
    d["spec"]["template"]["spec"]["containers"] = [container(image="nginx")]
    f.add(d)
    f.sync(KEY)
    (create,) = f.actions("create", "replicasets")
    new = create.object
    assert new["metadata"]["labels"]["pod-template-hash"] != old["metadata"]["labels"]["pod-template-hash"]
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    assert new["metadata"]["annotations"][REVISION] == "2"
    assert new["spec"]["replicas"] == 1  # maxSurge 25% of 4: one pod over the desired count
    # maxUnavailable 25% of 4: one old pod may go at once, as in upstream's reconcileOldReplicaSets.
    assert f.stored(REPLICASETS, "default", old["metadata"]["name"])["spec"]["replicas"] == 3


def test_recreate_scales_the_old_replicaset_down_before_creating_the_new_one() -> None:
    f, d, old = first_rollout(replicas=2, strategy={"type": "Recreate"})
    d["spec"]["template"]["spec"]["containers"] = [container(image="nginx")]
    f.add(d)
    f.sync(KEY)
    assert f.actions("create", "replicasets") == []
    writes = [a for a in f.actions(resource="replicasets") if a.name == old["metadata"]["name"]]
    assert writes and writes[-1].object["spec"]["replicas"] == 0


def test_a_scale_changes_the_replicas_of_the_current_replicaset_only() -> None:
    f, d, rs = first_rollout(replicas=2)
    d["spec"]["replicas"] = 5
    f.add(d)
    f.sync(KEY)
    assert f.actions("create", "replicasets") == []
    writes = [a for a in f.actions(resource="replicasets") if a.verb in ("update", "patch")]
    assert writes and writes[-1].name == rs["metadata"]["name"]
    assert f.stored(REPLICASETS, "default", rs["metadata"]["name"])["spec"]["replicas"] == 5


def test_a_paused_deployment_does_not_roll_out_a_new_template() -> None:
    f, d, _ = first_rollout(replicas=2)
    d["spec"]["paused"] = True
    d["spec"]["template"]["spec"]["containers"] = [container(image="nginx")]
    f.add(d)
    f.sync(KEY)
    assert f.actions("create", "replicasets") == []


def test_a_deployment_being_deleted_only_updates_its_status() -> None:
    f = controller_fixture(DeploymentController)
    d = deployment("web", replicas=2, uid="d-1")
    d["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    f.add(d)
    f.sync(KEY)
    assert f.actions(resource="replicasets") == []


def test_a_deployment_gone_from_the_cache_is_a_no_op() -> None:
    f = controller_fixture(DeploymentController)
    f.sync(KEY)
    assert f.client.actions == []


def test_adopts_a_matching_orphan_replicaset() -> None:
    f = controller_fixture(DeploymentController)
    f.add(deployment("web", replicas=1, uid="d-1"))
    f.add(replicaset("orphan", labels={"app": "web"}, uid="rs-o"))
    with contextlib.suppress(errors.Conflict):  # see the next test
        f.sync(KEY)
    (patch,) = [a for a in f.actions("patch", "replicasets") if a.name == "orphan"]
    assert patch.object["metadata"]["ownerReferences"][0]["uid"] == "d-1"


def test_adopting_an_orphan_replicaset_completes_in_one_sync() -> None:
    f = controller_fixture(DeploymentController)
    f.add(deployment("web", replicas=1, uid="d-1"))
    f.add(replicaset("orphan", labels={"app": "web"}, uid="rs-o"))
    f.sync(KEY)


def test_old_pods_do_not_stop_the_controller_from_creating_the_first_replicaset() -> None:
    f = controller_fixture(DeploymentController)
    f.add(deployment("web", replicas=1, uid="d-1"))
    f.add(pod("stray", labels={"app": "web"}, phase="Running"))
    f.sync(KEY)
    assert len(f.actions("create", "replicasets")) == 1
