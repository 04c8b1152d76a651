"""The endpoints controller: Endpoints follow the pods a Service selects (named target ports, ready/not ready).

Runs on its own API server so that it writes no Endpoints for other tests' Services.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cluster import Component, Stack
from support.kubectl import KUBECTL_BINARIES, Kubectl
from support.polling import wait_until


@pytest.fixture(scope="module")
def ep_server(etcd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("endpoints")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "endpoints")
        stack.start(Component("controller-manager", server.url, workdir,
                              ["--controllers=endpoint", "--leader-elect=false"]))
        yield server.url

@pytest.fixture
def ns(ep_server: str) -> str:
    name = f"ep-{uuid.uuid4().hex[:6]}"
    requests.post(f"{ep_server}/api/v1/namespaces", json={"metadata": {"name": name}}, timeout=10).raise_for_status()
    return name


def make_pod(server: str, ns: str, name: str, port: int | None, ip: str | None, ready: bool,
             labels: dict[str, str] | None = None) -> None:
    ports = [{"name": "web", "containerPort": port}] if port else []
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": "web"}},
           "spec": {"nodeName": "ep-node", "containers": [{"name": "c", "image": "nginx", "ports": ports}]}}
    url = f"{server}/api/v1/namespaces/{ns}/pods"
    created = requests.post(url, json=pod, timeout=10)
    created.raise_for_status()
    set_status(server, ns, name, ip, ready)


def set_status(server: str, ns: str, name: str, ip: str | None, ready: bool) -> None:
    url = f"{server}/api/v1/namespaces/{ns}/pods/{name}"
    pod = requests.get(url, timeout=10).json()
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    pod["status"] = status
    requests.put(f"{url}/status", json=pod, timeout=10).raise_for_status()


def endpoints(server: str, ns: str, name: str) -> dict | None:
    response = requests.get(f"{server}/api/v1/namespaces/{ns}/endpoints/{name}", timeout=10)
    return response.json() if response.status_code == 200 else None


def summary(ep: dict) -> list[tuple[list[str], list[str], list[tuple[str, int]]]]:
    return [(sorted(a["ip"] for a in s.get("addresses") or []), sorted(a["ip"] for a in s.get("notReadyAddresses")
                                                                      or []),
             sorted((p.get("name", ""), p["port"]) for p in s.get("ports") or [])) for s in ep.get("subsets") or []]


def create_service(server: str, ns: str, name: str, selector: dict[str, str] | None) -> None:
    spec: dict = {"ports": [{"name": "http", "port": 80, "targetPort": "web"}]}
    if selector:
        spec["selector"] = selector
    requests.post(f"{server}/api/v1/namespaces/{ns}/services",
                  json={"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec},
                  timeout=10).raise_for_status()


def test_named_target_ports_and_ready_split(ep_server: str, ns: str, tmp_path: Path) -> None:
    make_pod(ep_server, ns, "a", 8080, "10.1.0.1", ready=True)
    make_pod(ep_server, ns, "b", 8080, "10.1.0.2", ready=False)
    make_pod(ep_server, ns, "c", 9090, "10.1.0.3", ready=True)
    make_pod(ep_server, ns, "no-ip", 8080, None, ready=False)
    make_pod(ep_server, ns, "no-port", None, "10.1.0.5", ready=True)
    make_pod(ep_server, ns, "other", 8080, "10.1.0.6", ready=True, labels={"app": "other"})
    create_service(ep_server, ns, "web", {"app": "web"})

    expected = [(["10.1.0.1"], ["10.1.0.2"], [("http", 8080)]), (["10.1.0.3"], [], [("http", 9090)])]
    ep = wait_until(lambda: (e := endpoints(ep_server, ns, "web")) and summary(e) == expected and e, 10,
                    "endpoints with two subsets")
    address = ep["subsets"][0]["addresses"][0]
    assert address["nodeName"] == "ep-node"
    assert address["targetRef"]["kind"] == "Pod" and address["targetRef"]["name"] == "a"
    assert address["targetRef"]["namespace"] == ns and address["targetRef"]["uid"]

    set_status(ep_server, ns, "b", "10.1.0.2", ready=True)
    expected = [(["10.1.0.1", "10.1.0.2"], [], [("http", 8080)]), (["10.1.0.3"], [], [("http", 9090)])]
    wait_until(lambda: (e := endpoints(ep_server, ns, "web")) and summary(e) == expected, 10, "b to become ready")

    requests.delete(f"{ep_server}/api/v1/namespaces/{ns}/pods/c", timeout=10).raise_for_status()
    expected = [(["10.1.0.1", "10.1.0.2"], [], [("http", 8080)])]
    wait_until(lambda: (e := endpoints(ep_server, ns, "web")) and summary(e) == expected, 10, "c to leave")

    kubectl = Kubectl(KUBECTL_BINARIES["1.32"], ep_server, tmp_path, "1.32")
    out = kubectl("get", "endpoints", "web", "-n", ns)
    assert out.split("\n")[1].split()[:2] == ["web", "10.1.0.1:8080,10.1.0.2:8080"]

    requests.delete(f"{ep_server}/api/v1/namespaces/{ns}/services/web", timeout=10).raise_for_status()
    wait_until(lambda: endpoints(ep_server, ns, "web") is None, 10, "the Endpoints to go with the Service")


def test_service_without_selector_keeps_its_own_endpoints(ep_server: str, ns: str) -> None:
    create_service(ep_server, ns, "manual", None)
    manual = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
              "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"name": "http", "port": 80}]}]}
    requests.post(f"{ep_server}/api/v1/namespaces/{ns}/endpoints", json=manual, timeout=10).raise_for_status()
    make_pod(ep_server, ns, "a", 8080, "10.1.0.1", ready=True)
    # Give the controller a chance to (wrongly) act, then check nothing changed.
    create_service(ep_server, ns, "selected", {"app": "web"})
    wait_until(lambda: endpoints(ep_server, ns, "selected"), 10, "the selected service's endpoints")
    ep = endpoints(ep_server, ns, "manual")
    assert ep is not None and summary(ep) == [(["192.0.2.10"], [], [("http", 80)])]


def test_publish_not_ready_addresses(ep_server: str, ns: str) -> None:
    make_pod(ep_server, ns, "a", 8080, "10.1.0.1", ready=False)
    requests.post(f"{ep_server}/api/v1/namespaces/{ns}/services", json={
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "publishNotReadyAddresses": True,
                 "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}}, timeout=10).raise_for_status()
    expected = [(["10.1.0.1"], [], [("http", 8080)])]
    wait_until(lambda: (e := endpoints(ep_server, ns, "web")) and summary(e) == expected, 10,
               "the not-ready pod published as ready")
