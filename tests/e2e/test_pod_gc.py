"""Pod garbage collection: the pods of a node that is deleted go away (after PodGC's 40 s quarantine), marked
Failed with the DisruptionTarget condition first, and a namespace that held such pods finishes deleting.

Runs on its own API server with the podgc and namespace controllers: one node has a kubelet stand-in, the other
none (its pods, once deleted, would stay Terminating for ever without PodGC).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cluster import Component, Stack
from standin import KubeletStandIn, register_node
from support.polling import wait_until

LIVE, DOOMED = "gc-live", "gc-doomed"
QUARANTINE_AND_MARGIN = 150  # upstream's 40 s quarantine, and room for a busy machine


@pytest.fixture(scope="module")
def gc_server(etcd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("podgc")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "podgc")
        register_node(server.url, LIVE)
        register_node(server.url, DOOMED)
        stack.start(KubeletStandIn(server.url, [LIVE]))
        stack.start(Component("controller-manager", server.url, workdir,
                              ["--controllers=podgc,namespace,serviceaccount", "--leader-elect=false"]))
        yield server.url


def create_pod(server: str, namespace: str, name: str, node: str) -> None:
    requests.post(f"{server}/api/v1/namespaces/{namespace}/pods", timeout=10, json={
        "metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]},
    }).raise_for_status()


def history(server: str, namespace: str, since: str) -> list[tuple[str, dict]]:
    """Every change to the namespace's pods after resourceVersion `since`, replayed by a short watch."""
    response = requests.get(f"{server}/api/v1/namespaces/{namespace}/pods", timeout=30,
                            params={"watch": "true", "resourceVersion": since, "timeoutSeconds": "3"})
    events = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    return [(event["type"], event["object"]) for event in events]


def test_pods_of_a_deleted_node_are_collected_and_their_namespace_finishes_deleting(gc_server: str) -> None:
    ns, other = f"gc-{uuid.uuid4().hex[:6]}", f"gc-{uuid.uuid4().hex[:6]}"
    for name in (ns, other):
        requests.post(f"{gc_server}/api/v1/namespaces", json={"metadata": {"name": name}},
                      timeout=10).raise_for_status()
    create_pod(gc_server, ns, "orphan", DOOMED)
    create_pod(gc_server, ns, "kept", LIVE)
    create_pod(gc_server, other, "stuck-0", DOOMED)
    create_pod(gc_server, other, "stuck-1", DOOMED)
    listed = requests.get(f"{gc_server}/api/v1/namespaces/{ns}/pods", timeout=10).json()
    since = listed["metadata"]["resourceVersion"]
    def orphan_url(namespace: str, name: str) -> str:
        return f"{gc_server}/api/v1/namespaces/{namespace}/pods/{name}"

    # A namespace whose pods sit on a node with no kubelet: its pods go Terminating and stay so.
    requests.delete(f"{gc_server}/api/v1/namespaces/{other}", timeout=10).raise_for_status()
    wait_until(lambda: all(p["metadata"].get("deletionTimestamp") for p in requests.get(
        f"{gc_server}/api/v1/namespaces/{other}/pods", timeout=10).json()["items"]), 30,
        "the namespace's pods to be Terminating")
    requests.delete(f"{gc_server}/api/v1/nodes/{DOOMED}", timeout=10).raise_for_status()
    deleted_at = time.monotonic()

    wait_until(lambda: requests.get(orphan_url(ns, "orphan"), timeout=10).status_code == 404,
               QUARANTINE_AND_MARGIN, "PodGC to delete the pod of the deleted node")
    print(f"orphan collected {time.monotonic() - deleted_at:.1f}s after its node was deleted")
    wait_until(lambda: requests.get(f"{gc_server}/api/v1/namespaces/{other}", timeout=10).status_code == 404,
               QUARANTINE_AND_MARGIN, "the namespace that held Terminating pods to finish deleting")
    print(f"namespace gone {time.monotonic() - deleted_at:.1f}s after the node was deleted")
    assert requests.get(orphan_url(ns, "kept"), timeout=10).status_code == 200

    orphan = [(kind, obj) for kind, obj in history(gc_server, ns, since) if obj["metadata"]["name"] == "orphan"]
    assert [kind for kind, _ in orphan][-1] == "DELETED"
    (failed,) = [obj for kind, obj in orphan if kind == "MODIFIED" and obj["status"].get("phase") == "Failed"]
    (condition,) = [c for c in failed["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert (condition["status"], condition["reason"]) == ("True", "DeletionByPodGC")
    assert condition["message"] == "PodGC: node no longer exists"
