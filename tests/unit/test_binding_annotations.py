"""The scheduler's record rides on writes it makes anyway: a Binding's annotations land on the pod (upstream's
setPodHostAndAnnotations), and a pod's status write may change its annotations (upstream's podStatusStrategy)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.builders import pod
from support.memoryapi import MemoryAPI

PODS = "/api/v1/namespaces/default/pods"
RECORD = {"kube-scheduler-simulator.sigs.k8s.io/selected-node": "n1"}


@pytest.fixture
def api() -> Iterator[MemoryAPI]:
    server = MemoryAPI()
    yield server
    server.close()


def test_a_bindings_annotations_are_copied_onto_the_pod(api: MemoryAPI) -> None:
    mine = pod("p")
    mine["metadata"]["annotations"] = {"mine": "kept"}
    created = api.create(PODS, mine)
    binding = {"apiVersion": "v1", "kind": "Binding",
               "metadata": {"name": "p", "uid": created["metadata"]["uid"], "annotations": RECORD},
               "target": {"kind": "Node", "name": "n1"}}
    assert api.post(f"{PODS}/p/binding", binding).status_code == 201
    bound = api.get(f"{PODS}/p").get_json()
    assert bound["spec"]["nodeName"] == "n1"
    assert bound["metadata"]["annotations"] == {"mine": "kept", **RECORD}


def test_a_status_write_carries_annotations_but_not_the_spec(api: MemoryAPI) -> None:
    created = api.create(PODS, pod("q"))
    sent = {**created, "metadata": {**created["metadata"], "annotations": RECORD},
            "spec": {**created["spec"], "nodeName": "elsewhere"}, "status": {"phase": "Pending"}}
    stored = api.put(f"{PODS}/q/status", sent).get_json()
    assert stored["metadata"]["annotations"] == RECORD
    assert stored["spec"].get("nodeName") is None and stored["status"]["phase"] == "Pending"
    # A status write that sends no annotations keeps them.
    without = {**stored, "metadata": {k: v for k, v in stored["metadata"].items() if k != "annotations"},
               "status": {"phase": "Pending", "message": "x"}}
    assert api.put(f"{PODS}/q/status", without).get_json()["metadata"]["annotations"] == RECORD
