"""API semantics as a client sees them (status codes, Status bodies, objects, watch events), through Flask's test
client on an in-memory etcd: the API server's own code, with no process and no socket.

Upstream's counterparts are the apiserver integration tests (test/integration/apiserver/) and the generic
registry's store tests (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store_test.go).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubeling.apiserver.allocators import Allocator, IPAllocator
from support.builders import deployment, namespace, node, pod, service
from support.memoryapi import APPLY, JSON_PATCH, STRATEGIC, MemoryAPI

PODS = "/api/v1/namespaces/default/pods"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture
def api() -> Iterator[MemoryAPI]:
    server = MemoryAPI()
    yield server
    server.close()


def status_of(response) -> dict:
    """The Status body of a failed request, checked to be one."""
    body = response.get_json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure", body
    assert body["code"] == response.status_code
    return body


def rv(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])


# Create, read, validation


def test_create_fills_in_server_fields_and_get_returns_the_object(api: MemoryAPI) -> None:
    created = api.create(PODS, pod("a", labels={"app": "web"}))
    meta = created["metadata"]
    assert meta["namespace"] == "default" and meta["uid"] and meta["creationTimestamp"] and rv(created) > 0
    got = api.get(f"{PODS}/a")
    assert got.status_code == 200
    assert got.get_json()["metadata"] == meta


def test_reading_a_missing_object_is_a_not_found_status(api: MemoryAPI) -> None:
    response = api.get(f"{PODS}/nope")
    body = status_of(response)
    assert response.status_code == 404 and body["reason"] == "NotFound"
    assert body["details"] == {"name": "nope", "kind": "pods"}
    assert body["message"] == 'pods "nope" not found'


def test_creating_twice_is_already_exists(api: MemoryAPI) -> None:
    api.create(PODS, pod("a"))
    response = api.post(PODS, pod("a"))
    assert response.status_code == 409 and status_of(response)["reason"] == "AlreadyExists"


def test_an_invalid_object_is_a_422_status_with_causes(api: MemoryAPI) -> None:
    response = api.post(PODS, pod("a", containers=[{"name": "Bad_Name"}]))
    body = status_of(response)
    assert response.status_code == 422 and body["reason"] == "Invalid"
    assert body["details"]["name"] == "a" and body["details"]["kind"] == "Pod"
    fields = {cause["field"] for cause in body["details"]["causes"]}
    assert {"spec.containers[0].name", "spec.containers[0].image"} <= fields
    assert api.get(f"{PODS}/a").status_code == 404


def test_a_body_that_is_not_json_is_a_400_status(api: MemoryAPI) -> None:
    response = api.client.post(PODS, data=b"{not json", content_type="application/json")
    assert response.status_code == 400 and status_of(response)["reason"] == "BadRequest"


def test_a_namespace_in_the_body_must_match_the_path(api: MemoryAPI) -> None:
    response = api.post(PODS, pod("a", namespace="other"))
    assert response.status_code == 400 and status_of(response)["reason"] == "BadRequest"


# Optimistic concurrency


def test_an_update_from_a_stale_resource_version_is_a_409_conflict(api: MemoryAPI) -> None:
    first = api.create(PODS, pod("a"))
    fresh = dict(first, metadata={**first["metadata"], "labels": {"v": "1"}})
    updated = api.put(f"{PODS}/a", fresh)
    assert updated.status_code == 200 and rv(updated.get_json()) > rv(first)
    stale = dict(first, metadata={**first["metadata"], "labels": {"v": "2"}})
    response = api.put(f"{PODS}/a", stale)
    body = status_of(response)
    assert response.status_code == 409 and body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    assert api.get(f"{PODS}/a").get_json()["metadata"]["labels"] == {"v": "1"}


def test_a_delete_with_a_stale_uid_precondition_is_a_409_conflict(api: MemoryAPI) -> None:
    api.create(PODS, pod("a"))
    response = api.delete(f"{PODS}/a", {"preconditions": {"uid": "not-the-uid"}})
    assert response.status_code == 409 and status_of(response)["reason"] == "Conflict"
    assert api.get(f"{PODS}/a").status_code == 200


# Patch types


def test_merge_patch_sets_and_removes_keys(api: MemoryAPI) -> None:
    api.create(PODS, pod("a", labels={"keep": "1", "drop": "1"}))
    response = api.patch(f"{PODS}/a", {"metadata": {"labels": {"drop": None, "new": "2"}}})
    assert response.status_code == 200
    assert response.get_json()["metadata"]["labels"] == {"keep": "1", "new": "2"}


def test_merge_patch_replaces_lists_but_strategic_merge_merges_them_by_name(api: MemoryAPI) -> None:
    two = [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]
    api.create(DEPLOYMENTS, deployment("d", containers=two))
    change = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "nginx"}]}}}}
    strategic = api.patch(f"{DEPLOYMENTS}/d", change, STRATEGIC).get_json()
    assert [(c["name"], c["image"]) for c in strategic["spec"]["template"]["spec"]["containers"]] == [
        ("a", "busybox"), ("b", "nginx")]
    merged = api.patch(f"{DEPLOYMENTS}/d", change).get_json()
    assert [(c["name"], c["image"]) for c in merged["spec"]["template"]["spec"]["containers"]] == [("b", "nginx")]


def test_strategic_merge_patch_delete_directive(api: MemoryAPI) -> None:
    two = [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]
    api.create(DEPLOYMENTS, deployment("d", containers=two))
    change = {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}
    patched = api.patch(f"{DEPLOYMENTS}/d", change, STRATEGIC).get_json()
    assert [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]] == ["b"]


def test_json_patch_applies_operations_in_order_and_a_failed_test_changes_nothing(api: MemoryAPI) -> None:
    api.create(PODS, pod("a", labels={"app": "web"}))
    ops = [{"op": "test", "path": "/metadata/labels/app", "value": "web"},
           {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
           {"op": "remove", "path": "/metadata/labels/app"}]
    response = api.patch(f"{PODS}/a", ops, JSON_PATCH)
    assert response.status_code == 200 and response.get_json()["metadata"]["labels"] == {"tier": "front"}
    failing = [{"op": "test", "path": "/metadata/labels/tier", "value": "back"},
               {"op": "add", "path": "/metadata/labels/x", "value": "y"}]
    response = api.patch(f"{PODS}/a", failing, JSON_PATCH)
    assert response.status_code == 422 and status_of(response)["reason"] == "Invalid"
    assert api.get(f"{PODS}/a").get_json()["metadata"]["labels"] == {"tier": "front"}


def test_a_patch_carrying_a_stale_resource_version_is_a_conflict(api: MemoryAPI) -> None:
    created = api.create(PODS, pod("a"))
    api.patch(f"{PODS}/a", {"metadata": {"labels": {"x": "1"}}})
    response = api.patch(f"{PODS}/a", {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"],
                                                    "labels": {"x": "2"}}})
    assert response.status_code == 409 and status_of(response)["reason"] == "Conflict"


def test_a_patch_that_only_matches_a_stale_cached_copy_is_still_applied(api: MemoryAPI) -> None:
    created = api.create(PODS, pod("a", labels={"app": "other"}))
    api.settle("pods", rv(created))
    api.app.extensions["kubeling.watcher"].hubs["pods"].stop()  # the cache now lags, as it may for a moment
    assert api.patch(f"{PODS}/a", {"metadata": {"labels": {"app": "web"}}}).status_code == 200
    response = api.patch(f"{PODS}/a", {"metadata": {"labels": {"app": "other"}}})
    assert response.status_code == 200
    assert api.get(f"{PODS}/a").get_json()["metadata"]["labels"] == {"app": "other"}


def test_a_patch_of_a_missing_object_is_not_found(api: MemoryAPI) -> None:
    response = api.patch(f"{PODS}/nope", {"metadata": {"labels": {"x": "1"}}})
    assert response.status_code == 404 and status_of(response)["reason"] == "NotFound"


def test_an_unknown_patch_content_type_is_415(api: MemoryAPI) -> None:
    api.create(PODS, pod("a"))
    response = api.patch(f"{PODS}/a", {"metadata": {}}, "text/plain")
    assert response.status_code == 415


def test_server_side_apply_creates_then_updates(api: MemoryAPI) -> None:
    manifest = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: '1'\n")
    path = "/api/v1/namespaces/default/configmaps/cfg"
    created = api.patch(path, manifest, APPLY, fieldManager="test")
    assert created.status_code == 201 and created.get_json()["data"] == {"a": "1"}
    updated = api.patch(path, manifest.replace("'1'", "'2'"), APPLY, fieldManager="test")
    assert updated.status_code == 200 and updated.get_json()["data"] == {"a": "2"}


# Lists: selectors and paging


def test_label_selectors_as_kubectl_sends_them(api: MemoryAPI) -> None:
    api.create(PODS, pod("a", labels={"app": "web", "tier": "front"}))
    api.create(PODS, pod("b", labels={"app": "web"}))
    api.create(PODS, pod("c", labels={"app": "db"}))

    def names(selector: str) -> list[str]:
        response = api.get(PODS, labelSelector=selector)
        assert response.status_code == 200, response.get_json()
        return [item["metadata"]["name"] for item in response.get_json()["items"]]

    assert names("app=web") == ["a", "b"]
    assert names("app!=web") == ["c"]
    assert names("app in (db, cache)") == ["c"]
    assert names("tier") == ["a"]
    assert names("!tier") == ["b", "c"]
    assert names("app=web,!tier") == ["b"]
    assert status_of(api.get(PODS, labelSelector="app==(")) ["code"] == 400


def test_field_selectors_on_the_fields_each_kind_supports(api: MemoryAPI) -> None:
    api.create(PODS, pod("a", node="n1"))
    api.create(PODS, pod("b"))
    assert [p["metadata"]["name"] for p in api.get(PODS, fieldSelector="spec.nodeName=n1").get_json()["items"]] == [
        "a"]
    assert [p["metadata"]["name"] for p in api.get(PODS, fieldSelector="spec.nodeName=").get_json()["items"]] == [
        "b"]
    assert [p["metadata"]["name"] for p in api.get(PODS, fieldSelector="metadata.name!=a").get_json()["items"]] == [
        "b"]
    response = api.get(PODS, fieldSelector="spec.image=x")
    assert response.status_code == 400 and status_of(response)["reason"] == "BadRequest"


def test_paging_with_limit_and_continue_reads_one_consistent_snapshot(api: MemoryAPI) -> None:
    for name in "abcde":
        api.create(PODS, pod(name))
    first = api.get(PODS, limit=2).get_json()
    assert [p["metadata"]["name"] for p in first["items"]] == ["a", "b"]
    assert first["metadata"]["remainingItemCount"] == 3 and first["metadata"]["continue"]
    api.create(PODS, pod("aa"))  # after the first page's revision: not part of this list
    api.delete(f"{PODS}/e")
    second = api.get(PODS, limit=2, **{"continue": first["metadata"]["continue"]}).get_json()
    assert [p["metadata"]["name"] for p in second["items"]] == ["c", "d"]
    third = api.get(PODS, limit=2, **{"continue": second["metadata"]["continue"]}).get_json()
    assert [p["metadata"]["name"] for p in third["items"]] == ["e"]
    assert not third["metadata"].get("continue")
    assert third["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_a_continue_token_from_before_a_compaction_is_410_expired(api: MemoryAPI) -> None:
    for name in "abc":
        api.create(PODS, pod(name))
    token = api.get(PODS, limit=1).get_json()["metadata"]["continue"]
    api.create(PODS, pod("d"))
    api.etcd.compact(api.etcd.revision())
    response = api.get(PODS, limit=1, **{"continue": token})
    assert response.status_code == 410 and status_of(response)["reason"] == "Expired"


def test_a_malformed_continue_token_is_a_bad_request(api: MemoryAPI) -> None:
    response = api.get(PODS, limit=1, **{"continue": "garbage!"})
    assert response.status_code == 400 and status_of(response)["reason"] == "BadRequest"


# Namespaces


def test_lists_are_per_namespace_or_across_all(api: MemoryAPI) -> None:
    api.create("/api/v1/namespaces", namespace("team"))
    api.create(PODS, pod("a"))
    api.create("/api/v1/namespaces/team/pods", pod("b", namespace=None))
    assert [p["metadata"]["name"] for p in api.get("/api/v1/namespaces/team/pods").get_json()["items"]] == ["b"]
    everywhere = api.get("/api/v1/pods").get_json()["items"]
    assert sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in everywhere) == [
        ("default", "a"), ("team", "b")]


def test_creating_in_a_missing_namespace_is_not_found(api: MemoryAPI) -> None:
    response = api.post("/api/v1/namespaces/nowhere/pods", pod("a", namespace=None))
    body = status_of(response)
    assert response.status_code == 404 and body["details"]["kind"] == "namespaces"


def test_a_deleted_namespace_terminates_and_refuses_new_objects(api: MemoryAPI) -> None:
    api.create("/api/v1/namespaces", namespace("team"))
    deleted = api.delete("/api/v1/namespaces/team")
    assert deleted.status_code == 200
    ns = api.get("/api/v1/namespaces/team").get_json()
    assert ns["metadata"]["deletionTimestamp"] and ns["status"]["phase"] == "Terminating"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    # The check reads the watch cache (as upstream's NamespaceLifecycle admission, which however looks a namespace
    # up live for a while after deleting it): let the cache see the deletion first.
    api.settle("namespaces", rv(ns))
    response = api.post("/api/v1/namespaces/team/pods", pod("a", namespace=None))
    body = status_of(response)
    assert response.status_code == 403 and body["reason"] == "Forbidden"
    assert "because it is being terminated" in body["message"]


def test_cluster_scoped_objects_have_no_namespace(api: MemoryAPI) -> None:
    created = api.create("/api/v1/nodes", node("n1"))
    assert "namespace" not in created["metadata"]
    assert api.get("/api/v1/namespaces/default/nodes/n1").status_code == 404


# Dry run


def test_dry_run_create_update_and_delete_validate_but_store_nothing(api: MemoryAPI) -> None:
    response = api.post(PODS, pod("a"), dryRun="All")
    assert response.status_code == 201 and response.get_json()["metadata"]["name"] == "a"
    assert api.get(f"{PODS}/a").status_code == 404
    invalid = api.post(PODS, pod("a", containers=[]), dryRun="All")
    assert invalid.status_code == 422
    created = api.create(PODS, pod("a"))
    patched = api.patch(f"{PODS}/a", {"metadata": {"labels": {"x": "1"}}}, dryRun="All")
    assert patched.status_code == 200 and patched.get_json()["metadata"]["labels"] == {"x": "1"}
    assert api.delete(f"{PODS}/a", dryRun="All").status_code == 200
    assert api.get(f"{PODS}/a").get_json() == created


def test_an_unknown_dry_run_value_is_rejected(api: MemoryAPI) -> None:
    response = api.post(PODS, pod("a"), dryRun="Some")
    assert response.status_code == 422 and status_of(response)["reason"] == "Invalid"


# Finalizers and deletion


def test_a_finalizer_holds_a_deleted_object_until_it_is_removed(api: MemoryAPI) -> None:
    api.create("/api/v1/namespaces/default/configmaps",
               {"metadata": {"name": "cfg", "finalizers": ["example.com/hold"]}, "data": {}})
    path = "/api/v1/namespaces/default/configmaps/cfg"
    marked = api.delete(path)
    assert marked.status_code == 200
    held = api.get(path).get_json()
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == ["example.com/hold"]
    more = api.patch(path, {"metadata": {"finalizers": ["example.com/hold", "example.com/other"]}})
    assert more.status_code == 422  # no new finalizers on an object being deleted
    released = api.patch(path, {"metadata": {"finalizers": None}})
    assert released.status_code == 200
    assert api.get(path).status_code == 404


def test_foreground_deletion_adds_its_finalizer(api: MemoryAPI) -> None:
    api.create(DEPLOYMENTS, deployment("d"))
    response = api.delete(f"{DEPLOYMENTS}/d", {"propagationPolicy": "Foreground"})
    assert response.status_code == 200
    held = api.get(f"{DEPLOYMENTS}/d").get_json()
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"] and held["metadata"]["deletionTimestamp"]


def test_delete_collection_removes_only_the_selected(api: MemoryAPI) -> None:
    api.create(PODS, pod("a", labels={"app": "web"}))
    api.create(PODS, pod("b", labels={"app": "db"}))
    assert api.delete(PODS, labelSelector="app=web").status_code == 200
    assert [p["metadata"]["name"] for p in api.get(PODS).get_json()["items"]] == ["b"]


# Subresources


def test_status_and_main_resource_each_ignore_the_others_half(api: MemoryAPI) -> None:
    created = api.create(DEPLOYMENTS, deployment("d", replicas=1))
    changed = dict(created, spec={**created["spec"], "replicas": 5}, status={"replicas": 7})
    via_status = api.put(f"{DEPLOYMENTS}/d/status", changed).get_json()
    assert via_status["spec"]["replicas"] == 1 and via_status["status"]["replicas"] == 7
    again = dict(via_status, spec={**via_status["spec"], "replicas": 3}, status={"replicas": 0})
    via_main = api.put(f"{DEPLOYMENTS}/d", again).get_json()
    assert via_main["spec"]["replicas"] == 3 and via_main["status"]["replicas"] == 7


def test_a_spec_change_bumps_generation_a_status_change_does_not(api: MemoryAPI) -> None:
    created = api.create(DEPLOYMENTS, deployment("d"))
    assert created["metadata"]["generation"] == 1
    status = api.patch(f"{DEPLOYMENTS}/d/status", {"status": {"replicas": 1}}).get_json()
    assert status["metadata"]["generation"] == 1
    spec = api.patch(f"{DEPLOYMENTS}/d", {"spec": {"replicas": 4}}).get_json()
    assert spec["metadata"]["generation"] == 2


def test_scale_subresource_reads_and_writes_replicas(api: MemoryAPI) -> None:
    api.create(DEPLOYMENTS, deployment("d", replicas=2))
    scale = api.get(f"{DEPLOYMENTS}/d/scale").get_json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 2 and scale["status"]["selector"] == "app=d"
    scale["spec"]["replicas"] = 5
    assert api.put(f"{DEPLOYMENTS}/d/scale", scale).get_json()["spec"]["replicas"] == 5
    assert api.get(f"{DEPLOYMENTS}/d").get_json()["spec"]["replicas"] == 5
    patched = api.patch(f"{DEPLOYMENTS}/d/scale", {"spec": {"replicas": 1}})
    assert patched.status_code == 200 and patched.get_json()["spec"]["replicas"] == 1
    negative = api.patch(f"{DEPLOYMENTS}/d/scale", {"spec": {"replicas": -1}})
    assert negative.status_code == 422


def test_binding_assigns_a_pod_to_a_node_once(api: MemoryAPI) -> None:
    api.create(PODS, pod("a"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "a"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}}
    response = api.post(f"{PODS}/a/binding", binding)
    assert response.status_code == 201
    assert api.get(f"{PODS}/a").get_json()["spec"]["nodeName"] == "n1"
    again = api.post(f"{PODS}/a/binding", {**binding, "target": {"kind": "Node", "name": "n2"}})
    assert again.status_code == 409 and status_of(again)["reason"] == "Conflict"
    assert api.get(f"{PODS}/a").get_json()["spec"]["nodeName"] == "n1"


def test_a_service_gets_a_cluster_ip_and_a_node_port(api: MemoryAPI) -> None:
    created = api.create("/api/v1/namespaces/default/services", service("web", type="NodePort"))
    assert created["spec"]["clusterIP"].startswith("10.")
    assert 30000 <= created["spec"]["ports"][0]["nodePort"] <= 32767
    taken = service("other", type="NodePort", ports=[{"port": 80, "nodePort": created["spec"]["ports"][0]["nodePort"]}])
    response = api.post("/api/v1/namespaces/default/services", taken)
    assert response.status_code == 422 and status_of(response)["reason"] == "Invalid"


def test_a_service_whose_random_picks_were_taken_meanwhile_gets_other_ones(api: MemoryAPI,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Two creates racing: the second picks the cluster IP and node port the first has just claimed; its claim
    fails in etcd's transaction, and it picks again from what it asked for (no IP, no port), not from its own
    first picks, which would be refused as "already allocated"."""
    first = api.create("/api/v1/namespaces/default/services", service("first", type="NodePort"))
    ip, port = first["spec"]["clusterIP"], first["spec"]["ports"][0]["nodePort"]
    ip_picks, port_picks = [ip], [port]  # what the racing create picks first
    real_pick = Allocator.pick

    def racing_pick(self: Allocator, exclude: set[str] = frozenset()) -> int:  # type: ignore[assignment]
        picks = ip_picks if isinstance(self, IPAllocator) else port_picks
        if picks:
            value = picks.pop()
            return self.parse(value) if isinstance(self, IPAllocator) else value
        return real_pick(self, exclude)

    monkeypatch.setattr(Allocator, "pick", racing_pick)
    second = api.create("/api/v1/namespaces/default/services", service("second", type="NodePort"))
    assert second["spec"]["clusterIP"] not in ("", ip)
    assert second["spec"]["ports"][0]["nodePort"] != port


# Watch


def test_watch_from_a_resource_version_sends_every_later_change_in_order(api: MemoryAPI) -> None:
    start = api.get(PODS).get_json()["metadata"]["resourceVersion"]
    api.create(PODS, pod("a"))
    api.patch(f"{PODS}/a", {"metadata": {"labels": {"x": "1"}}})
    api.delete(f"{PODS}/a", {"gracePeriodSeconds": 0})
    events = api.watch(PODS, 3, resourceVersion=start)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    versions = [rv(e["object"]) for e in events]
    assert versions == sorted(versions) and versions[0] > int(start)
    assert events[1]["object"]["metadata"]["labels"] == {"x": "1"}


def test_a_watch_resumes_after_the_last_version_it_saw(api: MemoryAPI) -> None:
    start = api.get(PODS).get_json()["metadata"]["resourceVersion"]
    for name in "abc":
        api.create(PODS, pod(name))
    seen = api.watch(PODS, 2, resourceVersion=start)
    resumed = api.watch(PODS, 1, resourceVersion=seen[-1]["object"]["metadata"]["resourceVersion"])
    assert [e["object"]["metadata"]["name"] for e in seen + resumed] == ["a", "b", "c"]


def test_a_watch_without_a_version_starts_with_the_current_objects(api: MemoryAPI) -> None:
    api.create(PODS, pod("a"))
    events = api.watch(PODS, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


def test_a_selected_watch_sees_objects_enter_and_leave_the_selection(api: MemoryAPI) -> None:
    start = api.get(PODS).get_json()["metadata"]["resourceVersion"]
    api.create(PODS, pod("a", labels={"app": "other"}))
    api.patch(f"{PODS}/a", {"metadata": {"labels": {"app": "web"}}})
    api.patch(f"{PODS}/a", {"metadata": {"labels": {"app": "web", "x": "1"}}})
    api.patch(f"{PODS}/a", {"metadata": {"labels": {"app": "db"}}})
    events = api.watch(PODS, 3, resourceVersion=start, labelSelector="app=web")
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]


def test_a_watch_from_before_the_kept_history_is_410_gone(api: MemoryAPI) -> None:
    start = api.get(PODS).get_json()["metadata"]["resourceVersion"]
    api.app.extensions["kubeling.watcher"].hubs["pods"].capacity = 2  # the server keeps two events
    last = [api.create(PODS, pod(name)) for name in "abcd"][-1]
    api.settle("pods", rv(last))  # the server's buffer now holds only the last two
    # Older than the server's buffer: served from etcd's history while it lasts...
    assert [e["object"]["metadata"]["name"] for e in api.watch(PODS, 4, resourceVersion=start)] == list("abcd")
    # ...and 410 Gone once etcd has compacted it away.
    api.etcd.compact(api.etcd.revision())
    response = api.get(PODS, watch="true", resourceVersion=start, timeoutSeconds=1)
    body = status_of(response)
    assert response.status_code == 410 and body["reason"] == "Expired"
    assert "too old resource version" in body["message"]


def test_watch_events_of_one_namespace_only(api: MemoryAPI) -> None:
    api.create("/api/v1/namespaces", namespace("team"))
    start = api.get(PODS).get_json()["metadata"]["resourceVersion"]
    api.create("/api/v1/namespaces/team/pods", pod("b", namespace=None))
    api.create(PODS, pod("a"))
    events = api.watch(PODS, 1, resourceVersion=start)
    assert [e["object"]["metadata"]["name"] for e in events] == ["a"]


# Names, tables, discovery, graceful deletion


def test_generate_name_gets_a_random_suffix(api: MemoryAPI) -> None:
    body = pod("ignored")
    body["metadata"] = {"generateName": "web-"}
    first, second = api.create(PODS, body), api.create(PODS, body)
    assert first["metadata"]["name"].startswith("web-") and len(first["metadata"]["name"]) == len("web-") + 5
    assert first["metadata"]["name"] != second["metadata"]["name"]


def test_put_does_not_create_a_missing_pod(api: MemoryAPI) -> None:
    response = api.put(f"{PODS}/missing", pod("missing"))
    assert response.status_code == 404 and status_of(response)["reason"] == "NotFound"


def test_a_table_is_what_kubectl_get_asks_for(api: MemoryAPI) -> None:
    api.create(PODS, pod("a", node="n1"))
    response = api.client.get(PODS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    table = response.get_json()
    assert response.status_code == 200 and (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    names = [column["name"] for column in table["columnDefinitions"]]
    assert names[:3] == ["Name", "Ready", "Status"]
    (row,) = table["rows"]
    assert row["cells"][:3] == ["a", "0/1", "Pending"]


def test_discovery_lists_groups_and_their_resources(api: MemoryAPI) -> None:
    assert api.get("/api").get_json()["versions"] == ["v1"]
    resources = {r["name"]: r for r in api.get("/apis/apps/v1").get_json()["resources"]}
    assert {"deployments", "deployments/status", "deployments/scale"} <= set(resources)
    assert resources["deployments"]["namespaced"] and resources["deployments"]["kind"] == "Deployment"


def test_a_scheduled_pod_is_deleted_gracefully_an_unscheduled_one_at_once(api: MemoryAPI) -> None:
    api.create(PODS, pod("bound", node="n1"))
    api.create(PODS, pod("pending"))
    marked = api.delete(f"{PODS}/bound").get_json()
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert api.get(f"{PODS}/bound").status_code == 200  # until its kubelet confirms with grace 0
    assert api.delete(f"{PODS}/bound", {"gracePeriodSeconds": 0}).status_code == 200
    assert api.get(f"{PODS}/bound").status_code == 404
    assert api.delete(f"{PODS}/pending").status_code == 200
    assert api.get(f"{PODS}/pending").status_code == 404


def test_every_cluster_starts_with_the_kubernetes_service_and_system_namespaces(api: MemoryAPI) -> None:
    service_ip = api.get("/api/v1/namespaces/default/services/kubernetes").get_json()["spec"]["clusterIP"]
    assert service_ip == "10.96.0.1"
    names = {ns["metadata"]["name"] for ns in api.get("/api/v1/namespaces").get_json()["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
