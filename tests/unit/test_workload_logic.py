"""The pure parts of the workload controllers: DaemonSet placement, StatefulSet ordering, Job accounting and
CronJob schedule arithmetic, with explicit clocks instead of waiting."""

from __future__ import annotations

import datetime

import pytest

from kubeling.api import podutil, scheduling
from kubeling.controllers import base, cronjob, daemonset, job, statefulset
from support import builders
from support.builders import node

UTC = datetime.UTC
NOW = datetime.datetime(2025, 3, 10, 12, 0, 30, tzinfo=UTC)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def pod(name: str, phase: str = "Running", ready: bool = True, **meta: object) -> dict:
    """A pod (tests/support/builders) created and made (un)ready at 11:00 on 2025-03-10."""
    obj = builders.pod(name, uid=f"uid-{name}", phase=phase, ready=ready, containers=[])
    obj["metadata"].update(creationTimestamp="2025-03-10T11:00:00Z", **meta)
    obj["status"]["conditions"][0]["lastTransitionTime"] = "2025-03-10T11:00:00Z"
    obj["spec"] = {}
    return obj


# --- DaemonSet ---


def ds(**pod_spec: object) -> dict:
    return {"metadata": {"name": "agent", "namespace": "ns", "uid": "ds-uid", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "a"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}], **pod_spec}}}}


def test_tolerations_match_as_upstream() -> None:
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    assert scheduling.tolerates({"key": "dedicated", "operator": "Equal", "value": "db"}, taint)
    assert not scheduling.tolerates({"key": "dedicated", "value": "web"}, taint)
    assert scheduling.tolerates({"operator": "Exists"}, taint)  # empty key + Exists tolerates everything
    assert not scheduling.tolerates({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}, taint)


def test_noschedule_keeps_new_pods_away_but_noexecute_evicts() -> None:
    assert daemonset.node_should_run(ds(), node("n")) == (True, True)
    no_schedule = node("n", taints=[{"key": "k", "effect": "NoSchedule"}])
    assert daemonset.node_should_run(ds(), no_schedule) == (False, True)
    no_execute = node("n", taints=[{"key": "k", "effect": "NoExecute"}])
    assert daemonset.node_should_run(ds(), no_execute) == (False, False)
    # The automatic daemon tolerations cover the node-condition taints.
    cordoned = node("n", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                                 {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}])
    assert daemonset.node_should_run(ds(), cordoned) == (True, True)


def test_node_selector_and_required_affinity() -> None:
    selected = ds(nodeSelector={"disk": "ssd"})
    assert daemonset.node_should_run(selected, node("n", {"disk": "ssd"}))[0]
    assert daemonset.node_should_run(selected, node("n", {"disk": "hdd"})) == (False, False)
    affinity = ds(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]}]}}})
    assert daemonset.node_should_run(affinity, node("n", {"zone": "b"}))[0]
    assert daemonset.node_should_run(affinity, node("special"))[0]
    assert not daemonset.node_should_run(affinity, node("n", {"zone": "c"}))[0]


def test_daemon_pod_is_pinned_to_its_node() -> None:
    created = daemonset.new_daemon_pod(ds(), "n1", "abc")
    assert created["spec"]["nodeName"] == "n1"
    assert created["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}
    assert created["metadata"]["labels"] == {"app": "a", "controller-revision-hash": "abc",
                                             "pod-template-generation": "1"}
    assert daemonset.target_node({"spec": {"affinity": created["spec"]["affinity"]}}) == "n1"


def test_template_hash_is_stable_and_changes_with_the_template() -> None:
    first = podutil.template_hash({"spec": {"containers": [{"name": "c", "image": "x"}]}})
    assert first == podutil.template_hash({"spec": {"containers": [{"image": "x", "name": "c"}]}})
    assert first != podutil.template_hash({"spec": {"containers": [{"name": "c", "image": "y"}]}})
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_rolling_update_budget() -> None:
    def daemon(name: str, revision: str, ready: bool = True) -> dict:
        p = pod(name, ready=ready)
        p["metadata"]["labels"] = {"controller-revision-hash": revision}
        return p

    spec = ds()
    spec["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    node_pods = {"a": [daemon("pa", "old")], "b": [daemon("pb", "old")], "c": [daemon("pc", "old")]}
    assert [p["metadata"]["name"] for p in daemonset.pods_to_replace(spec, node_pods, "new", 3, NOW)] == ["pa"]
    # A node already without an available pod uses up the budget...
    node_pods["a"] = [daemon("pa2", "new", ready=False)]
    assert daemonset.pods_to_replace(spec, node_pods, "new", 3, NOW) == []
    # ...but an old pod that is unavailable anyway may always go.
    node_pods["b"] = [daemon("pb", "old", ready=False)]
    assert [p["metadata"]["name"] for p in daemonset.pods_to_replace(spec, node_pods, "new", 3, NOW)] == ["pb"]
    assert base.scaled_value("25%", 10, round_up=True) == 3


# --- StatefulSet ---


def sts(replicas: int = 3, policy: str = "OrderedReady", partition: int = 0) -> dict:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "sts-uid", "generation": 1},
            "spec": {"replicas": replicas, "podManagementPolicy": policy, "serviceName": "web",
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}}


def sts_pod(ordinal: int, revision: str = "web-1", **kwargs: object) -> dict:
    p = pod(f"web-{ordinal}", **kwargs)
    p["metadata"]["labels"] = {"controller-revision-hash": revision, **statefulset.identity_labels(sts(), ordinal)}
    return p


def steps(actions: list) -> list[tuple[str, int]]:
    return [(a.verb, a.ordinal) for a in actions]


def test_parse_ordinal() -> None:
    assert statefulset.parse_ordinal("web", "web-0") == 0
    assert statefulset.parse_ordinal("web", "web-12") == 12
    assert statefulset.parse_ordinal("web", "web-x") is None
    assert statefulset.parse_ordinal("web", "webapp-1") is None
    assert statefulset.parse_ordinal("my-web", "my-web-3") == 3


def test_ordered_ready_creates_one_pod_at_a_time() -> None:
    assert steps(statefulset.plan(sts(), [], "web-1", NOW)) == [("create", 0)]
    assert steps(statefulset.plan(sts(), [sts_pod(0, ready=False)], "web-1", NOW)) == []
    assert steps(statefulset.plan(sts(), [sts_pod(0)], "web-1", NOW)) == [("create", 1)]


def test_parallel_creates_all_missing_pods() -> None:
    assert steps(statefulset.plan(sts(policy="Parallel"), [], "web-1", NOW)) == [
        ("create", 0), ("create", 1), ("create", 2)]


def test_scale_down_removes_the_highest_ordinal_first() -> None:
    pods = [sts_pod(i) for i in range(3)]
    assert steps(statefulset.plan(sts(replicas=1), pods, "web-1", NOW)) == [("delete", 2)]
    pods[2]["metadata"]["deletionTimestamp"] = "2025-03-10T12:00:00Z"
    assert steps(statefulset.plan(sts(replicas=1), pods, "web-1", NOW)) == []  # wait until web-2 is gone
    assert steps(statefulset.plan(sts(replicas=1, policy="Parallel"), pods, "web-1", NOW)) == [("delete", 1)]


def test_failed_pod_is_deleted_to_be_recreated() -> None:
    pods = [sts_pod(0), sts_pod(1, phase="Failed", ready=False)]
    assert steps(statefulset.plan(sts(), pods, "web-1", NOW)) == [("delete", 1)]


def test_rolling_update_goes_down_to_the_partition() -> None:
    pods = [sts_pod(i, revision="web-1") for i in range(3)]
    assert steps(statefulset.plan(sts(partition=1), pods, "web-2", NOW)) == [("delete", 2)]
    pods[2] = sts_pod(2, revision="web-2")
    assert steps(statefulset.plan(sts(partition=1), pods, "web-2", NOW)) == [("delete", 1)]
    pods[1] = sts_pod(1, revision="web-2")
    assert steps(statefulset.plan(sts(partition=1), pods, "web-2", NOW)) == []  # web-0 is below the partition


def test_status_promotes_the_update_revision_when_complete() -> None:
    pods = [sts_pod(i, revision="web-2") for i in range(3)]
    status = statefulset.calculate_status(sts(), pods, "web-1", "web-2", NOW)
    assert status["currentRevision"] == status["updateRevision"] == "web-2"
    assert (status["replicas"], status["readyReplicas"], status["currentReplicas"], status["updatedReplicas"],
            status["availableReplicas"]) == (3, 3, 3, 3, 3)
    pods[0] = sts_pod(0, revision="web-1")
    status = statefulset.calculate_status(sts(), pods, "web-1", "web-2", NOW)
    assert (status["currentRevision"], status["currentReplicas"], status["updatedReplicas"]) == ("web-1", 1, 2)


def test_new_pod_identity() -> None:
    created = statefulset.new_pod(sts(), 2, "web-abc")
    assert created["metadata"]["name"] == "web-2"
    assert created["metadata"]["labels"] == {"app": "web", "statefulset.kubernetes.io/pod-name": "web-2",
                                             "apps.kubernetes.io/pod-index": "2", "controller-revision-hash": "web-abc"}
    assert (created["spec"]["hostname"], created["spec"]["subdomain"]) == ("web-2", "web")


# --- Job ---


def a_job(**spec: object) -> dict:
    return {"metadata": {"name": "pi", "namespace": "ns", "uid": "job-uid"},
            "spec": {"parallelism": 2, "completions": 3, "backoffLimit": 6,
                     "template": {"spec": {"restartPolicy": "Never"}}, **spec}, "status": {}}


def finished(name: str, phase: str, at_time: str) -> dict:
    p = pod(name, phase=phase, ready=False)
    p["status"]["containerStatuses"] = [{"state": {"terminated": {"finishedAt": at_time}}}]
    return p


def test_active_is_min_of_parallelism_and_remaining_completions() -> None:
    assert job.wanted_active(a_job(), succeeded=0, active=0) == 2
    assert job.wanted_active(a_job(), succeeded=2, active=0) == 1
    assert job.wanted_active(a_job(), succeeded=3, active=0) == 0
    assert job.wanted_active(a_job(suspend=True), succeeded=0, active=2) == 0
    # A work queue (no completions) starts no more pods once one succeeded.
    assert job.wanted_active(a_job(completions=None), succeeded=1, active=1) == 1


def test_counts_never_go_down() -> None:
    pods = [finished("a", "Succeeded", "2025-03-10T11:00:00Z"), pod("b"), pod("c", ready=False),
            pod("d", deletionTimestamp="2025-03-10T12:00:00Z")]
    counts = job.count_pods(a_job(), pods)
    assert (counts.active, counts.ready, counts.terminating, counts.succeeded, counts.failed) == (2, 1, 1, 1, 0)
    remembered = a_job()
    remembered["status"] = {"succeeded": 2, "failed": 1}
    counts = job.count_pods(remembered, pods)
    assert (counts.succeeded, counts.failed) == (2, 1)


def test_failure_reasons() -> None:
    counts = job.PodCounts(failed=2)
    assert job.failure_reason(a_job(backoffLimit=1), [], counts, NOW) == (
        "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert job.failure_reason(a_job(backoffLimit=2), [], counts, NOW) is None
    late = a_job(activeDeadlineSeconds=10)
    late["status"] = {"startTime": "2025-03-10T12:00:00Z"}
    assert job.failure_reason(late, [], job.PodCounts(), NOW) == (
        "DeadlineExceeded", "Job was active longer than specified deadline")
    assert job.deadline_remaining(late, at("2025-03-10T12:00:04Z")) == 6


def test_on_failure_restarts_count_towards_the_backoff_limit() -> None:
    restarting = pod("a")
    restarting["status"]["containerStatuses"] = [{"restartCount": 2}]
    on_failure = a_job(backoffLimit=2, template={"spec": {"restartPolicy": "OnFailure"}})
    assert job.past_backoff_limit_on_failure(on_failure, [restarting])
    assert not job.past_backoff_limit_on_failure(a_job(backoffLimit=2), [restarting])


def test_completion() -> None:
    assert job.is_complete(a_job(), job.PodCounts(succeeded=3))
    assert not job.is_complete(a_job(), job.PodCounts(succeeded=3, active=1))
    assert not job.is_complete(a_job(), job.PodCounts(succeeded=2))
    assert job.is_complete(a_job(completions=None), job.PodCounts(succeeded=1))


def test_failed_pods_are_replaced_after_an_exponential_backoff() -> None:
    one = [finished("a", "Failed", "2025-03-10T12:00:25Z")]
    assert job.pod_backoff_remaining(one, NOW) == pytest.approx(5.0)
    two = [*one, finished("b", "Failed", "2025-03-10T12:00:28Z")]
    assert job.pod_backoff_remaining(two, NOW) == pytest.approx(18.0)
    # Failures before the last success don't count.
    healed = [*two, finished("c", "Succeeded", "2025-03-10T12:00:29Z")]
    assert job.pod_backoff_remaining(healed, NOW) == 0.0


def test_set_condition() -> None:
    status: dict = {}
    assert not job.set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", "t0")
    assert status == {}
    assert job.set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", "t1")
    assert not job.set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", "t2")
    assert job.set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", "t3")
    assert status["conditions"][0]["lastTransitionTime"] == "t3"


# --- CronJob ---


def test_schedule_parsing() -> None:
    every_minute = cronjob.parse_schedule("*/1 * * * *")
    assert every_minute.next(at("2025-03-10T12:00:00Z")) == at("2025-03-10T12:01:00Z")
    assert every_minute.next(at("2025-03-10T12:00:59.5Z")) == at("2025-03-10T12:01:00Z")
    assert cronjob.parse_schedule("@hourly").next(NOW) == at("2025-03-10T13:00:00Z")
    assert cronjob.parse_schedule("@every 90s").next(NOW) == at("2025-03-10T12:02:00Z")
    with pytest.raises(ValueError, match="expected exactly 5 fields, found 6"):
        cronjob.parse_schedule("0 * * * * *")
    with pytest.raises(ValueError):
        cronjob.parse_schedule("61 * * * *")
    with pytest.raises(ValueError, match="unknown time zone"):
        cronjob.parse_schedule("0 9 * * *", "Mars/Olympus")


def test_schedule_time_zones() -> None:
    tokyo = cronjob.parse_schedule("0 9 * * *", "Asia/Tokyo")
    assert tokyo.next(NOW) == at("2025-03-11T00:00:00Z")  # 09:00 in Tokyo is midnight UTC
    assert cronjob.parse_schedule("CRON_TZ=Asia/Tokyo 0 9 * * *").next(NOW) == at("2025-03-11T00:00:00Z")


def test_most_recent_schedule_time() -> None:
    schedule = cronjob.parse_schedule("*/5 * * * *")
    created = at("2025-03-10T11:58:00Z")
    assert cronjob.most_recent_schedule_time(schedule, created, None, NOW).most_recent == at("2025-03-10T12:00:00Z")
    # Already handled: nothing due until 12:05.
    check = cronjob.most_recent_schedule_time(schedule, created, at("2025-03-10T12:00:00Z"), NOW)
    assert check.most_recent is None and check.missed == 0
    # Away for hours: only the latest missed time is due, and the estimate of missed ones is reported.
    check = cronjob.most_recent_schedule_time(schedule, created, at("2025-03-09T12:00:00Z"), NOW)
    assert check.most_recent == at("2025-03-10T12:00:00Z")
    assert check.missed > cronjob.MANY_MISSED
    # A starting deadline bounds how far back the controller looks.
    check = cronjob.most_recent_schedule_time(schedule, created, at("2025-03-09T12:00:00Z"), NOW, 60)
    assert check.most_recent == at("2025-03-10T12:00:00Z") and check.missed == 0


def test_next_schedule_delay() -> None:
    schedule = cronjob.parse_schedule("*/1 * * * *")
    delay = cronjob.next_schedule_delay(schedule, at("2025-03-10T11:00:00Z"), at("2025-03-10T12:00:00Z"), NOW)
    assert delay == pytest.approx(30.1)  # from 12:00:30 to 12:01:00, plus 100 ms against clock skew


def test_job_names_and_annotations() -> None:
    scheduled = at("2025-03-10T12:00:00Z")
    assert cronjob.job_name("backup", scheduled) == f"backup-{int(scheduled.timestamp()) // 60}"
    cj = {"metadata": {"name": "backup", "namespace": "ns", "uid": "cj-uid"},
          "spec": {"jobTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {"backoffLimit": 1}}}}
    made = cronjob.job_from_template(cj, scheduled, cronjob.load_zone("Asia/Tokyo"))
    assert made["metadata"]["annotations"][cronjob.SCHEDULED_ANNOTATION] == "2025-03-10T21:00:00+09:00"
    assert cronjob.job_from_template(cj, scheduled, cronjob.UTC)["metadata"]["annotations"][
        cronjob.SCHEDULED_ANNOTATION] == "2025-03-10T12:00:00Z"
    assert made["metadata"]["ownerReferences"][0]["uid"] == "cj-uid"
    assert made["spec"] == {"backoffLimit": 1}


def test_history_pruning_order() -> None:
    def done(name: str, start: str | None) -> dict:
        return {"metadata": {"name": name}, "status": {"startTime": start} if start else {}}

    jobs = [done("c", "2025-03-10T10:00:00Z"), done("a", "2025-03-10T09:00:00Z"), done("b", None)]
    assert [j["metadata"]["name"] for j in cronjob.jobs_to_prune(jobs, 1)] == ["a", "c"]
    assert cronjob.jobs_to_prune(jobs, 3) == []
    assert len(cronjob.jobs_to_prune(jobs, 0)) == 3
