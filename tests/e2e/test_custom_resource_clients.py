"""Custom resources through the API and the Python clients people write controllers with, and the bad input
upstream refuses, each with upstream's Status.

- the official client's `CustomObjectsApi` and its dynamic client, and lightkube's generic resources: create,
  get, list with label and field selectors (including a CRD's `selectableFields`), patch, the status and scale
  subresources, watch, delete and deletecollection;
- the API machinery as for built-in kinds: field selectors on metadata.name and metadata.namespace, a
  cluster-scoped resource, the scale subresource's selector, resourceVersion conflicts, server-side apply,
  generation only on spec changes, dry run, a status the main resource cannot change;
- bad input: a CR against its schema (422, one cause per field), a CRD whose schema is not structural, a CRD
  renamed or changing scope, a conversion webhook, names another CRD already has, a version not served.

All on the session's API server, each test with CRDs in a group of its own.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException
from lightkube import Client as LightClient
from lightkube import KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import PatchType

from support.polling import wait_until

pytestmark = pytest.mark.e2e

TIMEOUT = 10


def widget_crd(group: str, **extra: Any) -> dict[str, Any]:
    """A Widget CRD with a status and a scale subresource, a default, a selectable field and printer columns."""
    version = {
        "name": "v1", "served": True, "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "color": {"type": "string", "enum": ["red", "green", "blue"]},
                "size": {"type": "integer", "minimum": 1, "default": 3},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set",
                         "maxItems": 3},
                "port": {"x-kubernetes-int-or-string": True},
                "when": {"type": "string", "format": "date-time"},
                "note": {"type": "string", "nullable": True, "maxLength": 5},
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"],
                                    "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            }},
            "status": {"type": "object", "properties": {"ready": {"type": "integer"}}},
        }}},
        "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size",
                                                 "statusReplicasPath": ".status.ready"}},
        "selectableFields": [{"jsonPath": ".spec.color"}],
        **extra,
    }
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{group}"},
            "spec": {"group": group, "scope": "Namespaced", "versions": [version],
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]}}}


def crd_url(server: str, name: str = "") -> str:
    return f"{server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions" + (f"/{name}" if name else "")


def create_crd(server: str, crd: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(crd_url(server), json=crd, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    name = crd["metadata"]["name"]
    return wait_until(lambda: established(server, name), 30, f"{name} to be established")


def established(server: str, name: str) -> dict[str, Any] | None:
    crd = requests.get(crd_url(server, name), timeout=TIMEOUT).json()
    ok = any(c["type"] == "Established" and c["status"] == "True" for c in crd.get("status", {}).get("conditions", []))
    return crd if ok else None


@pytest.fixture()
def widgets(apiserver: Any) -> Iterator[dict[str, str]]:
    """A Widget CRD in a group of this test's own, and a namespace."""
    group = f"w{uuid.uuid4().hex[:8]}.example.com"
    create_crd(apiserver.url, widget_crd(group))
    ns = f"wd-{uuid.uuid4().hex[:6]}"
    requests.post(f"{apiserver.url}/api/v1/namespaces", json={"metadata": {"name": ns}}, timeout=TIMEOUT)
    yield {"group": group, "ns": ns, "url": f"{apiserver.url}/apis/{group}/v1/namespaces/{ns}/widgets"}
    requests.delete(crd_url(apiserver.url, f"widgets.{group}"), timeout=TIMEOUT)


@pytest.fixture()
def api(apiserver: Any) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    cfg.host = apiserver.url
    with client.ApiClient(cfg) as api_client:
        yield api_client


def widget(name: str, labels: dict[str, str] | None = None, group: str = "", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": name, "labels": labels or {}},
            "spec": spec}


# The official client


def test_custom_objects_api(api, widgets):
    group, ns = widgets["group"], widgets["ns"]
    objects = client.CustomObjectsApi(api)
    created = objects.create_namespaced_custom_object(group, "v1", ns, "widgets",
                                                      widget("a", {"tier": "front"}, group, color="red"))
    assert created["spec"] == {"color": "red", "size": 3}  # the default
    objects.create_namespaced_custom_object(group, "v1", ns, "widgets", widget("b", {"tier": "back"}, group,
                                                                                 color="blue"))
    got = objects.get_namespaced_custom_object(group, "v1", ns, "widgets", "a")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    listed = objects.list_namespaced_custom_object(group, "v1", ns, "widgets", label_selector="tier=front")
    assert [w["metadata"]["name"] for w in listed["items"]] == ["a"]
    by_field = objects.list_namespaced_custom_object(group, "v1", ns, "widgets", field_selector="spec.color=blue")
    assert [w["metadata"]["name"] for w in by_field["items"]] == ["b"]

    patched = objects.patch_namespaced_custom_object(group, "v1", ns, "widgets", "a", {"spec": {"color": "green"}})
    assert patched["spec"]["color"] == "green" and patched["metadata"]["generation"] == 2
    status = objects.patch_namespaced_custom_object_status(group, "v1", ns, "widgets", "a",
                                                           {"status": {"ready": 2}, "spec": {"color": "red"}})
    assert status["status"] == {"ready": 2} and status["spec"]["color"] == "green"  # /status changes status only
    assert status["metadata"]["generation"] == 2
    scale = objects.get_namespaced_custom_object_scale(group, "v1", ns, "widgets", "a")
    assert (scale["spec"]["replicas"], scale["status"]["replicas"]) == (3, 2)
    objects.patch_namespaced_custom_object_scale(group, "v1", ns, "widgets", "a", {"spec": {"replicas": 5}})
    assert objects.get_namespaced_custom_object(group, "v1", ns, "widgets", "a")["spec"]["size"] == 5

    objects.delete_namespaced_custom_object(group, "v1", ns, "widgets", "a")
    with pytest.raises(ApiException) as missing:
        objects.get_namespaced_custom_object(group, "v1", ns, "widgets", "a")
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["message"] == f'widgets.{group} "a" not found'
    objects.delete_collection_namespaced_custom_object(group, "v1", ns, "widgets")
    assert objects.list_namespaced_custom_object(group, "v1", ns, "widgets")["items"] == []


def test_dynamic_client(api, widgets):
    group, ns = widgets["group"], widgets["ns"]
    resource = dynamic.DynamicClient(api).resources.get(api_version=f"{group}/v1", kind="Widget")
    assert resource.namespaced and "wd" in resource.short_names
    created = resource.create(body=widget("dyn", group=group, color="red"), namespace=ns)
    assert created.spec.size == 3
    patched = resource.patch(name="dyn", namespace=ns, body={"spec": {"size": 4}},
                             content_type="application/merge-patch+json")
    assert patched.spec.size == 4
    events = []

    def watch() -> None:
        for event in resource.watch(namespace=ns, timeout=10):
            events.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    wait_until(lambda: ("ADDED", "dyn") in events, 10, "the watch's ADDED event")
    resource.delete(name="dyn", namespace=ns)
    watcher.join(15)
    assert events[-1] == ("DELETED", "dyn")


def test_lightkube_generic_resources(apiserver, widgets):
    group, ns = widgets["group"], widgets["ns"]
    Widget = create_namespaced_resource(group, "v1", "Widget", "widgets")
    config = KubeConfig.from_dict({
        "clusters": [{"name": "c", "cluster": {"server": apiserver.url}}], "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u", "namespace": ns}}],
        "current-context": "t"})
    light = LightClient(config, trust_env=False)
    created = light.create(Widget(metadata={"name": "lk"}, spec={"color": "blue"}))
    assert created.spec == {"color": "blue", "size": 3}
    assert light.get(Widget, "lk").metadata.uid == created.metadata.uid
    assert [w.metadata.name for w in light.list(Widget)] == ["lk"]
    light.patch(Widget, "lk", {"spec": {"size": 7}}, patch_type=PatchType.MERGE)
    light.patch(Widget.Status, "lk", {"status": {"ready": 1}}, patch_type=PatchType.MERGE)
    got = light.get(Widget, "lk")
    assert (got.spec["size"], got.status["ready"]) == (7, 1)
    scale = light.get(Widget.Scale, "lk")
    assert scale.spec.replicas == 7
    light.delete(Widget, "lk")
    assert list(light.list(Widget)) == []


# The API machinery, as for built-in kinds


def test_field_selectors_on_metadata_name_and_namespace_across_namespaces(apiserver, widgets):
    group, ns = widgets["group"], widgets["ns"]
    for namespace in (ns, "default"):
        for name in ("one", "two"):
            url = f"{apiserver.url}/apis/{group}/v1/namespaces/{namespace}/widgets"
            assert requests.post(url, json=widget(name, group=group), timeout=TIMEOUT).status_code == 201
    everywhere = f"{apiserver.url}/apis/{group}/v1/widgets"

    def selected(selector: str) -> list[tuple[str, str]]:
        response = requests.get(everywhere, params={"fieldSelector": selector}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return sorted((w["metadata"]["namespace"], w["metadata"]["name"]) for w in response.json()["items"])

    assert selected(f"metadata.namespace={ns}") == [(ns, "one"), (ns, "two")]
    assert selected("metadata.name=two") == [("default", "two"), (ns, "two")]
    assert selected(f"metadata.name=one,metadata.namespace!={ns}") == [("default", "one")]
    refused = requests.get(everywhere, params={"fieldSelector": "spec.size=3"}, timeout=TIMEOUT)
    assert (refused.status_code, refused.json()["message"]) == (400, "field label not supported: spec.size")


def test_a_cluster_scoped_resource_its_scale_selector_conflicts_and_server_side_apply(apiserver):
    group = f"c{uuid.uuid4().hex[:8]}.example.com"
    crd = widget_crd(group)
    crd["spec"]["scope"] = "Cluster"
    version = crd["spec"]["versions"][0]
    version["subresources"]["scale"]["labelSelectorPath"] = ".status.selector"
    version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["selector"] = {"type": "string"}
    create_crd(apiserver.url, crd)
    url = f"{apiserver.url}/apis/{group}/v1/widgets"
    created = requests.post(url, json=widget("a", {"app": "a"}, group, color="red"), timeout=TIMEOUT)
    assert created.status_code == 201, created.text
    assert "namespace" not in created.json()["metadata"]
    assert requests.get(f"{apiserver.url}/apis/{group}/v1/namespaces/default/widgets",
                        timeout=TIMEOUT).status_code == 404  # no namespaced path for a cluster-scoped resource

    # resourceVersion: an update from a stale copy is refused, as for any built-in kind.
    first = requests.get(f"{url}/a", timeout=TIMEOUT).json()
    assert requests.put(f"{url}/a", json={**first, "spec": {"color": "blue"}}, timeout=TIMEOUT).status_code == 200
    stale = requests.put(f"{url}/a", json={**first, "spec": {"color": "green"}}, timeout=TIMEOUT)
    assert (stale.status_code, stale.json()["reason"], stale.json()["message"]) == (
        409, "Conflict", f'Operation cannot be fulfilled on widgets.{group} "a": the object has been modified; '
                         "please apply your changes to the latest version and try again")

    # The scale subresource reads the selector at labelSelectorPath (what an autoscaler reads pods by).
    status = requests.patch(f"{url}/a/status", data=json.dumps({"status": {"ready": 2, "selector": "app=a"}}),
                            headers={"Content-Type": "application/merge-patch+json"}, timeout=TIMEOUT)
    assert status.status_code == 200, status.text
    scale = requests.get(f"{url}/a/scale", timeout=TIMEOUT).json()
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert (scale["spec"], scale["status"]) == ({"replicas": 3}, {"replicas": 2, "selector": "app=a"})

    # Server-side apply: the fields are owned by their applier, and another applier's change conflicts.
    def apply(manager: str, color: str) -> requests.Response:
        body = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "b"}, "spec": {"color": color}}
        return requests.patch(f"{url}/b", params={"fieldManager": manager}, data=json.dumps(body), timeout=TIMEOUT,
                              headers={"Content-Type": "application/apply-patch+yaml"})

    applied = apply("me", "green")
    assert applied.status_code == 201, applied.text
    assert applied.json()["spec"] == {"color": "green", "size": 3}
    assert [(m["manager"], m["operation"]) for m in applied.json()["metadata"]["managedFields"]] == [("me", "Apply")]
    conflict = apply("someone-else", "blue")
    assert (conflict.status_code, conflict.json()["message"]) == (
        409, 'Apply failed with 1 conflict: conflict with "me": .spec.color')
    requests.delete(crd_url(apiserver.url, f"widgets.{group}"), timeout=TIMEOUT)



def test_dry_run_and_a_status_the_main_resource_cannot_change(widgets):
    url = widgets["url"]
    body = widget("dry", group=widgets["group"], color="red")
    dry = requests.post(url, params={"dryRun": "All"}, json=body, timeout=TIMEOUT)
    assert dry.status_code == 201 and dry.json()["spec"]["size"] == 3
    assert requests.get(f"{url}/dry", timeout=TIMEOUT).status_code == 404
    created = requests.post(url, json={**body, "status": {"ready": 9}}, timeout=TIMEOUT).json()
    assert "status" not in created  # with a status subresource, create drops the status
    created["status"] = {"ready": 4}
    created["metadata"]["labels"] = {"a": "b"}
    updated = requests.put(f"{url}/dry", json=created, timeout=TIMEOUT).json()
    assert "status" not in updated and updated["metadata"]["labels"] == {"a": "b"}
    assert updated["metadata"]["generation"] == 1  # metadata changes do not count


# Bad input, with upstream's Status


def test_a_cr_against_its_schema_gets_one_cause_per_field(widgets):
    body = widget("bad", group=widgets["group"], color="pink", size=0, tags=["a", "a"], port=True,
                  when="yesterday", note="far too long", ports=[{"name": "x"}, {"name": "x"}, {"port": 1}],
                  template={"metadata": {}})
    response = requests.post(widgets["url"], json=body, timeout=TIMEOUT)
    assert response.status_code == 422
    status = response.json()
    assert status["reason"] == "Invalid" and status["details"]["kind"] == "Widget"
    causes = {(c["field"], c["reason"], c["message"]) for c in status["details"]["causes"]}
    assert causes == {
        ("spec.color", "FieldValueNotSupported", 'Unsupported value: "pink": supported values: "red", "green", "blue"'),
        ("spec.size", "FieldValueInvalid", "Invalid value: 0: spec.size in body should be greater than or equal to 1"),
        ("spec.tags[1]", "FieldValueDuplicate", 'Duplicate value: "a"'),
        ("spec.port", "FieldValueTypeInvalid",
         'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"'),
        ("spec.when", "FieldValueInvalid",
         'Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"'),
        ("spec.note", "FieldValueTooLong", "Too long: may not be more than 5 bytes"),
        ("spec.ports[1]", "FieldValueDuplicate", 'Duplicate value: {"name":"x"}'),
        ("spec.ports[2].name", "FieldValueRequired", "Required value"),
        ("spec.template.apiVersion", "FieldValueRequired", "Required value: must not be empty"),
        ("spec.template.kind", "FieldValueRequired", "Required value: must not be empty"),
    }
    assert requests.get(f"{widgets['url']}/bad", timeout=TIMEOUT).status_code == 404  # nothing half-written


def test_nullable_int_or_string_embedded_and_preserved_fields_are_accepted(widgets):
    body = widget("good", group=widgets["group"], note=None, port="http", template={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"anything": 1}},
        extra={"free": {"form": True}}, unknown="pruned")
    response = requests.post(widgets["url"], json=body, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    spec = response.json()["spec"]
    assert "unknown" not in spec and spec["note"] is None and spec["port"] == "http"
    assert spec["template"]["spec"] == {"anything": 1} and spec["extra"] == {"free": {"form": True}}


def test_a_crd_whose_schema_is_not_structural_is_refused(apiserver):
    group = f"n{uuid.uuid4().hex[:8]}.example.com"
    crd = widget_crd(group)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    del schema["properties"]["spec"]["properties"]["color"]["type"]
    schema["properties"]["spec"]["properties"]["tags"]["items"] = None
    response = requests.post(crd_url(apiserver.url), json=crd, timeout=TIMEOUT)
    assert response.status_code == 422
    status = response.json()
    path = "spec.versions[0].schema.openAPIV3Schema.properties[spec]"
    assert status["message"].startswith(f'CustomResourceDefinition.apiextensions.k8s.io "widgets.{group}" is invalid')
    assert {(c["field"], c["message"]) for c in status["details"]["causes"]} == {
        (f"{path}.properties[color].type", "Required value: must not be empty for specified object fields"),
        (f"{path}.properties[tags].items", "Required value: must be specified"),
    }
    assert requests.get(crd_url(apiserver.url, f"widgets.{group}"), timeout=TIMEOUT).status_code == 404


def test_a_crd_cannot_be_renamed_or_change_scope_and_webhook_conversion_is_refused(apiserver):
    group = f"r{uuid.uuid4().hex[:8]}.example.com"
    crd = create_crd(apiserver.url, widget_crd(group))
    renamed = json.loads(json.dumps(crd))
    renamed["spec"]["names"]["plural"] = "gadgets"
    renamed["spec"]["scope"] = "Cluster"
    response = requests.put(crd_url(apiserver.url, f"widgets.{group}"), json=renamed, timeout=TIMEOUT)
    assert response.status_code == 422
    causes = {(c["field"], c["message"]) for c in response.json()["details"]["causes"]}
    assert causes == {
        ("metadata.name", f'Invalid value: "widgets.{group}": must be spec.names.plural+"."+spec.group'),
        ("spec.names.plural", 'Invalid value: "gadgets": field is immutable'),
        ("spec.scope", 'Invalid value: "Cluster": field is immutable'),
    }
    webhook = widget_crd(f"x{group}")
    webhook["spec"]["conversion"] = {"strategy": "Webhook"}
    response = requests.post(crd_url(apiserver.url), json=webhook, timeout=TIMEOUT)
    assert response.status_code == 422
    assert response.json()["details"]["causes"] == [{
        "field": "spec.conversion.strategy", "reason": "FieldValueNotSupported",
        "message": 'Unsupported value: "Webhook": supported values: "None"'}]
    requests.delete(crd_url(apiserver.url, f"widgets.{group}"), timeout=TIMEOUT)


def test_names_in_use_are_not_accepted(apiserver, widgets):
    other = widget_crd(widgets["group"])
    other["metadata"]["name"] = f"gadgets.{widgets['group']}"
    other["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Widget"}
    assert requests.post(crd_url(apiserver.url), json=other, timeout=TIMEOUT).status_code == 201

    def names_accepted() -> dict[str, Any] | None:
        crd = requests.get(crd_url(apiserver.url, other["metadata"]["name"]), timeout=TIMEOUT).json()
        found = {c["type"]: c for c in crd.get("status", {}).get("conditions", [])}
        return found if "NamesAccepted" in found else None

    conditions = wait_until(names_accepted, 30, "the naming controller")
    assert (conditions["NamesAccepted"]["status"], conditions["NamesAccepted"]["reason"],
            conditions["NamesAccepted"]["message"]) == ("False", "KindConflict", '"Widget" is already in use')
    assert conditions["Established"]["status"] == "False"
    assert requests.get(f"{apiserver.url}/apis/{widgets['group']}/v1/gadgets", timeout=TIMEOUT).status_code == 404
    requests.delete(crd_url(apiserver.url, other["metadata"]["name"]), timeout=TIMEOUT)


def test_a_version_that_is_not_served_is_not_found(apiserver):
    group = f"v{uuid.uuid4().hex[:8]}.example.com"
    crd = widget_crd(group)
    old = json.loads(json.dumps(crd["spec"]["versions"][0]))
    old.update(name="v1beta1", served=False, storage=False)
    crd["spec"]["versions"].append(old)
    create_crd(apiserver.url, crd)
    response = requests.get(f"{apiserver.url}/apis/{group}/v1beta1/widgets", timeout=TIMEOUT)
    assert (response.status_code, response.json()["reason"]) == (404, "NotFound")
    assert requests.get(f"{apiserver.url}/apis/{group}/v1/widgets", timeout=TIMEOUT).status_code == 200
    requests.delete(crd_url(apiserver.url, f"widgets.{group}"), timeout=TIMEOUT)


def test_several_served_versions_show_each_object_in_the_version_asked_for(apiserver):
    group = f"m{uuid.uuid4().hex[:8]}.example.com"
    crd = widget_crd(group)
    beta = json.loads(json.dumps(crd["spec"]["versions"][0]))
    beta.update(name="v1beta1", storage=False)
    beta["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["color"]["default"] = "green"
    crd["spec"]["versions"].append(beta)
    create_crd(apiserver.url, crd)
    v1 = f"{apiserver.url}/apis/{group}/v1/namespaces/default/widgets"
    v1beta1 = f"{apiserver.url}/apis/{group}/v1beta1/namespaces/default/widgets"
    assert requests.post(v1, json=widget("multi", group=group), timeout=TIMEOUT).status_code == 201
    stored = requests.get(f"{v1}/multi", timeout=TIMEOUT).json()
    shown = requests.get(f"{v1beta1}/multi", timeout=TIMEOUT).json()
    assert stored["apiVersion"] == f"{group}/v1" and "color" not in stored["spec"]
    assert shown["apiVersion"] == f"{group}/v1beta1" and shown["spec"]["color"] == "green"  # v1beta1's default
    listed = requests.get(v1beta1, timeout=TIMEOUT).json()
    assert [w["apiVersion"] for w in listed["items"]] == [f"{group}/v1beta1"]
    with requests.get(v1beta1, params={"watch": "true", "timeoutSeconds": "1"}, stream=True, timeout=30) as watch:
        events = [json.loads(line) for line in watch.iter_lines() if line]
    assert [(e["type"], e["object"]["apiVersion"]) for e in events] == [("ADDED", f"{group}/v1beta1")]
    patched = requests.patch(f"{v1beta1}/multi", data='{"spec":{"size":5}}', timeout=TIMEOUT,
                             headers={"Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["apiVersion"], patched.json()["spec"]["size"]) == (f"{group}/v1beta1", 5)
    requests.delete(crd_url(apiserver.url, f"widgets.{group}"), timeout=TIMEOUT)


def test_every_api_server_on_the_same_etcd_serves_what_one_of_them_established(apiserver, private_apiserver):
    group = f"ha{uuid.uuid4().hex[:8]}.example.com"
    create_crd(apiserver.url, widget_crd(group))  # through the session's server
    other = f"{private_apiserver.url}/apis/{group}/v1/namespaces/default/widgets"
    wait_until(lambda: requests.get(other, timeout=TIMEOUT).status_code == 200, 30, "the other server to serve it")
    assert requests.post(other, json=widget("ha", group=group), timeout=TIMEOUT).status_code == 201
    assert requests.get(f"{apiserver.url}/apis/{group}/v1/namespaces/default/widgets/ha",
                        timeout=TIMEOUT).status_code == 200
    requests.delete(crd_url(private_apiserver.url, f"widgets.{group}"), timeout=TIMEOUT)
    wait_until(lambda: requests.get(f"{apiserver.url}/apis/{group}/v1/widgets", timeout=TIMEOUT).status_code == 404,
               30, "the first server to stop serving it")


def test_a_deleted_crd_waits_for_objects_held_by_finalizers_and_refuses_new_ones(apiserver):
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    name = f"widgets.{group}"
    create_crd(apiserver.url, widget_crd(group))
    url = f"{apiserver.url}/apis/{group}/v1/namespaces/default/widgets"
    held = {**widget("held", group=group), "metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    assert requests.post(url, json=held, timeout=TIMEOUT).status_code == 201
    assert requests.delete(crd_url(apiserver.url, name), timeout=TIMEOUT).status_code == 200

    def terminating() -> dict[str, Any] | None:
        crd = requests.get(crd_url(apiserver.url, name), timeout=TIMEOUT).json()
        found = {c["type"]: c for c in crd.get("status", {}).get("conditions", [])}.get("Terminating")
        return found if found and found["reason"] == "InstanceDeletionInProgress" else None

    condition = wait_until(terminating, 30, "the cleanup to wait on the held object")
    assert condition["message"] == "CustomResource deletion is in progress: 1 remaining"
    refused = requests.post(url, json=widget("new", group=group), timeout=TIMEOUT)
    assert (refused.status_code, refused.json()["message"]) == (
        405, "create not allowed while custom resource definition is terminating")
    assert requests.get(f"{url}/held", timeout=TIMEOUT).json()["metadata"]["deletionTimestamp"]
    release = requests.patch(f"{url}/held", data='{"metadata":{"finalizers":null}}', timeout=TIMEOUT,
                             headers={"Content-Type": "application/merge-patch+json"})
    assert release.status_code == 200, release.text
    wait_until(lambda: requests.get(crd_url(apiserver.url, name), timeout=TIMEOUT).status_code == 404, 30,
               "the CRD to go once its last object went")
