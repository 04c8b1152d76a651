"""PodGCController.sync on hand-fed caches (upstream: pkg/controller/podgc/gc_controller_test.go): orphans of a
deleted node go after the quarantine, with the DisruptionTarget condition; finished pods over the threshold go
oldest first; terminating pods on out-of-service nodes and unscheduled terminating pods are force-deleted."""

from __future__ import annotations

import argparse

import pytest

from kubeling import controllermanager
from kubeling.api.resources import must_lookup
from kubeling.controllers.options import PodGCOptions
from kubeling.controllers.podgc import PodGCController, terminated_over_threshold
from support.builders import node, pod
from support.fakeclient import ControllerFixture, controller_fixture

PODS = must_lookup("", "pods")
OUT_OF_SERVICE = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}


def gc(threshold: int = 12500) -> ControllerFixture:
    return controller_fixture(PodGCController, PodGCOptions(terminated_pod_gc_threshold=threshold))


def aged(obj: dict, created: str, **metadata: str) -> dict:
    obj["metadata"].update(creationTimestamp=created, **metadata)
    return obj


def force_deleted(f: ControllerFixture) -> list[str]:
    """Names of the pods deleted, each checked to be a force deletion (grace 0, uid precondition)."""
    deletes = f.actions("delete", "pods")
    for delete in deletes:
        assert delete.object["gracePeriodSeconds"] == 0 and "uid" in delete.object["preconditions"]
    return [d.name for d in deletes]


def test_pods_of_a_deleted_node_go_after_the_quarantine_marked_failed_with_the_disruption_condition() -> None:
    f = gc()
    f.add(node("alive"), pod("kept", node="alive", phase="Running"), pod("orphan", node="gone", phase="Running"),
          aged(pod("leaving", node="gone", phase="Running"), "2024-01-01T00:00:00Z",
               deletionTimestamp="2024-01-01T00:01:00Z"))
    f.sync("gc")
    assert force_deleted(f) == []  # in quarantine first: the cache may be behind
    f.sync("node:gone")
    assert sorted(force_deleted(f)) == ["leaving", "orphan"]
    patches = {p.name: p.object for p in f.actions("patch", "pods", "status")}
    assert patches["orphan"]["status"]["phase"] == "Failed"
    (condition,) = [c for c in patches["orphan"]["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert (condition["status"], condition["reason"]) == ("True", "DeletionByPodGC")
    assert f.stored(PODS, "default", "orphan") is None and f.stored(PODS, "default", "kept") is not None


def test_a_node_back_after_the_quarantine_keeps_its_pods() -> None:
    f = gc()
    f.add(pod("web", node="late", phase="Running"))
    f.sync("gc")
    f.client.seed(must_lookup("", "nodes"), node("late"))  # registered again; our cache has not seen it yet
    f.sync("node:late")
    assert force_deleted(f) == []


def test_finished_pods_over_the_threshold_go_oldest_first_and_evicted_ones_before_them() -> None:
    f = gc(threshold=2)
    f.add(node("n1"),
          aged(pod("old", node="n1", phase="Succeeded"), "2024-01-01T00:00:00Z"),
          aged(pod("middle", node="n1", phase="Failed"), "2024-01-02T00:00:00Z"),
          aged(pod("new", node="n1", phase="Succeeded"), "2024-01-03T00:00:00Z"),
          aged(pod("running", node="n1", phase="Running"), "2023-01-01T00:00:00Z"))
    f.sync("gc")
    assert force_deleted(f) == ["old"]
    assert f.actions("patch", "pods") == []  # finished pods are not marked again

    evicted = aged(pod("evicted", phase="Failed"), "2024-01-05T00:00:00Z")
    evicted["status"]["reason"] = "Evicted"
    pods = [aged(pod("a", phase="Succeeded"), "2024-01-01T00:00:00Z"), evicted]
    assert [p["metadata"]["name"] for p in terminated_over_threshold(pods, 1)] == ["evicted"]


@pytest.mark.parametrize("threshold", [0, 5])
def test_no_finished_pod_goes_while_under_the_threshold_or_with_the_threshold_off(threshold: int) -> None:
    f = gc(threshold)
    f.add(node("n1"), *(pod(f"done-{i}", node="n1", phase="Succeeded") for i in range(3)))
    f.sync("gc")
    assert force_deleted(f) == []


def test_terminating_pods_on_an_out_of_service_node_that_is_not_ready_are_force_deleted() -> None:
    f = gc()
    deleting = "2024-01-01T00:01:00Z"
    f.add(node("down", ready="False", taints=[OUT_OF_SERVICE]), node("busy", ready="True", taints=[OUT_OF_SERVICE]),
          node("plain", ready="False"),
          aged(pod("db-0", node="down", phase="Running"), "2024-01-01T00:00:00Z", deletionTimestamp=deleting),
          pod("db-1", node="down", phase="Running"),  # not terminating: left for the eviction to start
          aged(pod("web", node="busy", phase="Running"), "2024-01-01T00:00:00Z", deletionTimestamp=deleting),
          aged(pod("api", node="plain", phase="Running"), "2024-01-01T00:00:00Z", deletionTimestamp=deleting))
    f.sync("gc")
    assert force_deleted(f) == ["db-0"]
    (patch,) = f.actions("patch", "pods", "status")
    assert patch.object["status"]["phase"] == "Failed"


def test_terminating_pods_never_scheduled_are_force_deleted() -> None:
    f = gc()
    f.add(aged(pod("pending"), "2024-01-01T00:00:00Z", deletionTimestamp="2024-01-01T00:01:00Z"),
          pod("waiting"))
    f.sync("gc")
    assert force_deleted(f) == ["pending"]


def test_a_pod_already_gone_is_not_an_error() -> None:
    f = gc()
    f.add(pod("orphan", node="gone", phase="Running"))
    del f.client.objects[("pods", "default", "orphan")]
    f.sync("node:gone")  # the status patch finds nothing: no error, nothing more to do
    assert force_deleted(f) == []


def test_the_controller_manager_flag_sets_the_threshold() -> None:
    parser = argparse.ArgumentParser()
    controllermanager.add_arguments(parser)
    assert "podgc" in controllermanager.selected("*")
    options = controllermanager.OPTIONS["podgc"](parser.parse_args(["--terminated-pod-gc-threshold=5"]))
    assert options == PodGCOptions(terminated_pod_gc_threshold=5)
    assert controllermanager.OPTIONS["podgc"](parser.parse_args([])) == PodGCOptions()
