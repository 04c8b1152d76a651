"""events.k8s.io/v1 events and core/v1 events are one stored object, through the API server's own code (Flask's
test client on an in-memory etcd): writes through either API show in both, converted; reads, patches, field
selectors, watches and tables work on the new API's names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.memoryapi import JSON_PATCH, MemoryAPI

CORE = "/api/v1/namespaces/default/events"
NEW = "/apis/events.k8s.io/v1/namespaces/default/events"


@pytest.fixture
def api() -> Iterator[MemoryAPI]:
    server = MemoryAPI()
    yield server
    server.close()


def new_event(name: str = "web.1") -> dict:
    return {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name},
            "eventTime": "2026-12-07T06:00:00.000000Z", "reportingController": "replicaset-controller",
            "reportingInstance": "replicaset-controller-m1", "action": "Create", "reason": "SuccessfulCreate",
            "type": "Normal", "note": "Created pod: web-1-a (desired 2, observed 1)",
            "regarding": {"kind": "ReplicaSet", "apiVersion": "apps/v1", "name": "web-1", "namespace": "default"},
            "related": {"kind": "Pod", "apiVersion": "v1", "name": "web-1-a", "namespace": "default"}}


def test_created_through_the_new_api_read_through_both(api: MemoryAPI) -> None:
    created = api.create(NEW, new_event())
    assert created["apiVersion"] == "events.k8s.io/v1" and created["note"].startswith("Created pod")
    core = api.get(f"{CORE}/web.1").get_json()
    assert core["apiVersion"] == "v1" and core["involvedObject"]["name"] == "web-1"
    assert core["message"] == created["note"] and core["reportingComponent"] == "replicaset-controller"
    assert core["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    listed = api.get(NEW).get_json()
    assert listed["kind"] == "EventList" and listed["apiVersion"] == "events.k8s.io/v1"
    assert [e["regarding"]["name"] for e in listed["items"]] == ["web-1"]


def test_created_through_core_read_through_the_new_api(api: MemoryAPI) -> None:
    api.create(CORE, {"metadata": {"name": "p.1"}, "involvedObject": {"kind": "Pod", "name": "p",
                                                                      "namespace": "default"},
                      "reason": "Pulled", "message": "pulled", "source": {"component": "kubelet", "host": "n1"},
                      "count": 3})
    event = api.get(f"{NEW}/p.1").get_json()
    assert event["regarding"]["name"] == "p" and event["note"] == "pulled" and event["deprecatedCount"] == 3
    assert event["deprecatedSource"] == {"component": "kubelet", "host": "n1"}


def test_patch_and_field_selectors_use_the_new_names(api: MemoryAPI) -> None:
    api.create(NEW, new_event("a.1"))
    other = new_event("b.1")
    other["regarding"]["name"] = "other"
    api.create(NEW, other)
    patched = api.patch(f"{NEW}/a.1", {"series": {"count": 2, "lastObservedTime": "2026-12-07T06:00:05.000000Z"},
                                       "note": "again"})
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["series"]["count"] == 2
    assert api.get(f"{CORE}/a.1").get_json()["message"] == "again"
    ops = '[{"op": "replace", "path": "/note", "value": "by json patch"}]'
    assert api.patch(f"{NEW}/a.1", ops, JSON_PATCH).get_json()["note"] == "by json patch"
    selected = api.get(NEW, fieldSelector="regarding.name=other").get_json()["items"]
    assert [e["metadata"]["name"] for e in selected] == ["b.1"]
    assert api.get(NEW, fieldSelector="reportingController=nobody").get_json()["items"] == []


def test_a_core_body_sent_to_the_new_api_is_refused(api: MemoryAPI) -> None:
    response = api.post(NEW, {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "x"}})
    assert response.status_code == 400


def test_watch_and_table_speak_the_new_api(api: MemoryAPI) -> None:
    created = api.create(CORE, {"metadata": {"name": "p.2"}, "reason": "Started", "message": "started",
                                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}})
    api.settle("events", int(created["metadata"]["resourceVersion"]))
    events = api.watch(NEW, 1)
    assert events[0]["type"] == "ADDED" and events[0]["object"]["apiVersion"] == "events.k8s.io/v1"
    assert events[0]["object"]["note"] == "started"
    table = api.client.get(NEW, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).get_json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Last Seen", "Type", "Reason", "Object",
                                                                   "Subobject"]
    assert table["rows"][0]["cells"][2:4] == ["Started", "pod/p"]
