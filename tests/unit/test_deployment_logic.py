"""The pure parts of the ReplicaSet and Deployment controllers: hashing, surge arithmetic, delete ranking, status."""

from __future__ import annotations

import datetime
import threading

import pytest

from kubeling.api import podutil
from kubeling.controllers import base
from kubeling.controllers import replicaset as rsc
from kubeling.controllers.deployment import progress, rolling, sync, util
from kubeling.controllers.expectations import Expectations

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}


def make_deployment(replicas: int = 10, surge: int | str = 2, unavailable: int | str = 1, **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": "d-uid", "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE,
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                     "progressDeadlineSeconds": 600, **spec},
            "status": {}}


def make_rs(name: str, replicas: int, available: int | None = None, status_replicas: int | None = None,
            revision: int = 1, created: float = 100, **annotations: str) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"{name}-uid", "creationTimestamp": stamp(created),
                         "annotations": {util.REVISION: str(revision), **annotations}},
            "spec": {"replicas": replicas, "template": TEMPLATE},
            "status": {"replicas": replicas if status_replicas is None else status_replicas,
                       "readyReplicas": replicas if available is None else available,
                       "availableReplicas": replicas if available is None else available}}


def make_pod(name: str, node: str = "n1", phase: str = "Running", ready: bool = True, created: float = 100,
             ready_for: float = 50, **extra) -> dict:
    conditions = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": stamp(ready_for)}]
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": stamp(created),
                         **extra},
            "spec": {"nodeName": node}, "status": {"phase": phase, "conditions": conditions}}


# --- hashing ---


def test_hash_is_deterministic_and_safe_encoded() -> None:
    first = podutil.template_hash(TEMPLATE)
    assert first == podutil.template_hash({"spec": TEMPLATE["spec"], "metadata": {"labels": {"app": "web"}}})
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(first) <= 10
    changed = {**TEMPLATE, "spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}
    assert podutil.template_hash(changed) != first
    assert podutil.template_hash(TEMPLATE, 1) != first != podutil.template_hash(TEMPLATE, 0)


def test_fnv32a_matches_reference_values() -> None:
    assert podutil.fnv32a(b"") == 0x811C9DC5
    assert podutil.fnv32a(b"a") == 0xE40C292C
    assert podutil.safe_encode("0123") == "4567" and podutil.safe_encode("6") == "b"


def test_equal_ignore_hash_ignores_only_the_hash_label_and_nulls() -> None:
    hashed = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": TEMPLATE["spec"]}
    assert util.equal_ignore_hash(hashed, TEMPLATE)
    assert util.equal_ignore_hash({**TEMPLATE, "metadata": {"labels": {"app": "web"}, "creationTimestamp": None}},
                                 TEMPLATE)
    assert not util.equal_ignore_hash({"metadata": {"labels": {"app": "other"}}, "spec": TEMPLATE["spec"]}, TEMPLATE)


# --- surge and unavailable arithmetic ---


@pytest.mark.parametrize(("surge", "unavailable", "replicas", "expected"), [
    (2, 1, 10, (2, 1)),
    ("25%", "25%", 10, (3, 2)),   # surge rounds up, unavailable rounds down
    ("25%", "25%", 1, (1, 0)),
    ("0%", "10%", 5, (0, 1)),     # both round to 0: one may be unavailable
    (0, "100%", 4, (0, 4)),
])
def test_resolve_fenceposts(surge, unavailable, replicas, expected) -> None:
    assert util.resolve_fenceposts(surge, unavailable, replicas) == expected


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert util.max_unavailable(make_deployment(replicas=3, surge=0, unavailable=5)) == 3
    recreate = make_deployment()
    recreate["spec"]["strategy"] = {"type": "Recreate"}
    assert util.max_unavailable(recreate) == 0 and util.max_surge(recreate) == 0
    assert util.new_rs_new_replicas(recreate, [], make_rs("new", 0)) == 10


def test_bad_percent_is_an_error() -> None:
    with pytest.raises(ValueError):
        base.scaled_value("ten", 10, True)


def test_new_replicaset_grows_only_into_the_surge() -> None:
    d = make_deployment()
    old, new = make_rs("old", 10), make_rs("new", 0)
    assert util.new_rs_new_replicas(d, [old, new], new) == 2
    # An old RS whose scale-down is not yet reflected in status still counts its pods.
    shrinking, new = make_rs("old", 9, status_replicas=10), make_rs("new", 2)
    assert util.new_rs_new_replicas(d, [shrinking, new], new) == 2
    shrunk = make_rs("old", 9)
    assert util.new_rs_new_replicas(d, [shrunk, new], new) == 3
    assert util.new_rs_new_replicas(d, [make_rs("old", 0), make_rs("new", 9)], make_rs("new", 9)) == 10


def test_old_replicasets_shrink_only_by_spare_availability() -> None:
    d = make_deployment()
    old, new = make_rs("old", 10, created=200), make_rs("new", 2, available=0, created=10)
    assert rolling.max_scaled_down([old, new], new, d) == 1  # 12 - 9 min available - 2 unavailable new pods
    assert rolling.plan_scale_down_old([old, new], [old], d) == {"old": 9}
    # Availability counted from status is capped by the spec a pending scale-down will reach.
    old = make_rs("old", 9, available=10, created=200)
    assert rolling.plan_scale_down_old([old, new], [old], d) == {}


def test_the_worked_example_of_rolling_py() -> None:
    """The steps rolling.py's docstring works through: replicas 10, maxSurge 3, maxUnavailable 2."""
    d = make_deployment(replicas=10, surge=3, unavailable=2)
    old = make_rs("old", 10, created=200)
    new = make_rs("new", 0, created=10)
    assert util.new_rs_new_replicas(d, [old, new], new) == 3  # step 1: created with 3
    new = make_rs("new", 3, available=0, created=10)
    assert rolling.max_scaled_down([old, new], new, d) == 2  # 13 - 8 - 3
    assert rolling.plan_scale_down_old([old, new], [old], d) == {"old": 8}
    old, new = make_rs("old", 8, created=200), make_rs("new", 3, created=10)
    assert util.new_rs_new_replicas(d, [old, new], new) == 5  # step 2: 11 exist, 13 may
    new = make_rs("new", 5, available=3, created=10)
    assert util.new_rs_new_replicas(d, [old, new], new) == 5  # step 3: no room to go up
    assert rolling.max_scaled_down([old, new], new, d) == 3  # 13 - 8 - 2
    assert rolling.plan_scale_down_old([old, new], [old], d) == {"old": 5}


def test_proportional_scaling_worked_example() -> None:
    """sync.proportions' docstring: old 8 and new 5 (maxSurge 3) when replicas go from 10 to 20."""
    d = make_deployment(replicas=20, surge=3, unavailable=0)
    old = make_rs("old", 8, created=200, **{util.MAX_REPLICAS: "13"})
    new = make_rs("new", 5, created=10, **{util.MAX_REPLICAS: "13"})
    assert sync.proportions(d, [old, new], 10) == {"old": 14, "new": 9}


def test_unhealthy_old_pods_go_first_oldest_first() -> None:
    older, old = make_rs("older", 3, available=1, created=300), make_rs("old", 3, available=0, created=200)
    assert rolling.plan_cleanup_unhealthy([old, older], 3) == {"older": 1, "old": 2}
    assert rolling.plan_cleanup_unhealthy([old, older], 0) == {}


def test_proportional_scaling_spreads_by_size() -> None:
    d = make_deployment(replicas=20, surge=3, unavailable=0)
    annotations = {util.MAX_REPLICAS: "13"}
    new, old = make_rs("new", 5, created=10, **annotations), make_rs("old", 8, created=100, **annotations)
    sizes = sync.proportions(d, [new, old], 23 - 13)
    assert sizes == {"new": 9, "old": 14}
    assert sum(sizes.values()) == 23
    down = sync.proportions(d, [new, old], -3)
    assert sum(down.values()) == 10


# --- status ---


def test_calculate_status_and_available_condition() -> None:
    d = make_deployment()
    old, new = make_rs("old", 8), make_rs("new", 4, available=1)
    status = sync.calculate_status([old, new], new, d, NOW)
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 1, "replicas": 12, "updatedReplicas": 4, "readyReplicas": 9,
        "availableReplicas": 9, "unavailableReplicas": 3}
    [available] = status["conditions"]
    assert (available["type"], available["status"], available["reason"]) == ("Available", "True",
                                                                              "MinimumReplicasAvailable")
    low = sync.calculate_status([make_rs("new", 10, available=5)], None, d, NOW)
    assert low["conditions"][0]["reason"] == "MinimumReplicasUnavailable"
    assert "updatedReplicas" not in low  # zero counts are omitted, as upstream's JSON


def test_rollout_status_conditions() -> None:
    d = make_deployment(replicas=2)
    new = make_rs("web-abc", 2)
    status = progress.rollout_status([new], new, d, NOW)
    progressing = util.get_condition(status, "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    assert progressing["message"] == 'ReplicaSet "web-abc" has successfully progressed.'
    assert util.deployment_complete(d, status)

    last_progress = NOW - datetime.timedelta(seconds=700)  # longer ago than progressDeadlineSeconds
    d["status"] = {"replicas": 2, "updatedReplicas": 2,
                   "conditions": [util.new_condition("Progressing", "True", "ReplicaSetUpdated", "x", last_progress)]}
    stuck = make_rs("web-abc", 2, available=0)
    timed_out = progress.rollout_status([stuck], stuck, d, NOW)
    condition = util.get_condition(timed_out, "Progressing")
    assert (condition["status"], condition["reason"]) == ("False", "ProgressDeadlineExceeded")


def test_set_condition_keeps_times_when_nothing_changes() -> None:
    status: dict = {}
    first = util.new_condition("Available", "True", "A", "m", NOW)
    util.set_condition(status, first)
    util.set_condition(status, util.new_condition("Available", "True", "A", "m", NOW + datetime.timedelta(hours=1)))
    assert status["conditions"] == [first]
    util.set_condition(status, util.new_condition("Available", "True", "B", "m", NOW + datetime.timedelta(hours=1)))
    assert status["conditions"][0]["lastTransitionTime"] == first["lastTransitionTime"]
    assert status["conditions"][0]["reason"] == "B"


def test_new_replicaset_annotations_and_rollback_history() -> None:
    d = make_deployment()
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "v2", util.REVISION: "7"}
    fresh = {"metadata": {"name": "web-x"}, "spec": {}}
    assert util.set_new_rs_annotations(d, fresh, 3, exists=False)
    assert fresh["metadata"]["annotations"] == {"kubernetes.io/change-cause": "v2", util.REVISION: "3",
                                                util.DESIRED_REPLICAS: "10", util.MAX_REPLICAS: "12"}
    rolled_back = make_rs("web-old", 0, revision=1)
    assert util.set_new_rs_annotations(d, rolled_back, 4, exists=True)
    assert rolled_back["metadata"]["annotations"][util.REVISION] == "4"
    assert rolled_back["metadata"]["annotations"][util.REVISION_HISTORY] == "1"
    assert not util.set_new_rs_annotations(d, rolled_back, 4, exists=True)


def test_find_new_replicaset_prefers_the_oldest_match() -> None:
    d = make_deployment()
    other = {**make_rs("other", 1, created=300), "spec": {"template": {"metadata": {"labels": {"app": "x"}}}}}
    older, newer = make_rs("older", 1, created=200), make_rs("newer", 1, created=50)
    assert util.find_new_replica_set(d, [newer, other, older])["metadata"]["name"] == "older"
    assert util.find_new_replica_set(d, [other]) is None


# --- ReplicaSet: delete ranking, status, pods, expectations, batches ---


def test_delete_ranking_follows_upstream_order() -> None:
    pods = [
        make_pod("ready-old", ready_for=3600, created=7200),
        make_pod("ready-new", ready_for=10, created=20),
        make_pod("not-ready", ready=False),
        make_pod("pending", phase="Pending", ready=False),
        make_pod("unscheduled", node="", phase="Pending", ready=False),
    ]
    ranked = [p["metadata"]["name"] for p in rsc.rank_for_deletion(pods, now=NOW)]
    assert ranked == ["unscheduled", "pending", "not-ready", "ready-new", "ready-old"]


def test_delete_ranking_prefers_low_cost_and_crowded_nodes() -> None:
    cheap = make_pod("cheap", annotations={rsc.DELETION_COST: "-5"})
    assert rsc.rank_for_deletion([make_pod("plain"), cheap], now=NOW)[0]["metadata"]["name"] == "cheap"
    crowded, alone = make_pod("crowded", node="n1"), make_pod("alone", node="n2")
    related = [crowded, alone, make_pod("sibling", node="n1")]
    assert rsc.rank_for_deletion([alone, crowded], related, now=NOW)[0]["metadata"]["name"] == "crowded"


def test_replicaset_status_counts_labels_readiness_and_min_ready_seconds() -> None:
    rs = {"metadata": {"name": "rs", "generation": 2},
          "spec": {"replicas": 3, "minReadySeconds": 30, "template": {"metadata": {"labels": {"app": "web"}}}},
          "status": {}}
    pods = [make_pod("a", ready_for=60, labels={"app": "web"}), make_pod("b", ready_for=5, labels={"app": "web"}),
            make_pod("c", ready=False, labels={"app": "other"})]
    status = rsc.calculate_status(rs, pods, now=NOW)
    assert status == {"replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1}
    failed = rsc.calculate_status({**rs, "spec": {**rs["spec"], "replicas": 5}}, pods, RuntimeError("quota"), NOW)
    [condition] = failed["conditions"]
    assert (condition["type"], condition["reason"], condition["message"]) == ("ReplicaFailure", "FailedCreate",
                                                                              "quota")
    assert "conditions" not in rsc.calculate_status({**rs, "status": failed}, pods, None, NOW)


def test_terminating_and_finished_pods_do_not_count() -> None:
    assert podutil.is_pod_active(make_pod("a"))
    assert not podutil.is_pod_active(make_pod("b", deletionTimestamp=stamp(0)))
    assert not podutil.is_pod_active(make_pod("c", phase="Succeeded"))


def test_pod_from_template() -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "web-abc", "namespace": "ns", "uid": "rs-uid"},
          "spec": {"template": {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    pod = rsc.pod_from_template(rs)
    assert pod["metadata"]["generateName"] == "web-abc-"
    assert pod["metadata"]["labels"] == {"app": "web"} and pod["metadata"]["annotations"] == {"a": "b"}
    assert pod["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
                                                   "uid": "rs-uid", "controller": True, "blockOwnerDeletion": True}]
    assert pod["spec"] == rs["spec"]["template"]["spec"] and pod["spec"] is not rs["spec"]["template"]["spec"]


def test_expectations() -> None:
    exp = Expectations()
    assert exp.satisfied("ns/rs")
    exp.expect("ns/rs", creations=2)
    exp.creation_observed("ns/rs")
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs")
    exp.expect("ns/rs", deletions=["ns/a"])
    exp.deletion_observed("ns/rs", "ns/a")
    exp.deletion_observed("ns/rs", "ns/a")  # a graceful delete is seen twice but counts once
    assert exp.satisfied("ns/rs")
    assert Expectations(timeout=-1).satisfied("x")
    stale = Expectations(timeout=-1)
    stale.expect("ns/rs", creations=5)
    assert stale.satisfied("ns/rs")  # expired: a lost event must not stall the controller


def test_slow_start_batches_stop_at_the_first_failing_batch() -> None:
    calls = []
    lock = threading.Lock()

    def create() -> None:
        with lock:
            calls.append(1)
            if len(calls) > 4:
                raise RuntimeError("quota exceeded")

    successes, error = rsc.slow_start_batch(10, 1, create)
    assert len(calls) == 7  # batches of 1, 2, 4: the third fails, and no batch of 8 is tried
    assert successes == 4 and str(error) == "quota exceeded"
    assert rsc.slow_start_batch(3, 1, lambda: None) == (3, None)
