"""Job controller end to end: a real API server (own etcd prefix), the real scheduler, a controller-manager running
only the job controller, and a kubelet stand-in whose `phase_for` decides whether a Job's pods succeed or fail.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from cluster import Component, Stack
from standin import KubeletStandIn, register_node
from support.builders import job
from support.polling import wait_until

pytestmark = pytest.mark.e2e

NODES = ["job-node-a", "job-node-b"]


class Env:
    def __init__(self, url: str, kubelet: KubeletStandIn) -> None:
        self.url, self.kubelet = url, kubelet
        self.http = requests.Session()

    def namespace(self) -> str:
        name = f"job-{uuid.uuid4().hex[:8]}"
        self.http.post(f"{self.url}/api/v1/namespaces",
                       json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).raise_for_status()
        return name

    def pods(self, ns: str) -> list[dict]:
        return self.http.get(f"{self.url}/api/v1/namespaces/{ns}/pods").json()["items"]

    def job(self, ns: str, name: str) -> dict:
        return self.http.get(f"{self.url}/apis/batch/v1/namespaces/{ns}/jobs/{name}").json()

    def create(self, ns: str, body: dict) -> dict:
        response = self.http.post(f"{self.url}/apis/batch/v1/namespaces/{ns}/jobs", json=body)
        response.raise_for_status()
        return response.json()

    def events(self, ns: str) -> list[dict]:
        return self.http.get(f"{self.url}/api/v1/namespaces/{ns}/events").json()["items"]


def conditions(job: dict) -> dict[str, dict]:
    return {c["type"]: c for c in job.get("status", {}).get("conditions", []) if c["status"] == "True"}


@pytest.fixture(scope="module")
def env(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("job")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "job")
        for name in NODES:
            register_node(server.url, name)
        kubelet = stack.start(KubeletStandIn(server.url, NODES))
        stack.start(Component("scheduler", server.url, workdir, ["--leader-elect=false"]))
        stack.start(Component("controller-manager", server.url, workdir, ["--controllers=job", "--leader-elect=false"]))
        yield Env(server.url, kubelet)

def test_completions_with_parallelism(env: Env) -> None:
    ns = env.namespace()
    name = f"pi-{uuid.uuid4().hex[:6]}"
    env.kubelet.phase_for[name] = "Succeeded"
    env.kubelet.ready_delay = 1.0  # pods stay Pending for a second, so parallelism is observable
    try:
        created = env.create(ns, job(name, completions=3, parallelism=2))

        def at_most_two_running() -> None:
            running = [p for p in env.pods(ns) if p["status"].get("phase") not in ("Succeeded", "Failed")
                       and not p["metadata"].get("deletionTimestamp")]
            assert len(running) <= 2, f"{len(running)} pods run at once with parallelism 2"

        done = wait_until(lambda: "Complete" in conditions(j := env.job(ns, name)) and j, timeout=30,
                          what="the Job to complete", invariant=at_most_two_running)
    finally:
        env.kubelet.ready_delay = 0.0
    pods = env.pods(ns)
    assert len(pods) == 3
    assert all(p["status"]["phase"] == "Succeeded" for p in pods)
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == name
        assert labels["batch.kubernetes.io/controller-uid"] == created["metadata"]["uid"]
        ref = pod["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["controller"]) == ("Job", name, True)
        assert pod["metadata"]["name"].startswith(f"{name}-")
    status = done["status"]
    assert status["succeeded"] == 3
    assert "failed" not in status
    assert status.get("active", 0) == 0
    assert status["ready"] == 0
    assert status["startTime"] and status["completionTime"]
    found = conditions(done)
    assert found["SuccessCriteriaMet"]["reason"] == found["Complete"]["reason"] == "CompletionsReached"
    assert found["Complete"]["message"] == "Reached expected number of succeeded pods"
    assert "Failed" not in found
    wait_until(lambda: any(e["reason"] == "Completed" and e["involvedObject"]["name"] == name
                           for e in env.events(ns)), what="a Completed event")


def test_failing_job_hits_backoff_limit(env: Env) -> None:
    ns = env.namespace()
    name = f"fail-{uuid.uuid4().hex[:6]}"
    env.kubelet.phase_for[name] = "Failed"
    env.create(ns, job(name, backoffLimit=1))
    # The first failure is followed by a 10 s back-off before the replacement pod starts.
    failed = wait_until(lambda: "Failed" in conditions(j := env.job(ns, name)) and j, timeout=30,
                        what="the Job to fail")
    found = conditions(failed)
    assert found["Failed"]["reason"] == found["FailureTarget"]["reason"] == "BackoffLimitExceeded"
    assert found["Failed"]["message"] == "Job has reached the specified backoff limit"
    assert failed["status"]["failed"] == 2
    assert "completionTime" not in failed["status"]
    assert len(env.pods(ns)) == 2
    wait_until(lambda: any(e["reason"] == "BackoffLimitExceeded" and e["type"] == "Warning"
                           for e in env.events(ns)), what="a BackoffLimitExceeded event")


def test_active_deadline_fails_the_job_and_stops_its_pods(env: Env) -> None:
    ns = env.namespace()
    name = f"slow-{uuid.uuid4().hex[:6]}"
    env.create(ns, job(name, activeDeadlineSeconds=2, parallelism=2, completions=4))
    wait_until(lambda: sum(p["status"].get("phase") == "Running" for p in env.pods(ns)) == 2, what="2 running pods")
    failed = wait_until(lambda: "Failed" in conditions(j := env.job(ns, name)) and j, timeout=20,
                        what="the deadline to fail the Job")
    found = conditions(failed)
    assert found["Failed"]["reason"] == "DeadlineExceeded"
    assert found["Failed"]["message"] == "Job was active longer than specified deadline"
    assert failed["status"].get("active", 0) == 0
    wait_until(lambda: not env.pods(ns), what="the running pods to be deleted")


def test_ttl_after_finished_deletes_the_job(env: Env) -> None:
    ns = env.namespace()
    name = f"ttl-{uuid.uuid4().hex[:6]}"
    env.kubelet.phase_for[name] = "Succeeded"
    env.create(ns, job(name, ttlSecondsAfterFinished=2))
    done = wait_until(lambda: "Complete" in conditions(j := env.job(ns, name)) and j, what="the Job to complete")
    assert done["spec"]["ttlSecondsAfterFinished"] == 2
    started = time.monotonic()
    wait_until(lambda: env.http.get(f"{env.url}/apis/batch/v1/namespaces/{ns}/jobs/{name}").status_code == 404,
               timeout=15, what="the finished Job to be deleted")
    assert time.monotonic() - started >= 0.5, "deleted before its TTL ran out"


def test_suspended_job_runs_no_pods_until_resumed(env: Env) -> None:
    ns = env.namespace()
    name = f"later-{uuid.uuid4().hex[:6]}"
    env.kubelet.phase_for[name] = "Succeeded"
    env.create(ns, job(name, suspend=True))
    suspended = wait_until(lambda: "Suspended" in conditions(j := env.job(ns, name)) and j, what="Suspended")
    assert conditions(suspended)["Suspended"]["reason"] == "JobSuspended"
    assert "startTime" not in suspended["status"]
    assert env.pods(ns) == []
    env.http.patch(f"{env.url}/apis/batch/v1/namespaces/{ns}/jobs/{name}", json={"spec": {"suspend": False}},
                   headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    done = wait_until(lambda: "Complete" in conditions(j := env.job(ns, name)) and j, what="the resumed Job")
    resumed = next(c for c in done["status"]["conditions"] if c["type"] == "Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "JobResumed")
