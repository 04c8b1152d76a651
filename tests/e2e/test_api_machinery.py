"""API machinery that the kubectl and client tests only touch in passing: the system namespaces, /version,
generation, deletecollection, the NamespaceLifecycle refusal, readiness that follows etcd, and the plain-HTTP rule."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import pytest
import requests

from cluster import ROOT, control_plane, free_port
from support.polling import wait_until

pytestmark = pytest.mark.e2e

TIMEOUT = 10


def new_namespace(url: str) -> str:
    name = f"am-{uuid.uuid4().hex[:8]}"
    reply = requests.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": name}}, timeout=TIMEOUT)
    assert reply.status_code == 201, reply.text
    return name


def configmap(name: str, labels: dict[str, str] | None = None, finalizers: list[str] | None = None) -> dict:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {}}
    if finalizers:
        metadata["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}


def test_system_namespaces_exist_from_the_start() -> None:
    with control_plane() as (_, server):
        items = requests.get(f"{server.url}/api/v1/namespaces", timeout=TIMEOUT).json()["items"]
        phases = {n["metadata"]["name"]: n["status"]["phase"] for n in items}
        # As upstream: kube-node-lease too, where kubelets keep their heartbeat Leases.
        assert phases == {name: "Active" for name in ("default", "kube-system", "kube-public", "kube-node-lease")}


def test_version_is_1_32(apiserver: Any) -> None:
    version = requests.get(f"{apiserver.url}/version", timeout=TIMEOUT).json()
    assert (version["major"], version["minor"]) == ("1", "32")
    assert version["gitVersion"].startswith("v1.32.")


def test_openapi_answers_for_every_group_version(apiserver: Any) -> None:
    assert requests.get(f"{apiserver.url}/openapi/v2", timeout=TIMEOUT).status_code == 200
    index = requests.get(f"{apiserver.url}/openapi/v3", timeout=TIMEOUT).json()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/coordination.k8s.io/v1"} <= set(index)
    document = requests.get(apiserver.url + index["apis/apps/v1"]["serverRelativeURL"], timeout=TIMEOUT).json()
    kinds = {op["patch"]["x-kubernetes-group-version-kind"]["kind"] for op in document["paths"].values()}
    assert {"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"} <= kinds


def test_generation_counts_spec_changes_only(apiserver: Any) -> None:
    ns = new_namespace(apiserver.url)
    url = f"{apiserver.url}/apis/apps/v1/namespaces/{ns}/deployments"
    body = {"metadata": {"name": "web"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    assert requests.post(url, json=body, timeout=TIMEOUT).json()["metadata"]["generation"] == 1

    def merge(path: str, patch: dict) -> dict:
        reply = requests.patch(f"{url}/web{path}", json=patch, timeout=TIMEOUT,
                               headers={"Content-Type": "application/merge-patch+json"})
        assert reply.status_code == 200, reply.text
        return reply.json()

    assert merge("", {"metadata": {"labels": {"team": "blue"}}})["metadata"]["generation"] == 1
    assert merge("/status", {"status": {"replicas": 1}})["metadata"]["generation"] == 1
    assert merge("", {"spec": {"replicas": 3}})["metadata"]["generation"] == 2
    assert merge("", {"spec": {"replicas": 3}})["metadata"]["generation"] == 2  # no change, no bump


def test_deletecollection_deletes_what_the_selector_picks(apiserver: Any) -> None:
    ns = new_namespace(apiserver.url)
    url = f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps"
    for name, labels in (("a1", {"app": "a"}), ("a2", {"app": "a"}), ("b1", {"app": "b"})):
        assert requests.post(url, json=configmap(name, labels), timeout=TIMEOUT).status_code == 201
    reply = requests.delete(url, params={"labelSelector": "app=a"}, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    left = requests.get(url, timeout=TIMEOUT).json()["items"]
    assert [c["metadata"]["name"] for c in left] == ["b1"]


def test_a_terminating_namespace_refuses_new_objects(apiserver: Any) -> None:
    ns = new_namespace(apiserver.url)
    url = f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps"
    # A finalizer holds the namespace in Terminating for as long as this test needs it.
    assert requests.post(url, json=configmap("held", finalizers=["example.com/hold"]), timeout=TIMEOUT).ok
    assert requests.delete(f"{apiserver.url}/api/v1/namespaces/{ns}", timeout=TIMEOUT).ok
    wait_until(lambda: requests.get(f"{apiserver.url}/api/v1/namespaces/{ns}", timeout=TIMEOUT)
               .json()["status"].get("phase") == "Terminating", 10, "the namespace to be Terminating")

    reply = requests.post(url, json=configmap("late"), timeout=TIMEOUT)
    assert reply.status_code == 403, reply.text
    status = reply.json()
    assert (status["kind"], status["reason"]) == ("Status", "Forbidden")
    assert status["message"] == f"unable to create new content in namespace {ns} because it is being terminated"
    assert requests.get(f"{url}/late", timeout=TIMEOUT).status_code == 404

    requests.patch(f"{url}/held", json={"metadata": {"finalizers": None}}, timeout=TIMEOUT,
                   headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()


def test_readiness_follows_etcd() -> None:
    with control_plane() as (etcd, server):
        etcd.stop()
        ready = requests.get(f"{server.url}/readyz", timeout=TIMEOUT)
        assert ready.status_code == 500
        assert "etcd failed" in ready.text
        assert requests.get(f"{server.url}/healthz", timeout=TIMEOUT).status_code == 500
        assert requests.get(f"{server.url}/livez", timeout=TIMEOUT).text == "ok"  # the process itself still serves
        reply = requests.get(f"{server.url}/api/v1/namespaces/default/configmaps", timeout=30)
        assert reply.status_code == 503, reply.text
        assert reply.json()["reason"] == "ServiceUnavailable"

        etcd.start()
        wait_until(lambda: requests.get(f"{server.url}/readyz", timeout=TIMEOUT).status_code == 200, 30,
                   "readyz to recover once etcd is back")


def test_plain_http_is_refused_off_loopback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubeling", "apiserver", "--etcd-servers", "http://127.0.0.1:2379",
         "--insecure-bind-address", "0.0.0.0", "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(ROOT / "agents"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "--insecure-bind-address 0.0.0.0 is not a loopback address" in result.stderr
    assert "plain HTTP (--port) is only allowed on loopback" in result.stderr


def etcd_watchers(etcd_url: str) -> int:
    for line in requests.get(f"{etcd_url}/metrics", timeout=TIMEOUT).text.splitlines():
        if line.startswith("etcd_debugging_mvcc_watcher_total "):
            return int(float(line.split()[1]))
    raise AssertionError("etcd reports no etcd_debugging_mvcc_watcher_total")


def test_client_watches_share_one_etcd_watch_per_resource() -> None:
    with control_plane() as (etcd, server):
        url = f"{server.url}/api/v1/namespaces/default/configmaps"
        before = etcd_watchers(etcd.url)
        streams = [requests.get(url, params={"watch": "1"}, stream=True, timeout=TIMEOUT) for _ in range(5)]
        try:
            assert all(s.status_code == 200 for s in streams)
            assert requests.post(url, json=configmap("seen"), timeout=TIMEOUT).status_code == 201
            for stream in streams:  # every client gets the event
                line = next(line for line in stream.iter_lines() if line)
                assert b'"ADDED"' in line and b'"seen"' in line
            assert etcd_watchers(etcd.url) == before  # ...from the watch the API server already had
        finally:
            for stream in streams:
                stream.close()
