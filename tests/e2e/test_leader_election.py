"""Leader election: of two controller-managers (and two schedulers) only the Lease holder acts; when it is
SIGKILLed, the standby takes over within the lease duration, and no pod is ever created twice.

Runs on its own API server, so the Leases in kube-system are this test's alone.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cluster import ROOT, Component, Stack
from standin import KubeletStandIn, register_node
from support.builders import replicaset
from support.polling import wait_until

LEASE_DURATION = 4.0
ELECTION_FLAGS = ["--leader-elect=true", f"--leader-elect-lease-duration={LEASE_DURATION:g}s",
                  "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s"]
MARGIN = 4.0  # retry period, our polling, and process scheduling on a busy machine
NODE = "le-node"


def scheduler_available() -> bool:
    result = subprocess.run([sys.executable, "-m", "kubeling", "scheduler", "--help"], capture_output=True,
                            env={"PYTHONPATH": str(ROOT / "agents"), "PATH": "/usr/bin:/bin"}, timeout=60)
    return result.returncode == 0


@pytest.fixture(scope="module")
def le_server(etcd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("leaderelection")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "leaderelection")
        yield server.url, workdir

def lease_holder(server: str, name: str) -> str:
    response = requests.get(f"{server}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}", timeout=10)
    if response.status_code != 200:
        return ""
    return response.json()["spec"].get("holderIdentity") or ""


def holder_pid(holder: str) -> int:
    return int(holder.rpartition("_")[2]) if holder else -1


def leader_and_standby(server: str, lease: str, components: list[Component]) -> tuple[Component, Component]:
    pid = holder_pid(wait_until(lambda: lease_holder(server, lease), 15, f"a {lease} leader"))
    leader = next(c for c in components if c.proc and c.proc.pid == pid)
    return leader, next(c for c in components if c is not leader)


def make_namespace(server: str) -> str:
    ns = f"le-{uuid.uuid4().hex[:6]}"
    requests.post(f"{server}/api/v1/namespaces", json={"metadata": {"name": ns}}, timeout=10).raise_for_status()
    return ns


def live_pods(server: str, ns: str, app: str) -> list[dict]:
    pods = requests.get(f"{server}/api/v1/namespaces/{ns}/pods", params={"labelSelector": f"app={app}"},
                        timeout=10).json()["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def assert_exactly(server: str, ns: str, app: str, count: int) -> None:
    wait_until(lambda: len(live_pods(server, ns, app)) == count, 15, f"{count} pods of {app}")
    time.sleep(1.5)  # a second active controller would create more by now
    assert len(live_pods(server, ns, app)) == count


def test_controller_managers_one_leader_and_failover(le_server: tuple[str, Path]) -> None:
    server, workdir = le_server
    managers = [Component("controller-manager", server, workdir, ["--controllers=replicaset", *ELECTION_FLAGS])
                for _ in range(2)]
    try:
        for manager in managers:
            manager.start()
        leader, standby = leader_and_standby(server, "kube-controller-manager", managers)
        ns = make_namespace(server)
        requests.post(f"{server}/apis/apps/v1/namespaces/{ns}/replicasets", json=replicaset("web", replicas=5),
                      timeout=10).raise_for_status()
        assert_exactly(server, ns, "web", 5)
        wait_until(lambda: "started controllers" in leader.logs(), 5, "the leader's controllers")
        assert "started controllers" not in standby.logs()
        assert "replicaset" not in standby.logs().replace("--controllers=replicaset", "")
        # Both answer /healthz, and /metrics in the Prometheus text format counts the leader's syncs.
        for manager in managers:
            health = requests.get(f"http://127.0.0.1:{manager.health_port}/healthz", timeout=5)
            assert health.status_code == 200 and health.text == "ok"
        metrics = requests.get(f"http://127.0.0.1:{leader.health_port}/metrics", timeout=5)
        assert metrics.headers["Content-Type"].startswith("text/plain")
        assert 'kubeling_controller_syncs_total{controller="replicaset",result="success"}' in metrics.text

        leader.kill()
        killed_at = time.monotonic()
        identity = wait_until(lambda: (h := lease_holder(server, "kube-controller-manager")) and
                              holder_pid(h) == standby.proc.pid and h, LEASE_DURATION + MARGIN,
                              "the standby to take the lease")
        took = time.monotonic() - killed_at
        assert took <= LEASE_DURATION + MARGIN, took
        assert identity.endswith(f"_{standby.proc.pid}")
        wait_until(lambda: "started controllers" in standby.logs(), 10, "the new leader's controllers")

        requests.patch(f"{server}/apis/apps/v1/namespaces/{ns}/replicasets/web", json={"spec": {"replicas": 7}},
                       headers={"Content-Type": "application/merge-patch+json"}, timeout=10).raise_for_status()
        assert_exactly(server, ns, "web", 7)
        requests.post(f"{server}/apis/apps/v1/namespaces/{ns}/replicasets", json=replicaset("api", replicas=3),
                      timeout=10).raise_for_status()
        assert_exactly(server, ns, "api", 3)
        names = [p["metadata"]["name"] for p in live_pods(server, ns, "web") + live_pods(server, ns, "api")]
        assert len(names) == len(set(names)) == 10
    finally:
        for manager in managers:
            manager.stop()


def test_schedulers_one_leader_and_failover(le_server: tuple[str, Path]) -> None:
    if not scheduler_available():
        pytest.xfail("`kubeling scheduler` does not exist yet (python -m kubeling scheduler --help fails)")
    server, workdir = le_server
    register_node(server, NODE)
    standin = KubeletStandIn(server, [NODE]).start()
    schedulers = [Component("scheduler", server, workdir, ELECTION_FLAGS) for _ in range(2)]
    try:
        for scheduler in schedulers:
            scheduler.start()
        leader, standby = leader_and_standby(server, "kube-scheduler", schedulers)
        ns = make_namespace(server)

        def create_pods(prefix: str, count: int) -> None:
            for i in range(count):
                requests.post(f"{server}/api/v1/namespaces/{ns}/pods", timeout=10, json={
                    "metadata": {"name": f"{prefix}-{i}", "labels": {"app": prefix}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}).raise_for_status()

        def all_bound(app: str, count: int) -> bool:
            pods = live_pods(server, ns, app)
            return len(pods) == count and all(p["spec"].get("nodeName") == NODE for p in pods)

        create_pods("before", 4)
        wait_until(lambda: all_bound("before", 4), 15, "the leader to bind the pods")

        leader.kill()
        killed_at = time.monotonic()
        wait_until(lambda: holder_pid(lease_holder(server, "kube-scheduler")) == standby.proc.pid,
                   LEASE_DURATION + MARGIN, "the standby scheduler to take the lease")
        assert time.monotonic() - killed_at <= LEASE_DURATION + MARGIN
        create_pods("after", 4)
        wait_until(lambda: all_bound("after", 4), 15, "the new leader to bind the new pods")
        # Each pod was bound once: a second binding would have been refused, and reported as a scheduling event.
        events = requests.get(f"{server}/api/v1/namespaces/{ns}/events", timeout=10).json()["items"]
        scheduled = [e["involvedObject"]["name"] for e in events if e["reason"] == "Scheduled"]
        assert len(scheduled) == len(set(scheduled))
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        standin.stop()
