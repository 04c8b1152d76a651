"""CronJob controller end to end: a real API server (own etcd prefix), the real scheduler, a controller-manager
running the cronjob and job controllers, and a kubelet stand-in that makes the Jobs' pods succeed.

Only `test_creates_a_job_at_the_next_minute` waits for a real minute boundary. The others make schedule times
already due by writing `status.lastScheduleTime` into the past, which is what the controller sees after it was
down for a while: the most recent missed time is due at once.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from cluster import Component, Stack
from standin import KubeletStandIn, register_node
from support.polling import wait_until

pytestmark = pytest.mark.e2e

NODES = ["cron-node-a"]
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"


class Env:
    def __init__(self, url: str, kubelet: KubeletStandIn) -> None:
        self.url, self.kubelet = url, kubelet
        self.http = requests.Session()

    def namespace(self) -> str:
        name = f"cj-{uuid.uuid4().hex[:8]}"
        self.http.post(f"{self.url}/api/v1/namespaces",
                       json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).raise_for_status()
        return name

    def path(self, ns: str, plural: str, name: str = "") -> str:
        return f"{self.url}/apis/batch/v1/namespaces/{ns}/{plural}" + (f"/{name}" if name else "")

    def create(self, ns: str, plural: str, body: dict) -> dict:
        response = self.http.post(self.path(ns, plural), json=body)
        response.raise_for_status()
        return response.json()

    def get(self, ns: str, plural: str, name: str) -> dict:
        return self.http.get(self.path(ns, plural, name)).json()

    def jobs(self, ns: str) -> dict[str, dict]:
        return {j["metadata"]["name"]: j for j in self.http.get(self.path(ns, "jobs")).json()["items"]}

    def update_status(self, ns: str, plural: str, name: str, change: Callable[[dict], None]) -> dict:
        """Read, change and write back status, retrying when a controller wrote in between."""
        for _ in range(20):
            obj = self.get(ns, plural, name)
            change(obj.setdefault("status", {}))
            response = self.http.put(self.path(ns, plural, name) + "/status", json=obj)
            if response.status_code != 409:
                response.raise_for_status()
                return response.json()
            time.sleep(0.05)
        raise AssertionError(f"could not update the status of {plural}/{name}")

    def events(self, ns: str, reason: str) -> list[dict]:
        """Events about CronJobs (the Jobs' own events share the namespace)."""
        items = self.http.get(f"{self.url}/api/v1/namespaces/{ns}/events").json()["items"]
        return [e for e in items if e["reason"] == reason and e["involvedObject"]["kind"] == "CronJob"]


def stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def minutes_ago(minutes: int) -> str:
    now = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
    return stamp(now - datetime.timedelta(minutes=minutes))


@pytest.fixture(scope="module")
def env(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("cronjob")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "cj")
        for name in NODES:
            register_node(server.url, name)
        kubelet = stack.start(KubeletStandIn(server.url, NODES))
        stack.start(Component("scheduler", server.url, workdir, ["--leader-elect=false"]))
        stack.start(Component("controller-manager", server.url, workdir,
                              ["--controllers=cronjob,job", "--leader-elect=false"]))
        yield Env(server.url, kubelet)

def cronjob(name: str, schedule: str = "*/1 * * * *", **spec: Any) -> dict:
    template = {"metadata": {"labels": {"cron": name}, "annotations": {"team": "batch"}},
                "spec": {"template": {"spec": {"restartPolicy": "Never",
                                               "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": schedule, "jobTemplate": template, **spec}}


def owned_job(cj: dict, name: str, suspend: bool = True) -> dict:
    """A Job that looks as if the CronJob had made it (suspended, so it runs no pods)."""
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "CronJob", "name": cj["metadata"]["name"],
                 "uid": cj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"suspend": suspend, "template": {"spec": {"restartPolicy": "Never",
                                                               "containers": [{"name": "c", "image": "busybox"}]}}}}


def reference(job: dict) -> dict:
    meta = job["metadata"]
    return {"kind": "Job", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
            "apiVersion": "batch/v1", "resourceVersion": meta["resourceVersion"]}


def test_creates_a_job_at_the_next_minute(env: Env) -> None:
    ns = env.namespace()
    name = f"tick-{uuid.uuid4().hex[:6]}"
    env.kubelet.phase_for[name] = "Succeeded"
    cj = env.create(ns, "cronjobs", cronjob(name, successfulJobsHistoryLimit=2))
    jobs = wait_until(lambda: env.jobs(ns), timeout=75, what="a Job at the next minute boundary")
    (job_name, job), = jobs.items()
    minutes = int(job_name.rsplit("-", 1)[1])
    scheduled = datetime.datetime.fromtimestamp(minutes * 60, datetime.UTC)
    assert job_name == f"{name}-{minutes}"
    assert job["metadata"]["annotations"][SCHEDULED] == stamp(scheduled)
    assert job["metadata"]["annotations"]["team"] == "batch"
    assert job["metadata"]["labels"]["cron"] == name
    ref = job["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("CronJob", name, cj["metadata"]["uid"], True)

    status = wait_until(lambda: (s := env.get(ns, "cronjobs", name).get("status", {})).get("lastScheduleTime") and s,
                        what="lastScheduleTime")
    assert status["lastScheduleTime"] == stamp(scheduled)
    # The Job's pod succeeds; the CronJob then drops it from active and records the success.
    status = wait_until(lambda: (s := env.get(ns, "cronjobs", name).get("status", {})).get("lastSuccessfulTime")
                        and not s.get("active") and s, timeout=30, what="lastSuccessfulTime")
    assert status["lastSuccessfulTime"] >= status["lastScheduleTime"]
    assert wait_until(lambda: env.events(ns, "SawCompletedJob"), what="a SawCompletedJob event")
    assert env.events(ns, "SuccessfulCreate")[0]["message"] == f"Created job {job_name}"


@pytest.mark.parametrize("policy", ["Forbid", "Allow", "Replace"])
def test_concurrency_policy(env: Env, policy: str) -> None:
    ns = env.namespace()
    name = f"conc-{policy.lower()}"
    cj = env.create(ns, "cronjobs", cronjob(name, concurrencyPolicy=policy))
    running = env.create(ns, "jobs", owned_job(cj, f"{name}-running"))
    # The controller was "away" for five minutes while an earlier Job still runs: the latest time is due now.
    env.update_status(ns, "cronjobs", name, lambda s: s.update(active=[reference(running)],
                                                               lastScheduleTime=minutes_ago(5)))
    if policy == "Forbid":
        event = wait_until(lambda: env.events(ns, "JobAlreadyActive"), what="a JobAlreadyActive event")[0]
        assert event["message"] == ("Not starting job because prior execution is running and concurrency "
                                    "policy is Forbid")
        assert list(env.jobs(ns)) == [f"{name}-running"]
        status = env.get(ns, "cronjobs", name)["status"]
        assert [r["name"] for r in status["active"]] == [f"{name}-running"]
        return
    status = wait_until(lambda: (s := env.get(ns, "cronjobs", name)["status"]) and s["lastScheduleTime"]
                        != minutes_ago(5) and s, what="a new schedule time to be handled")
    scheduled = datetime.datetime.fromisoformat(status["lastScheduleTime"].replace("Z", "+00:00"))
    new_job = f"{name}-{int(scheduled.timestamp()) // 60}"
    active = [r["name"] for r in status["active"]]
    if policy == "Allow":
        assert sorted(active) == sorted([f"{name}-running", new_job])
        assert sorted(env.jobs(ns)) == sorted([f"{name}-running", new_job])
    else:
        assert active == [new_job]
        wait_until(lambda: list(env.jobs(ns)) == [new_job], what="the running Job to be replaced")
        assert env.events(ns, "SuccessfulDelete")[0]["message"] == f"Deleted job {name}-running"


def test_history_limits_prune_the_oldest_finished_jobs(env: Env) -> None:
    ns = env.namespace()
    name = "history"
    # Suspended: no new Jobs, but finished ones are still pruned.
    cj = env.create(ns, "cronjobs", cronjob(name, suspend=True, successfulJobsHistoryLimit=1,
                                            failedJobsHistoryLimit=1))
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    outcomes = {"ok-1": "Complete", "ok-2": "Complete", "ok-3": "Complete", "bad-1": "Failed", "bad-2": "Failed"}
    for index, (suffix, outcome) in enumerate(outcomes.items()):
        job_name = f"{name}-{suffix}"
        env.create(ns, "jobs", owned_job(cj, job_name))
        started = stamp(start + datetime.timedelta(minutes=index))

        def finish(status: dict, outcome: str = outcome, started: str = started) -> None:
            status.clear()
            status["startTime"] = started
            interim = "SuccessCriteriaMet" if outcome == "Complete" else "FailureTarget"
            reason = "CompletionsReached" if outcome == "Complete" else "BackoffLimitExceeded"
            status["conditions"] = [{"type": kind, "status": "True", "reason": reason, "message": "",
                                     "lastProbeTime": started, "lastTransitionTime": started}
                                    for kind in (interim, outcome)]
            if outcome == "Complete":
                status["completionTime"] = started
                status["succeeded"] = 1
            else:
                status["failed"] = 1

        env.update_status(ns, "jobs", job_name, finish)

    wait_until(lambda: sorted(env.jobs(ns)) == [f"{name}-bad-2", f"{name}-ok-3"], what="the oldest Jobs to be pruned")
    # The controller records each deletion's event after the deletion itself (events are written in the background).
    expected = [f"Deleted job {name}-{s}" for s in ("bad-1", "ok-1", "ok-2")]
    wait_until(lambda: sorted(e["message"] for e in env.events(ns, "SuccessfulDelete")) == expected,
               what="an event for each pruned Job")
    status = wait_until(lambda: (s := env.get(ns, "cronjobs", name).get("status", {})).get("lastSuccessfulTime")
                        and s, what="lastSuccessfulTime")
    assert status["lastSuccessfulTime"] == stamp(start + datetime.timedelta(minutes=2))


def test_suspend_stops_scheduling(env: Env) -> None:
    ns = env.namespace()
    name = "paused"
    env.create(ns, "cronjobs", cronjob(name, suspend=True))
    env.update_status(ns, "cronjobs", name, lambda s: s.update(lastScheduleTime=minutes_ago(5)))
    time.sleep(2)
    assert env.jobs(ns) == {}, "a suspended CronJob must not start Jobs"
    env.http.patch(env.path(ns, "cronjobs", name), json={"spec": {"suspend": False}},
                   headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    jobs = wait_until(lambda: env.jobs(ns), what="the missed schedule time to run once resumed")
    assert len(jobs) == 1


def test_too_many_missed_start_times(env: Env) -> None:
    ns = env.namespace()
    name = "wedged"
    env.create(ns, "cronjobs", cronjob(name, suspend=True))
    env.update_status(ns, "cronjobs", name, lambda s: s.update(lastScheduleTime=minutes_ago(180)))
    env.http.patch(env.path(ns, "cronjobs", name), json={"spec": {"suspend": False}},
                   headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    event = wait_until(lambda: env.events(ns, "TooManyMissedTimes"), what="a TooManyMissedTimes event")[0]
    assert event["type"] == "Warning"
    assert event["message"] == ("too many missed start times. Set or decrease .spec.startingDeadlineSeconds or "
                                "check clock skew")
    # It still starts the most recent missed run, and only that one.
    jobs = wait_until(lambda: env.jobs(ns), what="the most recent missed run")
    assert len(jobs) == 1
