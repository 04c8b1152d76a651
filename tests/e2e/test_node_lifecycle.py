"""Node lifecycle and IPAM: a node whose kubelet stops renewing its Lease goes NotReady, is tainted unreachable,
and its pods are evicted and recreated elsewhere; every node gets its own podCIDR.

Runs on its own API server (its own etcd prefix), because it registers nodes and binds pods.
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cluster import ROOT, Component, Stack
from standin import KubeletStandIn, register_node
from support.polling import wait_until

GRACE = 4.0
TOLERATION_SECONDS = 2
NODE_A, NODE_B = "nl-node-a", "nl-node-b"


def scheduler_available() -> bool:
    result = subprocess.run([sys.executable, "-m", "kubeling", "scheduler", "--help"], capture_output=True,
                            env={"PYTHONPATH": str(ROOT / "agents"), "PATH": "/usr/bin:/bin"}, timeout=60)
    return result.returncode == 0


class Binder:
    """A stand-in scheduler (used only while `kubeling scheduler` does not exist): binds pending pods to a node
    without NoSchedule taints, round robin."""

    def __init__(self, server: str) -> None:
        self.server, self.session = server, requests.Session()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._turn = 0

    def start(self) -> Binder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(requests.RequestException):
                self._bind_pending()

    def _bind_pending(self) -> None:
        nodes = self.session.get(f"{self.server}/api/v1/nodes").json()["items"]
        usable = sorted(n["metadata"]["name"] for n in nodes
                        if not any(t.get("effect") == "NoSchedule" for t in n["spec"].get("taints") or []))
        if not usable:
            return
        pods = self.session.get(f"{self.server}/api/v1/pods", params={"fieldSelector": "spec.nodeName="}).json()
        for pod in pods["items"]:
            meta = pod["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            node = usable[self._turn % len(usable)]
            self._turn += 1
            self.session.post(f"{self.server}/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
                              json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                                    "target": {"apiVersion": "v1", "kind": "Node", "name": node}})


@pytest.fixture(scope="module")
def nodes_cluster(etcd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, KubeletStandIn]]:
    workdir: Path = tmp_path_factory.mktemp("nodelifecycle")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "nodelifecycle")
        for name in (NODE_A, NODE_B):
            register_node(server.url, name)
        standin = stack.start(KubeletStandIn(server.url, [NODE_A, NODE_B]))
        stack.start(Component("controller-manager", server.url, workdir, [
            "--controllers=nodelifecycle,nodeipam,replicaset", "--leader-elect=false",
            f"--node-monitor-grace-period={GRACE:g}s", "--node-monitor-period=1s"]))
        if scheduler_available():
            stack.start(Component("scheduler", server.url, workdir, ["--leader-elect=false"]))
        else:
            stack.start(Binder(server.url))
        yield server.url, standin

def get(url: str, **params: Any) -> Any:
    response = requests.get(url, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def new_namespace(server: str) -> str:
    name = f"nl-{uuid.uuid4().hex[:6]}"
    requests.post(f"{server}/api/v1/namespaces", json={"metadata": {"name": name}}, timeout=10).raise_for_status()
    return name


def ready_status(node: dict) -> str:
    return next((c["status"] for c in node["status"].get("conditions") or [] if c["type"] == "Ready"), "")


def test_nodes_get_distinct_pod_cidrs(nodes_cluster: tuple[str, KubeletStandIn]) -> None:
    server, _ = nodes_cluster

    def cidrs() -> list[str] | None:
        nodes = [get(f"{server}/api/v1/nodes/{name}") for name in (NODE_A, NODE_B)]
        found = [n["spec"].get("podCIDR") for n in nodes]
        return found if all(found) else None

    found = wait_until(cidrs, 15, "podCIDRs on both nodes")
    assert len(set(found)) == 2
    for cidr in found:
        network = ipaddress.ip_network(cidr)
        assert network.prefixlen == 24 and network.subnet_of(ipaddress.ip_network("10.244.0.0/16"))
    node = get(f"{server}/api/v1/nodes/{NODE_A}")
    assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]


def test_not_ready_node_is_tainted(nodes_cluster: tuple[str, KubeletStandIn]) -> None:
    server, _ = nodes_cluster
    name = f"nl-notready-{uuid.uuid4().hex[:4]}"
    register_node(server, name, ready=False)
    try:
        def taints() -> list[str] | None:
            found = [f"{t['key']}:{t['effect']}" for t in get(f"{server}/api/v1/nodes/{name}")["spec"].get("taints")
                     or []]
            return found if len(found) == 2 else None

        assert sorted(wait_until(taints, 10, "not-ready taints")) == [
            "node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/not-ready:NoSchedule"]
    finally:
        requests.delete(f"{server}/api/v1/nodes/{name}", timeout=10)


def test_unreachable_node_pods_are_evicted_and_recreated(nodes_cluster: tuple[str, KubeletStandIn]) -> None:
    server, standin = nodes_cluster
    ns = new_namespace(server)
    labels = {"app": "evictme"}
    rs = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 4, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], "tolerations": [
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": TOLERATION_SECONDS}]}}},
    }
    requests.post(f"{server}/apis/apps/v1/namespaces/{ns}/replicasets", json=rs, timeout=10).raise_for_status()
    pods_url = f"{server}/api/v1/namespaces/{ns}/pods"

    def running() -> list[dict] | None:
        pods = [p for p in get(pods_url)["items"] if not p["metadata"].get("deletionTimestamp")]
        ok = len(pods) == 4 and all(p["status"].get("phase") == "Running" for p in pods)
        return pods if ok else None

    pods = wait_until(running, 20, "4 running pods")
    victim = NODE_A if any(p["spec"]["nodeName"] == NODE_A for p in pods) else NODE_B
    survivor = NODE_B if victim == NODE_A else NODE_A
    on_victim = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == victim}

    standin.paused.add(victim)  # its kubelet "dies": no more lease renewals
    paused_at = time.monotonic()
    try:
        node = wait_until(lambda: (n := get(f"{server}/api/v1/nodes/{victim}")) and ready_status(n) == "Unknown"
                          and n, GRACE + 8, "Ready=Unknown")
        assert time.monotonic() - paused_at > GRACE - 2.5  # not before the grace period (lease renewed every 2s)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "NodeStatusUnknown"
        assert ready["message"] == "Kubelet stopped posting node status."

        def unreachable_taints() -> list[dict] | None:
            taints = [t for t in get(f"{server}/api/v1/nodes/{victim}")["spec"].get("taints") or []
                      if t["key"] == "node.kubernetes.io/unreachable"]
            return taints if len(taints) == 2 else None

        taints = {t["effect"]: t for t in wait_until(unreachable_taints, 5, "unreachable taints")}
        assert set(taints) == {"NoSchedule", "NoExecute"}
        assert taints["NoExecute"].get("timeAdded")

        # Its pods are marked not ready, then evicted once tolerationSeconds have passed.
        def evicted() -> list[dict] | None:
            old = [p for p in get(pods_url)["items"] if p["metadata"]["name"] in on_victim]
            return old if all(p["metadata"].get("deletionTimestamp") for p in old) else None

        old = wait_until(evicted, TOLERATION_SECONDS + 10, "eviction of the pods on the unreachable node")
        for pod in old:
            ready_pod = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
            assert ready_pod["status"] == "False"
        # Events are written by the controller's recorder thread, after the deletion it reports may be visible.
        def eviction_events() -> list[dict] | None:
            events = get(f"{server}/api/v1/namespaces/{ns}/events")["items"]
            evictions = {e["involvedObject"]["name"] for e in events if e["reason"] == "TaintManagerEviction"}
            return events if on_victim <= evictions else None

        events = wait_until(eviction_events, 20, "an eviction event for every pod of the unreachable node")
        message = next(e["message"] for e in events if e["reason"] == "TaintManagerEviction")
        assert message.startswith(f"Marking for deletion Pod {ns}/")
        # The same actions through events.k8s.io/v1: who did what to which pod, on account of which node.
        new_api = get(f"{server}/apis/events.k8s.io/v1/namespaces/{ns}/events")["items"]
        for reason, action in (("TaintManagerEviction", "Evict"), ("NodeNotReady", "UpdateStatus")):
            acted = {e["regarding"]["name"] for e in new_api if e["reason"] == reason and e["action"] == action
                     and e["reportingController"] == "node-controller" and e["regarding"]["kind"] == "Pod"
                     and (e["related"]["kind"], e["related"]["name"]) == ("Node", victim)}
            assert on_victim <= acted, (reason, acted, [e for e in new_api if e["reason"] == reason])

        # The ReplicaSet replaces them on the healthy node.
        def replaced() -> list[dict] | None:
            pods = running()
            return pods if pods and all(p["spec"]["nodeName"] == survivor for p in pods) else None

        wait_until(replaced, 20, "4 running pods on the healthy node")
    finally:
        standin.paused.discard(victim)
