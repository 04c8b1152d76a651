"""Server-side apply and field ownership (issue 20), through the API server on an in-memory etcd.

What a user sees in `metadata.managedFields` after each kind of write, apply's conflicts and `force`, fields removed
when their last manager stops applying them, shared ownership, and the ways a client may reset or replace the
entries. Upstream: k8s.io/apimachinery pkg/util/managedfields/internal and sigs.k8s.io/structured-merge-diff.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from kubeling.api import meta
from kubeling.api.fieldmanager import fieldset
from support.memoryapi import APPLY, JSON_PATCH, MemoryAPI

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def api() -> Iterator[MemoryAPI]:
    server = MemoryAPI()
    yield server
    server.close()


def web(replicas: int = 2, image: str = "nginx") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": image,
                                                       "ports": [{"containerPort": 80}]}]}}},
    }


def apply(api: MemoryAPI, body: dict[str, Any], manager: str, path: str = DEPLOYMENTS + "/web", **query: Any) -> Any:
    return api.patch(path, body, APPLY, fieldManager=manager, **query)


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def test_apply_creates_the_object_and_owns_exactly_what_it_applied(api: MemoryAPI) -> None:
    response = apply(api, web(), "alice")
    assert response.status_code == 201
    obj = response.get_json()
    assert obj["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted, but not owned by the applier
    [entry] = obj["metadata"]["managedFields"]
    assert list(entry) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["fieldsType"]) == (
        "alice", "Apply", "apps/v1", "FieldsV1")
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},  # a LabelSelector is atomic
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"app"}': {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                }}},
            },
        },
    }


def test_create_records_an_update_by_the_user_agent_program_with_defaults_included(api: MemoryAPI) -> None:
    response = api.client.post(CONFIGMAPS, json={"metadata": {"name": "c", "labels": {"a": "b"}}, "data": {"k": "v"}},
                               headers={"User-Agent": "python-requests/2.32.3"})
    [entry] = response.get_json()["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("python-requests", "Update", "v1")
    # Maps the write added are owned themselves too ("."), as upstream's comparison records them.
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}}
    named = api.post(CONFIGMAPS, {"metadata": {"name": "d"}, "data": {"k": "v"}}, fieldManager="kubectl-create")
    assert named.get_json()["metadata"]["managedFields"][0]["manager"] == "kubectl-create"


def test_a_second_applier_changing_a_field_conflicts_with_upstream_409(api: MemoryAPI) -> None:
    apply(api, web(replicas=2), "alice")
    response = apply(api, web(replicas=3), "bob")
    assert response.status_code == 409
    status = response.get_json()
    assert status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas'
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".spec.replicas"}]
    assert api.get(DEPLOYMENTS + "/web").get_json()["spec"]["replicas"] == 2


def test_conflicts_with_updaters_name_their_version_and_list_every_field(api: MemoryAPI) -> None:
    apply(api, web(), "alice")
    api.patch(DEPLOYMENTS + "/web", {"spec": {"replicas": 5, "minReadySeconds": 3}}, fieldManager="kubectl-edit")
    body = web(replicas=1)
    body["spec"]["minReadySeconds"] = 4
    status = apply(api, body, "alice").get_json()
    assert status["message"] == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-edit" using apps/v1:\n- .spec.minReadySeconds\n'
        "- .spec.replicas")
    assert [c["field"] for c in status["details"]["causes"]] == [".spec.minReadySeconds", ".spec.replicas"]


def test_force_takes_the_field_from_the_other_manager(api: MemoryAPI) -> None:
    apply(api, web(replicas=2), "alice")
    response = apply(api, web(replicas=3), "bob", force="true")
    assert response.status_code == 200
    obj = response.get_json()
    assert obj["spec"]["replicas"] == 3
    owners = entries(obj)
    assert "f:replicas" not in owners["alice", "Apply"]["fieldsV1"]["f:spec"]
    assert "f:replicas" in owners["bob", "Apply"]["fieldsV1"]["f:spec"]


def test_applying_the_same_value_shares_ownership_without_conflict(api: MemoryAPI) -> None:
    apply(api, web(), "alice")
    response = apply(api, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                           "spec": {"replicas": 2}}, "bob")
    assert response.status_code == 200
    owners = entries(response.get_json())
    assert "f:replicas" in owners["alice", "Apply"]["fieldsV1"]["f:spec"]
    assert owners["bob", "Apply"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}


def test_a_field_its_only_manager_stops_applying_is_removed(api: MemoryAPI) -> None:
    body = web()
    body["metadata"]["annotations"] = {"note": "x"}
    body["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    apply(api, body, "alice")
    later = web()
    obj = apply(api, later, "alice").get_json()
    assert "annotations" not in obj["metadata"]
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["app"]


def test_a_field_another_manager_also_owns_stays_when_one_drops_it(api: MemoryAPI) -> None:
    apply(api, web(), "alice")
    apply(api, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}},
          "bob")
    later = web()
    del later["spec"]["replicas"]
    obj = apply(api, later, "alice").get_json()
    assert obj["spec"]["replicas"] == 2
    assert "f:replicas" not in entries(obj)["alice", "Apply"]["fieldsV1"]["f:spec"]


def test_an_update_takes_fields_from_appliers_and_removed_fields_leave_every_entry(api: MemoryAPI) -> None:
    body = web()
    body["metadata"]["annotations"] = {"note": "x"}
    apply(api, body, "alice")
    response = api.patch(DEPLOYMENTS + "/web", [
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "remove", "path": "/metadata/annotations"}], JSON_PATCH, fieldManager="scaler")
    owners = entries(response.get_json())
    alice = owners["alice", "Apply"]["fieldsV1"]
    assert "f:replicas" not in alice["f:spec"] and "f:annotations" not in alice["f:metadata"]
    assert owners["scaler", "Update"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    # Applying again is a conflict with the updater now.
    assert apply(api, web(), "alice").status_code == 409


def test_a_manager_left_with_no_fields_has_no_entry(api: MemoryAPI) -> None:
    apply(api, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}, "alice",
          CONFIGMAPS + "/c")
    obj = api.patch(CONFIGMAPS + "/c", {"data": {"k": "w"}}, fieldManager="editor").get_json()
    assert [e["manager"] for e in obj["metadata"]["managedFields"]] == ["editor"]


def test_status_writes_are_recorded_against_the_status_subresource(api: MemoryAPI) -> None:
    apply(api, web(), "alice")
    response = api.patch(DEPLOYMENTS + "/web/status", {"status": {"observedGeneration": 1}},
                         fieldManager="controller")
    owners = entries(response.get_json())
    entry = owners["controller", "Update"]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:observedGeneration": {}}}


def test_reapplying_the_same_configuration_changes_nothing(api: MemoryAPI) -> None:
    first = apply(api, web(), "alice").get_json()
    again = apply(api, web(), "alice").get_json()
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_clients_reset_managed_fields_with_an_empty_entry_and_replace_them_with_their_own(api: MemoryAPI) -> None:
    apply(api, web(), "alice")
    kept = api.patch(DEPLOYMENTS + "/web", {"metadata": {"managedFields": []}}).get_json()
    assert entries(kept).keys() == {("alice", "Apply")}  # an empty list is not a reset
    cleared = api.patch(DEPLOYMENTS + "/web", {"metadata": {"managedFields": [{}]}}).get_json()
    assert "managedFields" not in cleared["metadata"]
    mine = [{"manager": "importer", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    obj = api.get(DEPLOYMENTS + "/web").get_json()
    obj["metadata"]["managedFields"] = mine
    replaced = api.put(DEPLOYMENTS + "/web", obj).get_json()
    assert replaced["metadata"]["managedFields"] == mine


def test_apply_needs_a_field_manager_and_only_apply_may_force(api: MemoryAPI) -> None:
    response = api.patch(DEPLOYMENTS + "/web", web(), APPLY)
    assert response.status_code == 422
    assert response.get_json()["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch')
    apply(api, web(), "alice")
    forced = api.patch(DEPLOYMENTS + "/web", {"spec": {"replicas": 1}}, force="true")
    assert forced.status_code == 422
    assert forced.get_json()["message"].endswith("force: Forbidden: may not be specified for non-apply patch")


def test_an_apply_carrying_managed_fields_is_refused(api: MemoryAPI) -> None:
    body = web()
    body["metadata"]["managedFields"] = [{"manager": "x"}]
    response = apply(api, body, "alice")
    assert response.status_code == 400
    assert response.get_json()["message"] == "metadata.managedFields must be nil"


def test_field_paths_print_as_upstream() -> None:
    tree = {"f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}},
                       "f:finalizers": {'v:"x"': {}}}}
    assert fieldset.paths(tree) == ['.spec.containers[name="app"]', '.spec.containers[name="app"].image',
                                    '.spec.finalizers[="x"]']


def test_set_operations_keep_membership_apart_from_children() -> None:
    item = {".": {}, "f:image": {}}
    assert fieldset.difference({"k": item}, {"k": {"f:image": {}}}) == {"k": {}}
    assert fieldset.difference({"k": item}, {"k": {}}) == {"k": {"f:image": {}}}
    assert fieldset.intersection({"k": item}, {"k": {"f:name": {}}}) == {}
    assert fieldset.union({"k": {"f:image": {}}}, {"k": {}}) == {"k": item}
    original = copy.deepcopy(item)
    fieldset.union({"k": item}, {"k": {"f:name": {}}})
    assert item == original


def test_managed_fields_a_client_garbles_are_ignored(api: MemoryAPI) -> None:
    apply(api, web(), "alice")
    garbled = [{"manager": "x", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": 5}}]
    obj = api.patch(DEPLOYMENTS + "/web", {"metadata": {"managedFields": garbled}}).get_json()
    assert entries(obj).keys() == {("alice", "Apply")}
    assert apply(api, web(replicas=3), "alice").status_code == 200


def test_the_oldest_of_more_than_ten_updaters_merge_into_ancient_changes(api: MemoryAPI) -> None:
    api.post(CONFIGMAPS, {"metadata": {"name": "busy"}}, fieldManager="creator")
    for number in range(12):
        obj = api.patch(CONFIGMAPS + "/busy", {"data": {f"k{number}": "v"}}, fieldManager=f"editor-{number}").get_json()
    names = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(names) == 10 and "ancient-changes" in names and "editor-11" in names
    ancient = entries(obj)["ancient-changes", "Update"]["fieldsV1"]
    assert "f:k0" in ancient["f:data"]


def test_a_copy_of_an_object_shares_only_its_field_sets() -> None:
    obj = {"metadata": {"name": "x", "labels": {"a": "b"},
                        "managedFields": [{"manager": "m", "operation": "Update", "fieldsV1": {"f:data": {}}}]},
           "data": {"k": "v"}}
    copied = meta.deep_copy(obj)
    assert copied == obj
    assert copied["metadata"]["managedFields"][0]["fieldsV1"] is obj["metadata"]["managedFields"][0]["fieldsV1"]
    copied["metadata"]["managedFields"][0]["manager"] = "other"
    copied["metadata"]["labels"]["a"] = "c"
    copied["data"]["k"] = "w"
    assert obj["metadata"]["managedFields"][0]["manager"] == "m"
    assert (obj["metadata"]["labels"], obj["data"]) == ({"a": "b"}, {"k": "v"})


def test_writes_in_turn_never_change_a_set_already_stored(api: MemoryAPI) -> None:
    apply(api, web(), "alice")
    before = api.get(DEPLOYMENTS + "/web").get_json()["metadata"]["managedFields"]
    frozen = copy.deepcopy(before)
    api.patch(DEPLOYMENTS + "/web", {"spec": {"replicas": 4}}, fieldManager="scaler")
    assert apply(api, web(image="nginx:2"), "alice").status_code == 409  # scaler owns replicas now
    assert apply(api, web(replicas=4, image="nginx:2"), "alice").status_code == 200
    api.patch(DEPLOYMENTS + "/web", [{"op": "replace", "path": "/spec/replicas", "value": 5}], JSON_PATCH,
              fieldManager="scaler")
    assert before == frozen
    obj = api.get(DEPLOYMENTS + "/web").get_json()
    assert entries(obj).keys() == {("alice", "Apply"), ("scaler", "Update")}
    assert entries(obj)["scaler", "Update"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
