"""The real `kubeling scheduler` against a real API server: placement, spreading, unschedulable pods, bursts.

Each test gets its own API server (own etcd prefix) and scheduler, since a scheduler places pods onto every
node it sees and these tests register nodes.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from cluster import APIServer, Component
from standin import register_node
from support.polling import wait_until

KUBECTL = Path("/usr/bin/kubectl")


class Cluster:
    def __init__(self, server: APIServer, scheduler: Component) -> None:
        self.server, self.scheduler = server, scheduler
        self.url = server.url
        self.session = requests.Session()
        self.namespace = f"sched-{uuid.uuid4().hex[:6]}"
        self.session.post(f"{self.url}/api/v1/namespaces",
                          json={"metadata": {"name": self.namespace}}).raise_for_status()

    def create_pod(self, name: str, cpu: str | None = None, owner: str | None = None, **spec) -> dict:
        resources = {"requests": {"cpu": cpu, "memory": "64Mi"}} if cpu else {}
        metadata: dict = {"name": name}
        if owner:
            metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                            "uid": owner, "controller": True}]
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                "spec": {"containers": [{"name": "app", "image": "nginx", "resources": resources}], **spec}}
        response = requests.post(f"{self.url}/api/v1/namespaces/{self.namespace}/pods", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def pods(self) -> list[dict]:
        return self.session.get(f"{self.url}/api/v1/namespaces/{self.namespace}/pods").json()["items"]

    def pod(self, name: str) -> dict:
        return self.session.get(f"{self.url}/api/v1/namespaces/{self.namespace}/pods/{name}").json()

    def node_of(self, name: str, timeout: float = 20.0) -> str:
        return wait_until(lambda: self.pod(name)["spec"].get("nodeName"), timeout, f"pod {name} to be bound")

    def kubectl(self, *args: str) -> str:
        result = subprocess.run([str(KUBECTL), f"--server={self.url}", *args], capture_output=True, text=True,
                                timeout=30, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "KUBECONFIG": "/dev/null"})
        assert result.returncode == 0, result.stderr
        return result.stdout


def scheduled_condition(pod: dict) -> dict:
    return next((c for c in pod.get("status", {}).get("conditions") or [] if c["type"] == "PodScheduled"), {})


@pytest.fixture
def scheduler_flags() -> list[str]:
    return []


@pytest.fixture
def sched(etcd, tmp_path, scheduler_flags):
    server = APIServer(etcd.url, tmp_path, prefix=f"/sched-{uuid.uuid4().hex[:8]}").start()
    scheduler = None
    try:
        scheduler = Component("scheduler", server.url, tmp_path, scheduler_flags).start()
        yield Cluster(server, scheduler)
    finally:
        if scheduler is not None:
            scheduler.stop()
            print(scheduler.logs()[-3000:])
        if server.proc is not None:  # a private server with a throwaway prefix: no need for a graceful stop
            server.proc.kill()
            server.proc.wait(10)


def test_pods_are_bound_respecting_node_selector_taints_and_resources(sched):
    register_node(sched.url, "a", cpu="2", labels={"disk": "ssd"})
    register_node(sched.url, "b", cpu="2", labels={"role": "db"},
                  taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    register_node(sched.url, "c", cpu="4")
    toleration = [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]
    sched.create_pod("on-ssd", nodeSelector={"disk": "ssd"})
    sched.create_pod("on-db", nodeSelector={"role": "db"}, tolerations=toleration)
    sched.create_pod("big", cpu="3")
    sched.create_pod("intolerant", nodeSelector={"role": "db"})
    for index in range(4):
        sched.create_pod(f"free-{index}", cpu="100m")

    assert sched.node_of("on-ssd") == "a"
    assert sched.node_of("on-db") == "b"
    assert sched.node_of("big") == "c"
    for index in range(4):
        assert sched.node_of(f"free-{index}") in ("a", "c")  # never the tainted node
    condition = wait_until(lambda: scheduled_condition(sched.pod("intolerant")), 20, "PodScheduled=False")
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
    assert condition["message"] == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 node(s) didn't match Pod's "
        "node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
    assert not sched.pod("intolerant")["spec"].get("nodeName")


RECORD = "kube-scheduler-simulator.sigs.k8s.io/"


def recorded(pod: dict) -> dict:
    return {k: v for k, v in (pod["metadata"].get("annotations") or {}).items() if k.startswith(RECORD)}


def test_each_decision_is_recorded_on_the_pod(sched):
    register_node(sched.url, "a", cpu="2")
    register_node(sched.url, "b", cpu="2", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    sched.create_pod("web", cpu="100m")
    assert sched.node_of("web") == "a"
    record = wait_until(lambda: recorded(sched.pod("web")), 20, "the decision record on the pod")
    assert record[RECORD + "selected-node"] == "a"
    filters = json.loads(record[RECORD + "filter-result"])
    assert filters["b"]["TaintToleration"] == "node(s) had untolerated taint {dedicated: db}"
    assert set(filters["a"].values()) == {"passed"}


@pytest.mark.parametrize("scheduler_flags", [["--record-decisions=false"]])
def test_record_decisions_false_binds_without_a_record(sched):
    """The flag for large clusters: the same choice, no annotations."""
    register_node(sched.url, "a", cpu="2")
    register_node(sched.url, "b", cpu="2", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    sched.create_pod("web", cpu="100m")
    sched.create_pod("picky", nodeSelector={"disk": "ssd"})
    assert sched.node_of("web") == "a"
    wait_until(lambda: scheduled_condition(sched.pod("picky")).get("status") == "False", 20, "picky unschedulable")
    assert recorded(sched.pod("web")) == {} and recorded(sched.pod("picky")) == {}


def test_replicas_of_one_owner_spread_evenly(sched):
    for name in ("x", "y", "z"):
        register_node(sched.url, name)
    owner = str(uuid.uuid4())
    for index in range(10):
        sched.create_pod(f"web-{index}", cpu="100m", owner=owner)
    nodes = [sched.node_of(f"web-{index}") for index in range(10)]
    counts = [nodes.count(name) for name in ("x", "y", "z")]
    assert sum(counts) == 10 and max(counts) - min(counts) <= 1, counts


def test_unschedulable_pod_is_explained_then_scheduled_when_a_node_fits(sched):
    register_node(sched.url, "small-1", cpu="1")
    register_node(sched.url, "small-2", cpu="1")
    register_node(sched.url, "tainted", cpu="4", taints=[{"key": "key", "value": "value", "effect": "NoSchedule"}])
    sched.create_pod("hungry", cpu="2")
    expected = ("0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu. "
                "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
                "2 No preemption victims found for incoming pod.")
    condition = wait_until(lambda: scheduled_condition(sched.pod("hungry")), 20, "PodScheduled=False")
    assert (condition["status"], condition["reason"], condition["message"]) == ("False", "Unschedulable", expected)

    def described() -> str:
        text = sched.kubectl("describe", "pod", "hungry", "-n", sched.namespace)
        return text if "FailedScheduling" in text else ""

    text = wait_until(described, 20, "the FailedScheduling event")
    assert "PodScheduled   False" in text
    event_line = next(line for line in text.splitlines() if "FailedScheduling" in line)
    assert event_line.split()[:2] == ["Warning", "FailedScheduling"]
    assert "default-scheduler" in event_line and expected in event_line

    time.sleep(1.5)  # nothing changed: it stays pending (and the scheduler does not spin on it)
    assert not sched.pod("hungry")["spec"].get("nodeName")
    register_node(sched.url, "big", cpu="4")
    assert sched.node_of("hungry", timeout=20) == "big"
    condition = scheduled_condition(sched.pod("hungry"))
    assert condition["status"] == "True" and "reason" not in condition and "message" not in condition
    metrics = requests.get(f"http://127.0.0.1:{sched.scheduler.health_port}/metrics", timeout=5).text
    assert 'scheduler_schedule_attempts_total{profile="default-scheduler",result="unschedulable"}' in metrics
    assert "scheduler_e2e_scheduling_duration_seconds_bucket" in metrics


def test_a_burst_never_over_commits_a_node(sched):
    register_node(sched.url, "room-1", cpu="1")
    register_node(sched.url, "room-2", cpu="1")  # 10 pods of 100m each fit on each node
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda i: sched.create_pod(f"burst-{i:02}", cpu="100m"), range(30)))

    def settled():
        pods = sched.pods()
        bound = [p for p in pods if p["spec"].get("nodeName")]
        refused = [p for p in pods if scheduled_condition(p).get("reason") == "Unschedulable"
                   and not p["spec"].get("nodeName")]
        return (bound, refused) if len(bound) + len(refused) == 30 else None

    bound, refused = wait_until(settled, 30, "every pod to be bound or refused")
    time.sleep(1.0)
    bound = [p for p in sched.pods() if p["spec"].get("nodeName")]
    assert len(bound) == 20 and len(refused) == 10
    for node in ("room-1", "room-2"):
        assert sum(1 for p in bound if p["spec"]["nodeName"] == node) == 10
    assert "2 Insufficient cpu" in scheduled_condition(refused[0])["message"]


def test_pods_for_another_scheduler_are_left_alone(sched):
    register_node(sched.url, "only")
    sched.create_pod("ours", schedulerName="default-scheduler")
    sched.create_pod("also-ours", schedulerName="kubeling")
    sched.create_pod("theirs", schedulerName="someone-else")
    assert sched.node_of("ours") == "only"
    assert sched.node_of("also-ours") == "only"
    time.sleep(2)  # the scheduler has had every chance to take it
    theirs = sched.pod("theirs")
    assert not theirs["spec"].get("nodeName")
    assert not scheduled_condition(theirs)  # not even marked unschedulable: it is not ours to judge
