"""sync(key) of the namespace controller and the garbage collector on hand-fed caches (upstream:
pkg/controller/namespace/deletion/namespaced_resources_deleter_test.go, garbagecollector/garbagecollector_test.go)."""

from __future__ import annotations

from kubeling.api.resources import lookup
from kubeling.controllers.garbagecollector import GarbageCollector
from kubeling.controllers.namespace import NamespaceController
from support.builders import namespace, owner_ref, pod, replicaset
from support.fakeclient import controller_fixture

NAMESPACES = lookup("", "namespaces")
PODS = lookup("", "pods")
DELETING = "2025-01-01T00:00:00Z"


def terminating(name: str) -> dict:
    ns = namespace(name)
    ns["metadata"]["deletionTimestamp"] = DELETING
    ns["spec"] = {"finalizers": ["kubernetes"]}
    ns["status"] = {"phase": "Terminating"}
    return ns


# Namespace deletion


def test_a_terminating_namespace_is_emptied_then_finalized() -> None:
    f = controller_fixture(NamespaceController)
    f.add(terminating("team"))
    f.client.seed(PODS, pod("a", "team"))
    f.sync("team")
    assert ("deletecollection", "pods", "team") in [(a.verb, a.resource, a.namespace) for a in f.actions()]
    (finalize,) = f.actions("update", "namespaces", "finalize")
    assert finalize.object["spec"]["finalizers"] == []


def test_content_held_by_a_finalizer_keeps_the_namespace_and_is_reported() -> None:
    f = controller_fixture(NamespaceController)
    f.add(terminating("team"))
    held = pod("a", "team")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    f.client.seed(PODS, held)
    f.sync("team")
    assert f.actions("update", "namespaces", "finalize") == []
    conditions = {c["type"]: c for c in f.actions("update", "namespaces", "status")[-1].object["status"]["conditions"]}
    assert conditions["NamespaceContentRemaining"]["status"] == "True"
    assert "pods has 1 resource instances" in conditions["NamespaceContentRemaining"]["message"]
    assert "example.com/hold" in conditions["NamespaceFinalizersRemaining"]["message"]


def test_a_namespace_that_is_not_being_deleted_is_left_alone() -> None:
    f = controller_fixture(NamespaceController)
    f.add(namespace("team"))
    f.client.seed(PODS, pod("a", "team"))
    f.sync("team")
    assert f.client.actions == []


# Garbage collection


def test_a_dependent_whose_owner_is_gone_is_deleted_in_the_background() -> None:
    f = controller_fixture(GarbageCollector)
    gone = replicaset("web", uid="rs-gone")
    f.add(pod("orphaned", owner=gone, uid="p1"))
    f.sync("pods|default/orphaned")
    (delete,) = f.actions("delete", "pods")
    assert delete.object == {"propagationPolicy": "Background", "preconditions": {"uid": "p1"}}


def test_a_dependent_with_a_live_owner_stays() -> None:
    f = controller_fixture(GarbageCollector)
    (rs,) = f.add(replicaset("web", uid="rs-1"))
    f.add(pod("kept", owner=rs))
    f.sync("pods|default/kept")
    assert f.actions() == []


def test_an_owner_not_in_the_cache_is_looked_up_before_anything_is_deleted() -> None:
    f = controller_fixture(GarbageCollector)
    rs = f.client.seed(lookup("apps", "replicasets"), replicaset("web", uid="rs-1"))
    f.add(pod("kept", owner=rs))
    f.sync("pods|default/kept")
    assert [(a.verb, a.resource, a.name) for a in f.client.actions] == [("get", "replicasets", "web")]


def test_only_the_references_to_gone_owners_are_dropped_while_one_remains() -> None:
    f = controller_fixture(GarbageCollector)
    (live,) = f.add(replicaset("live", uid="rs-live"))
    gone = replicaset("gone", uid="rs-gone")
    shared = pod("shared", uid="p1")
    shared["metadata"]["ownerReferences"] = [owner_ref(live, controller=False), owner_ref(gone, controller=False)]
    f.add(shared)
    f.sync("pods|default/shared")
    (update,) = f.actions("update", "pods")
    assert [r["uid"] for r in update.object["metadata"]["ownerReferences"]] == ["rs-live"]
    assert f.actions("delete", "pods") == []


def test_orphan_deletion_releases_the_dependents_then_the_owner() -> None:
    f = controller_fixture(GarbageCollector)
    rs = replicaset("web", uid="rs-1")
    rs["metadata"].update(deletionTimestamp=DELETING, finalizers=["orphan"])
    (rs,) = f.add(rs)
    f.add(pod("p", owner=rs))
    f.sync("replicasets.apps|default/web")
    updates = {a.resource: a.object for a in f.actions("update")}
    assert updates["pods"]["metadata"].get("ownerReferences") in (None, [])
    assert updates["replicasets"]["metadata"].get("finalizers") in (None, [])
    assert f.actions("delete") == []


def test_foreground_deletion_deletes_the_dependents_and_waits_for_blocking_ones() -> None:
    f = controller_fixture(GarbageCollector)
    rs = replicaset("web", uid="rs-1")
    rs["metadata"].update(deletionTimestamp=DELETING, finalizers=["foregroundDeletion"])
    (rs,) = f.add(rs)
    dependent = pod("p", uid="p1")
    dependent["metadata"]["ownerReferences"] = [owner_ref(rs, block=True)]
    (dependent,) = f.add(dependent)
    f.sync("replicasets.apps|default/web")
    assert [a.name for a in f.actions("delete", "pods")] == ["p"]
    assert f.actions("update", "replicasets") == []  # still waiting for the pod to go
    f.remove(dependent)
    f.client.clear()
    f.sync("replicasets.apps|default/web")
    (update,) = f.actions("update", "replicasets")
    assert "foregroundDeletion" not in (update.object["metadata"].get("finalizers") or [])
