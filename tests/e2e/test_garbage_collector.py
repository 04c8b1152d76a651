"""The garbage collector: deleting a ReplicaSet with Background, Foreground and Orphan propagation, through
kubectl `--cascade` and through the API.

Runs on its own API server: the collector deletes objects whose owners are gone, in every namespace, and other
tests make objects with made-up owners.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cluster import Component, Stack
from support.kubectl import Kubectl
from support.polling import wait_until

HOLD = "example.com/hold"


@pytest.fixture(scope="module")
def gc_server(etcd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("gc")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "gc")
        stack.start(Component("controller-manager", server.url, workdir,
                              ["--controllers=replicaset,garbagecollector", "--leader-elect=false"]))
        yield server.url

@pytest.fixture
def gc_kubectl(kubectl132: Kubectl, gc_server: str, tmp_path: Any) -> Kubectl:
    """kubectl 1.32, pointed at this module's API server: what is tested is the garbage collector, and
    test_api_propagation_policy covers every policy without kubectl."""
    return Kubectl(kubectl132.binary, gc_server, tmp_path, kubectl132.version)


@pytest.fixture
def ns(gc_server: str) -> str:
    name = f"gc-{uuid.uuid4().hex[:6]}"
    requests.post(f"{gc_server}/api/v1/namespaces", json={"metadata": {"name": name}}, timeout=10).raise_for_status()
    return name


def rs_url(server: str, ns: str, name: str = "") -> str:
    return f"{server}/apis/apps/v1/namespaces/{ns}/replicasets" + (f"/{name}" if name else "")


def make_replicaset(server: str, ns: str, name: str = "web", replicas: int = 3) -> dict:
    """A ReplicaSet with its pods, plus a ConfigMap it owns whose finalizer we hold (to watch Foreground order)."""
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
          "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                   "template": {"metadata": {"labels": {"app": name}},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    response = requests.post(rs_url(server, ns), json=rs, timeout=10)
    response.raise_for_status()
    created = response.json()
    wait_until(lambda: len(owned_pods(server, ns, created["metadata"]["uid"])) == replicas, 15, "the pods")
    return created


def pods(server: str, ns: str) -> list[dict]:
    return requests.get(f"{server}/api/v1/namespaces/{ns}/pods", timeout=10).json()["items"]


def owned_pods(server: str, ns: str, uid: str) -> list[dict]:
    return [p for p in pods(server, ns) if any(r["uid"] == uid for r in p["metadata"].get("ownerReferences") or [])]


def exists(url: str) -> bool:
    return requests.get(url, timeout=10).status_code == 200


def held_configmap(server: str, ns: str, owner: dict) -> str:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": f"{owner['metadata']['name']}-held", "finalizers": [HOLD],
                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                            "controller": False, "blockOwnerDeletion": True}]}}
    requests.post(f"{server}/api/v1/namespaces/{ns}/configmaps", json=cm, timeout=10).raise_for_status()
    return f"{server}/api/v1/namespaces/{ns}/configmaps/{cm['metadata']['name']}"


def release(cm_url: str) -> None:
    requests.patch(cm_url, json={"metadata": {"finalizers": None}},
                   headers={"Content-Type": "application/merge-patch+json"}, timeout=10).raise_for_status()


def check_background(server: str, ns: str, rs: dict) -> None:
    assert not exists(rs_url(server, ns, "web"))  # the owner goes at once
    wait_until(lambda: not owned_pods(server, ns, rs["metadata"]["uid"]), 15, "the orphaned pods to be collected")


def check_orphan(server: str, ns: str, rs: dict) -> None:
    wait_until(lambda: not exists(rs_url(server, ns, "web")), 15, "the ReplicaSet to go")
    left = pods(server, ns)
    assert len(left) == 3
    assert all(not p["metadata"].get("ownerReferences") for p in left)
    time.sleep(1.0)
    assert len(pods(server, ns)) == 3  # and nobody collects them later


def check_foreground_first(server: str, ns: str, rs: dict, cm_url: str) -> None:
    """The owner stays (deletionTimestamp, foregroundDeletion) until its blocking dependents are gone."""
    wait_until(lambda: not owned_pods(server, ns, rs["metadata"]["uid"]), 15, "the pods to be deleted first")
    current = requests.get(rs_url(server, ns, "web"), timeout=10).json()
    assert current["metadata"].get("deletionTimestamp")
    assert "foregroundDeletion" in current["metadata"]["finalizers"]
    held = requests.get(cm_url, timeout=10).json()
    assert held["metadata"].get("deletionTimestamp")  # the dependent is being deleted, we hold it
    time.sleep(1.0)
    assert exists(rs_url(server, ns, "web"))  # still waiting on the held dependent
    release(cm_url)
    wait_until(lambda: not exists(rs_url(server, ns, "web")), 15, "the owner to go after its dependents")
    assert not exists(cm_url)


def test_kubectl_cascade_background(gc_server: str, gc_kubectl: Kubectl, ns: str) -> None:
    rs = make_replicaset(gc_server, ns)
    out = gc_kubectl("delete", "replicaset", "web", "-n", ns, "--cascade=background")
    assert out.strip() == 'replicaset.apps "web" deleted'
    check_background(gc_server, ns, rs)


def test_kubectl_cascade_orphan(gc_server: str, gc_kubectl: Kubectl, ns: str) -> None:
    rs = make_replicaset(gc_server, ns)
    gc_kubectl("delete", "replicaset", "web", "-n", ns, "--cascade=orphan")
    check_orphan(gc_server, ns, rs)


def test_kubectl_cascade_foreground(gc_server: str, gc_kubectl: Kubectl, ns: str) -> None:
    rs = make_replicaset(gc_server, ns)
    cm_url = held_configmap(gc_server, ns, rs)
    gc_kubectl("delete", "replicaset", "web", "-n", ns, "--cascade=foreground", "--wait=false")
    check_foreground_first(gc_server, ns, rs, cm_url)


@pytest.mark.parametrize("policy", ["Background", "Foreground", "Orphan"])
def test_api_propagation_policy(gc_server: str, ns: str, policy: str) -> None:
    rs = make_replicaset(gc_server, ns)
    cm_url = held_configmap(gc_server, ns, rs) if policy == "Foreground" else ""
    response = requests.delete(rs_url(gc_server, ns, "web"), timeout=10,
                               json={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy})
    assert response.status_code == 200
    if policy == "Background":
        check_background(gc_server, ns, rs)
    elif policy == "Foreground":
        check_foreground_first(gc_server, ns, rs, cm_url)
    else:
        check_orphan(gc_server, ns, rs)


def test_dependent_with_one_live_owner_keeps_it(gc_server: str, ns: str) -> None:
    """A ConfigMap owned by two ReplicaSets survives the deletion of one, losing only that reference."""
    first = make_replicaset(gc_server, ns, "first", replicas=0)
    second = make_replicaset(gc_server, ns, "second", replicas=0)
    refs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]}
            for o in (first, second)]
    url = f"{gc_server}/api/v1/namespaces/{ns}/configmaps"
    requests.post(url, json={"metadata": {"name": "shared", "ownerReferences": refs}}, timeout=10).raise_for_status()
    requests.delete(rs_url(gc_server, ns, "first"), timeout=10).raise_for_status()

    def only_second() -> bool:
        cm = requests.get(f"{url}/shared", timeout=10).json()
        return [r["name"] for r in cm["metadata"].get("ownerReferences") or []] == ["second"]

    wait_until(only_second, 15, "the reference to the deleted owner to be removed")
    requests.delete(rs_url(gc_server, ns, "second"), timeout=10).raise_for_status()
    wait_until(lambda: not exists(f"{url}/shared"), 15, "the ConfigMap to go with its last owner")
