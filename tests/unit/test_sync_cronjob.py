"""CronJobController.sync on hand-fed caches and a fixed clock (upstream: pkg/controller/cronjob/
cronjob_controllerv2_test.go, TestControllerV2SyncCronJob): the Job started for the latest schedule time, the
concurrency policies, missed deadlines and the history limits."""

from __future__ import annotations

import datetime

from kubeling.controllers.cronjob import CronJobController
from support.builders import cronjob, job, owner_ref
from support.fakeclient import ControllerFixture, controller_fixture

KEY = "default/tick"
UTC = datetime.UTC
CREATED = datetime.datetime(2025, 3, 10, 10, 0, 0, tzinfo=UTC)


def with_cronjob(now: datetime.datetime, status: dict | None = None, **spec: object) -> tuple[ControllerFixture, dict]:
    f = controller_fixture(CronJobController)
    f.controller.clock = lambda: now
    cj = cronjob("tick", uid="cj-1", **spec)
    cj["metadata"]["creationTimestamp"] = "2025-03-10T10:00:00Z"
    if status:
        cj["status"] = status
    (cj,) = f.add(cj)
    return f, cj


def child(cj: dict, name: str, finished: str | None = None, at: str = "2025-03-10T10:00:30Z") -> dict:
    j = job(name, uid=f"uid-{name}")
    j["metadata"]["ownerReferences"] = [owner_ref(cj)]
    j["metadata"]["creationTimestamp"] = at
    if finished:
        j["status"] = {"conditions": [{"type": finished, "status": "True"}], "completionTime": at}
    return j


def at(minute: int, second: int = 0) -> datetime.datetime:
    return CREATED + datetime.timedelta(minutes=minute, seconds=second)


def test_starts_the_job_of_the_latest_schedule_time_and_records_it() -> None:
    f, _ = with_cronjob(at(3, 30))
    f.sync(KEY)
    (create,) = f.actions("create", "jobs")
    scheduled = at(3)
    assert create.object["metadata"]["name"] == f"tick-{int(scheduled.timestamp()) // 60}"
    assert create.object["metadata"]["ownerReferences"][0]["uid"] == "cj-1"
    status = f.actions("update", "cronjobs", "status")[-1].object["status"]
    assert status["lastScheduleTime"] == "2025-03-10T10:03:00Z"
    assert [ref["name"] for ref in status["active"]] == [create.object["metadata"]["name"]]


def test_does_nothing_before_the_first_schedule_time() -> None:
    f, _ = with_cronjob(at(0, 30))
    f.sync(KEY)
    assert f.actions() == []


def test_does_not_start_a_schedule_time_twice() -> None:
    f, _ = with_cronjob(at(3, 30), status={"lastScheduleTime": "2025-03-10T10:03:00Z"})
    f.sync(KEY)
    assert f.actions("create", "jobs") == []


def test_forbid_skips_a_run_while_the_last_one_is_active() -> None:
    f, cj = with_cronjob(at(3, 30), concurrencyPolicy="Forbid",
                         status={"lastScheduleTime": "2025-03-10T10:02:00Z"})
    (running,) = f.add(child(cj, "tick-old"))
    cj["status"]["active"] = [{"kind": "Job", "name": "tick-old", "namespace": "default",
                               "uid": running["metadata"]["uid"], "apiVersion": "batch/v1"}]
    f.add(cj)
    f.sync(KEY)
    assert f.actions("create", "jobs") == []
    assert "JobAlreadyActive" in f.recorder.reasons()


def test_replace_deletes_the_running_job_then_starts_the_new_one() -> None:
    f, cj = with_cronjob(at(3, 30), concurrencyPolicy="Replace",
                         status={"lastScheduleTime": "2025-03-10T10:02:00Z"})
    (running,) = f.add(child(cj, "tick-old"))
    cj["status"]["active"] = [{"kind": "Job", "name": "tick-old", "namespace": "default",
                               "uid": running["metadata"]["uid"], "apiVersion": "batch/v1"}]
    f.add(cj)
    f.sync(KEY)
    assert [(a.name, a.object["propagationPolicy"]) for a in f.actions("delete", "jobs")] == [
        ("tick-old", "Background")]
    assert len(f.actions("create", "jobs")) == 1


def test_a_suspended_cronjob_starts_nothing() -> None:
    f, _ = with_cronjob(at(3, 30), suspend=True)
    f.sync(KEY)
    assert f.actions("create", "jobs") == []


def test_a_schedule_time_older_than_the_starting_deadline_is_not_started() -> None:
    f, _ = with_cronjob(at(3, 50), startingDeadlineSeconds=10)
    f.sync(KEY)
    assert f.actions("create", "jobs") == []
    f.controller.clock = lambda: at(4, 5)  # 10:04 is within the deadline
    f.sync(KEY)
    assert len(f.actions("create", "jobs")) == 1


def test_a_finished_active_job_leaves_the_active_list() -> None:
    f, cj = with_cronjob(at(2, 30), status={"lastScheduleTime": "2025-03-10T10:02:00Z"})
    (done,) = f.add(child(cj, "tick-done", finished="Complete", at="2025-03-10T10:02:20Z"))
    cj["status"]["active"] = [{"kind": "Job", "name": "tick-done", "namespace": "default",
                               "uid": done["metadata"]["uid"], "apiVersion": "batch/v1"}]
    f.add(cj)
    f.sync(KEY)
    status = f.actions("update", "cronjobs", "status")[-1].object["status"]
    assert "active" not in status
    assert status["lastSuccessfulTime"] == "2025-03-10T10:02:20Z"
    assert "SawCompletedJob" in f.recorder.reasons()


def test_keeps_only_the_newest_finished_jobs_within_the_history_limits() -> None:
    f, cj = with_cronjob(at(0, 30), successfulJobsHistoryLimit=1, failedJobsHistoryLimit=0)
    f.add(child(cj, "ok-1", "Complete", "2025-03-10T09:01:00Z"), child(cj, "ok-2", "Complete", "2025-03-10T09:02:00Z"),
          child(cj, "ok-3", "Complete", "2025-03-10T09:03:00Z"), child(cj, "bad-1", "Failed", "2025-03-10T09:04:00Z"))
    f.sync(KEY)
    assert sorted(a.name for a in f.actions("delete", "jobs")) == ["bad-1", "ok-1", "ok-2"]


def test_an_unparseable_schedule_is_an_event_not_a_crash() -> None:
    f, _ = with_cronjob(at(3), schedule="every minute")
    f.sync(KEY)
    assert f.actions("create", "jobs") == []
    assert f.recorder.reasons() == ["UnparseableSchedule"]
