"""Many clients writing at once: optimistic concurrency loses no update, and allocations never collide."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e

WRITERS = 32
INCREMENTS = 10
DEADLINE_SECONDS = 90


def create_namespace(base: str) -> str:
    name = f"conc-{uuid.uuid4().hex[:8]}"
    response = requests.post(f"{base}/api/v1/namespaces", json={"metadata": {"name": name}}, timeout=10)
    assert response.status_code == 201, response.text
    return name


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(index)` in `count` threads released at the same moment; return results (or exceptions)."""
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def body(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as exc:  # reported by the caller
            results[index] = exc

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_SECONDS + 30)
    assert not any(thread.is_alive() for thread in threads), "a worker thread did not finish"
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    return results


def test_read_modify_write_loses_no_update(apiserver: Any) -> None:
    ns = create_namespace(apiserver.url)
    url = f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps"
    response = requests.post(url, json={"metadata": {"name": "counter"}, "data": {"count": "0"}}, timeout=10)
    assert response.status_code == 201, response.text
    deadline = time.monotonic() + DEADLINE_SECONDS

    def writer(index: int) -> int:
        conflicts = 0
        rng = random.Random(index)
        with requests.Session() as session:
            for _ in range(INCREMENTS):
                for attempt in range(2000):
                    assert time.monotonic() < deadline, f"writer {index} ran out of time"
                    current = session.get(f"{url}/counter", timeout=30)
                    assert current.status_code == 200, current.text
                    obj = current.json()
                    obj["data"]["count"] = str(int(obj["data"]["count"]) + 1)
                    put = session.put(f"{url}/counter", json=obj, timeout=30)
                    if put.status_code == 200:
                        break
                    assert put.status_code == 409, put.text
                    assert put.json()["reason"] == "Conflict"
                    conflicts += 1
                    # Randomised exponential backoff, so that the losers do not collide again in lockstep.
                    time.sleep(rng.uniform(0, min(0.2, 0.005 * 2 ** min(attempt, 6))))
                else:
                    raise AssertionError(f"writer {index} never won a write")
        return conflicts

    conflicts = run_threads(WRITERS, writer)
    final = requests.get(f"{url}/counter", timeout=10).json()
    assert final["data"]["count"] == str(WRITERS * INCREMENTS)
    assert sum(conflicts) > 0  # the writers really did race


def test_concurrent_merge_patches_all_land(apiserver: Any) -> None:
    ns = create_namespace(apiserver.url)
    url = f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps"
    response = requests.post(url, json={"metadata": {"name": "shared"}, "data": {"k": "v"}}, timeout=10)
    assert response.status_code == 201, response.text

    def patcher(index: int) -> int:
        with requests.Session() as session:
            patch = {"metadata": {"annotations": {f"writer-{index:02d}": str(index)}}}
            reply = session.patch(f"{url}/shared", data=json.dumps(patch),
                                  headers={"Content-Type": "application/merge-patch+json"}, timeout=60)
            assert reply.status_code == 200, reply.text
            return reply.status_code

    run_threads(WRITERS, patcher)
    annotations = requests.get(f"{url}/shared", timeout=10).json()["metadata"]["annotations"]
    assert annotations == {f"writer-{i:02d}": str(i) for i in range(WRITERS)}


def node_port_service(name: str, node_port: int | None = None) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    if node_port is not None:
        port["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "NodePort", "selector": {"app": name}, "ports": [port]}}


def test_concurrent_service_allocations(apiserver: Any) -> None:
    ns = create_namespace(apiserver.url)
    url = f"{apiserver.url}/api/v1/namespaces/{ns}/services"
    count = 20

    def creator(index: int) -> dict[str, Any]:
        with requests.Session() as session:
            reply = session.post(url, json=node_port_service(f"svc-{index:02d}"), timeout=60)
            assert reply.status_code == 201, reply.text
            return reply.json()

    services = run_threads(count, creator)
    cluster_ips = [s["spec"]["clusterIP"] for s in services]
    node_ports = [s["spec"]["ports"][0]["nodePort"] for s in services]
    assert len(set(cluster_ips)) == count, cluster_ips
    assert len(set(node_ports)) == count, node_ports
    assert all(30000 <= p <= 32767 for p in node_ports), node_ports
    assert all(s["spec"]["clusterIPs"] == [s["spec"]["clusterIP"]] for s in services)
    # What was stored is what was answered.
    stored = requests.get(url, timeout=10).json()["items"]
    assert sorted(s["spec"]["ports"][0]["nodePort"] for s in stored) == sorted(node_ports)

    # An allocated nodePort cannot be taken by another Service.
    taken = node_ports[0]
    reply = requests.post(url, json=node_port_service("thief", taken), timeout=10)
    assert reply.status_code == 422, reply.text
    status = reply.json()
    assert status["reason"] == "Invalid"
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.ports[0].nodePort"]

    for index in range(count):
        reply = requests.delete(f"{url}/svc-{index:02d}", timeout=10)
        assert reply.status_code == 200, reply.text
    assert requests.get(url, timeout=10).json()["items"] == []

    # The deletes released the allocations: the same nodePort and clusterIP can be asked for again.
    reply = requests.post(url, json=node_port_service("reuse", taken), timeout=10)
    assert reply.status_code == 201, reply.text
    assert reply.json()["spec"]["ports"][0]["nodePort"] == taken
    freed_ip = cluster_ips[1]
    body = node_port_service("reuse-ip")
    body["spec"]["clusterIP"] = freed_ip
    reply = requests.post(url, json=body, timeout=10)
    assert reply.status_code == 201, reply.text
    assert reply.json()["spec"]["clusterIP"] == freed_ip
