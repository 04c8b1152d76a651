"""JobController.sync on hand-fed caches (upstream: pkg/controller/job/job_controller_test.go, TestControllerSyncJob):
how many pods it runs, when the Job completes or fails, suspension, and the TTL after it finishes."""

from __future__ import annotations

import datetime

from kubeling.controllers.job import JobController
from support.builders import job, pod
from support.fakeclient import ControllerFixture, controller_fixture

KEY = "default/work"


def with_job(**spec: object) -> tuple[ControllerFixture, dict]:
    f = controller_fixture(JobController)
    (j,) = f.add(job("work", uid="job-1", **spec))
    return f, j


def job_pods(j: dict, phase: str, count: int, first: int = 0) -> list[dict]:
    return [pod(f"work-{phase.lower()}-{i}", owner=j, phase=phase, uid=f"{phase}-{i}", node="n1")
            for i in range(first, first + count)]


def conditions(f: ControllerFixture) -> dict[str, dict]:
    status = f.actions("update", "jobs", "status")[-1].object["status"]
    return {c["type"]: c for c in status.get("conditions") or []}


def test_a_new_job_starts_one_pod_and_records_its_start() -> None:
    f, _ = with_job()
    f.sync(KEY)
    (create,) = f.actions("create", "pods")
    assert create.object["metadata"]["ownerReferences"][0]["uid"] == "job-1"
    assert create.object["spec"]["restartPolicy"] == "Never"
    status = f.actions("update", "jobs", "status")[-1].object["status"]
    assert status["active"] == 1 and status["startTime"]


def test_runs_parallelism_pods_but_no_more_than_the_completions_left() -> None:
    f, j = with_job(completions=5, parallelism=3)
    f.add(*job_pods(j, "Succeeded", 3))
    f.sync(KEY)
    assert len(f.actions("create", "pods")) == 2


def test_deletes_active_pods_above_parallelism() -> None:
    f, j = with_job(completions=5, parallelism=1)
    f.add(*job_pods(j, "Running", 3))
    f.sync(KEY)
    assert len(f.actions("delete", "pods")) == 2


def test_completes_when_enough_pods_succeeded() -> None:
    f, j = with_job(completions=2, parallelism=2)
    f.add(*job_pods(j, "Succeeded", 2))
    f.sync(KEY)
    assert f.actions("create", "pods") == []
    found = conditions(f)
    assert found["Complete"]["status"] == "True" and found["SuccessCriteriaMet"]["status"] == "True"
    status = f.actions("update", "jobs", "status")[-1].object["status"]
    assert status["succeeded"] == 2 and status["completionTime"]
    assert "Completed" in f.recorder.reasons()


def test_fails_once_more_pods_failed_than_the_backoff_limit_and_stops_the_rest() -> None:
    f, j = with_job(backoffLimit=1, parallelism=2, completions=4)
    f.add(*job_pods(j, "Failed", 2), *job_pods(j, "Running", 1))
    f.sync(KEY)
    assert [a.name for a in f.actions("delete", "pods")] == ["work-running-0"]
    assert f.actions("create", "pods") == []
    found = conditions(f)
    assert found["FailureTarget"]["reason"] == "BackoffLimitExceeded"


def test_fails_past_its_active_deadline() -> None:
    f, j = with_job(activeDeadlineSeconds=10)
    started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=60)
    j["status"] = {"startTime": started.strftime("%Y-%m-%dT%H:%M:%SZ")}
    f.add(j)
    f.sync(KEY)
    assert f.actions("create", "pods") == []
    assert conditions(f)["FailureTarget"]["reason"] == "DeadlineExceeded"


def test_a_suspended_job_stops_its_pods_and_says_so() -> None:
    f, j = with_job(suspend=True)
    f.add(*job_pods(j, "Running", 1))
    f.sync(KEY)
    assert len(f.actions("delete", "pods")) == 1
    assert conditions(f)["Suspended"]["status"] == "True"
    assert "Suspended" in f.recorder.reasons()


def test_a_finished_job_past_its_ttl_is_deleted_with_its_pods_in_the_background() -> None:
    long_ago = "2020-01-01T00:00:00Z"
    f, j = with_job(ttlSecondsAfterFinished=5)
    j["status"] = {"conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": long_ago}]}
    f.add(j)
    f.sync(KEY)
    (delete,) = f.actions("delete", "jobs")
    assert delete.object["propagationPolicy"] == "Background"
    assert delete.object["preconditions"] == {"uid": "job-1"}


def test_a_finished_job_without_a_ttl_is_left_alone() -> None:
    f, j = with_job()
    j["status"] = {"conditions": [{"type": "Failed", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
    f.add(j)
    f.sync(KEY)
    assert f.actions() == []
