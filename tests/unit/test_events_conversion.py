"""One Event, two APIs: core/v1 as stored, events.k8s.io/v1 as converted (upstream's pkg/apis/events/v1)."""

import time

from kubeling.api import eventsconversion
from kubeling.api.resources import lookup
from kubeling.apiserver.views import stored_field_selector
from kubeling.client.events import EventRecorder

CORE = {
    "apiVersion": "v1", "kind": "Event",
    "metadata": {"name": "web-1.17f", "namespace": "default", "resourceVersion": "7"},
    "involvedObject": {"kind": "ReplicaSet", "apiVersion": "apps/v1", "name": "web-1", "namespace": "default"},
    "related": {"kind": "Pod", "apiVersion": "v1", "name": "web-1-abcde", "namespace": "default"},
    "reason": "SuccessfulCreate", "message": "Created pod: web-1-abcde (desired 3, observed 2)", "type": "Normal",
    "source": {"component": "replicaset-controller"}, "firstTimestamp": "2026-12-07T06:00:00Z",
    "lastTimestamp": "2026-12-07T06:00:05Z", "count": 2, "eventTime": "2026-12-07T06:00:00.123456Z",
    "series": {"count": 2, "lastObservedTime": "2026-12-07T06:00:05.000001Z"}, "action": "Create",
    "reportingComponent": "replicaset-controller", "reportingInstance": "replicaset-controller-master1",
}


def test_core_event_as_events_k8s_io_names_each_field_as_upstream():
    new = eventsconversion.from_core(CORE)
    assert new["apiVersion"] == "events.k8s.io/v1" and new["kind"] == "Event"
    assert new["regarding"] == CORE["involvedObject"] and new["note"] == CORE["message"]
    assert new["reportingController"] == "replicaset-controller"
    assert new["reportingInstance"] == "replicaset-controller-master1"
    assert new["deprecatedSource"] == {"component": "replicaset-controller"}
    assert (new["deprecatedFirstTimestamp"], new["deprecatedLastTimestamp"], new["deprecatedCount"]) == (
        CORE["firstTimestamp"], CORE["lastTimestamp"], 2)
    assert new["related"]["name"] == "web-1-abcde" and new["action"] == "Create" and new["series"]["count"] == 2
    for old_name in ("involvedObject", "message", "source", "count", "reportingComponent"):
        assert old_name not in new


def test_round_trips_are_lossless_both_ways():
    assert eventsconversion.to_core(eventsconversion.from_core(CORE)) == CORE
    minimal = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "x"},
               "eventTime": "2026-12-07T06:00:00.000000Z", "reportingController": "c", "reportingInstance": "i",
               "action": "Create", "reason": "R", "regarding": {"kind": "Pod", "name": "p"}, "type": "Normal"}
    core = eventsconversion.to_core(minimal)
    assert core["involvedObject"] == {"kind": "Pod", "name": "p"} and core["reportingComponent"] == "c"
    assert "message" not in core and "count" not in core  # absent stays absent
    assert eventsconversion.from_core(core) == minimal


def test_events_k8s_io_is_a_view_of_core_events():
    view = lookup("events.k8s.io", "events")
    assert view.stores_as == ("", "events") and not view.stored
    assert lookup("", "events").stored


def test_field_selectors_in_the_new_names_select_on_the_stored_ones():
    view = lookup("events.k8s.io", "events")
    assert stored_field_selector(view, "regarding.name=web,reportingController=kubelet,type=Normal") == (
        "involvedObject.name=web,reportingComponent=kubelet,type=Normal")
    assert stored_field_selector(view, None) is None


class _Client:
    def __init__(self):
        self.created, self.patched = [], []

    def create(self, rtype, obj, namespace):
        self.created.append(obj)
        return obj

    def patch(self, rtype, name, patch, namespace):
        self.patched.append(patch)
        return patch


def _wait(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert check()


def test_recorder_fills_the_new_fields_and_folds_repeats_into_a_series():
    client = _Client()
    manager = EventRecorder(client, "kube-controller-manager")
    recorder = manager.for_controller("replicaset-controller")
    rs = {"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": {"name": "web-1", "namespace": "d", "uid": "u"}}
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web-1-x", "namespace": "d", "uid": "p"}}
    recorder.event(rs, "Normal", "SuccessfulCreate", "Created pod: web-1-x (desired 1, observed 0)", related=pod)
    _wait(lambda: client.created)
    event = client.created[0]
    assert event["action"] == "Create" and event["reportingComponent"] == "replicaset-controller"
    assert event["source"] == {"component": "replicaset-controller"}
    assert event["reportingInstance"].startswith("replicaset-controller-")
    assert event["related"]["name"] == "web-1-x" and event["involvedObject"]["kind"] == "ReplicaSet"
    assert event["eventTime"].endswith("Z") and "." in event["eventTime"]  # a MicroTime
    recorder.event(rs, "Normal", "SuccessfulCreate", "Created pod: web-1-x (desired 1, observed 0)", related=pod)
    _wait(lambda: client.patched)
    assert client.patched[0]["count"] == 2 and client.patched[0]["series"]["count"] == 2
    # The scheduler's actions are upstream's words.
    scheduler = EventRecorder(client, "default-scheduler")
    scheduler.event(pod, "Warning", "FailedScheduling", "0/1 nodes are available")
    _wait(lambda: len(client.created) == 2)
    assert client.created[1]["action"] == "Scheduling"
    assert client.created[1]["reportingComponent"] == "default-scheduler"
