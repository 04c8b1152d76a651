"""Server-side apply with field ownership (issue 20), as kubectl 1.32 and the official Python client use it, against
the real API server and etcd.

kubectl: `apply --server-side` reports `serverside-applied` and records an Apply entry for `kubectl`; a second field
manager changing a field the first owns fails with upstream's conflict text, `--force-conflicts` takes the field,
a field its manager stops applying is removed, and `get --show-managed-fields` shows the entries (plain `get -o yaml`
hides them, as kubectl does). The Python client: `DynamicClient.server_side_apply` and a typed PATCH with the apply
content type, the 409 a conflict raises and the typed `V1ManagedFieldsEntry` models.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client, dynamic
from kubernetes.dynamic.exceptions import DynamicApiError

pytestmark = pytest.mark.e2e

TIMEOUT = 10


def deployment(name: str, replicas: int | None = 2, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "web", "image": "registry.k8s.io/nginx:1.27"}]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


@pytest.fixture
def ns(apiserver: Any) -> str:
    name = f"ssa-{uuid.uuid4().hex[:8]}"
    response = requests.post(f"{apiserver.url}/api/v1/namespaces", json={"metadata": {"name": name}},
                             timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    return name


def managers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["manager"]: entry for entry in obj["metadata"].get("managedFields", [])}


# kubectl 1.32


def test_kubectl_server_side_apply_conflicts_and_force(kubectl132, ns: str) -> None:
    first = json.dumps(deployment("web", replicas=2, labels={"tier": "front"}))
    out = kubectl132("apply", "--server-side", "-n", ns, "-f", "-", input=first)
    assert out.strip() == "deployment.apps/web serverside-applied"
    shown = yaml.safe_load(kubectl132("get", "deployment", "web", "-n", ns, "-o", "yaml", "--show-managed-fields"))
    entry = managers(shown)["kubectl"]
    assert (entry["operation"], entry["apiVersion"], entry["fieldsType"]) == ("Apply", "apps/v1", "FieldsV1")
    assert entry["fieldsV1"]["f:spec"]["f:replicas"] == {}
    hidden = yaml.safe_load(kubectl132("get", "deployment", "web", "-n", ns, "-o", "yaml"))
    assert "managedFields" not in hidden["metadata"]

    second = json.dumps(deployment("web", replicas=5))
    result = kubectl132.run("apply", "--server-side", "--field-manager=ops", "-n", ns, "-f", "-", input=second,
                            check=False)
    assert result.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' in result.stderr
    replicas = kubectl132("get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}")
    assert replicas == "2"

    out = kubectl132("apply", "--server-side", "--force-conflicts", "--field-manager=ops", "-n", ns, "-f", "-",
                     input=second)
    assert out.strip() == "deployment.apps/web serverside-applied"
    shown = yaml.safe_load(kubectl132("get", "deployment", "web", "-n", ns, "-o", "yaml", "--show-managed-fields"))
    assert shown["spec"]["replicas"] == 5
    owners = managers(shown)
    assert "f:replicas" in owners["ops"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in owners["kubectl"]["fieldsV1"]["f:spec"]


def test_kubectl_apply_removes_a_field_its_manager_dropped(kubectl132, ns: str) -> None:
    kubectl132("apply", "--server-side", "-n", ns, "-f", "-",
               input=json.dumps(deployment("drop", labels={"tier": "front", "team": "blue"})))
    kubectl132("apply", "--server-side", "-n", ns, "-f", "-",
               input=json.dumps(deployment("drop", labels={"tier": "front"})))
    labels = json.loads(kubectl132("get", "deployment", "drop", "-n", ns, "-o", "jsonpath={.metadata.labels}"))
    assert labels == {"tier": "front"}


def test_kubectl_edits_are_recorded_as_updates_that_later_applies_conflict_with(kubectl132, ns: str) -> None:
    kubectl132("apply", "--server-side", "-n", ns, "-f", "-", input=json.dumps(deployment("edited")))
    kubectl132("patch", "deployment", "edited", "-n", ns, "-p", '{"spec":{"replicas":4}}')
    shown = yaml.safe_load(kubectl132("get", "deployment", "edited", "-n", ns, "-o", "yaml",
                                      "--show-managed-fields"))
    patcher = managers(shown)["kubectl-patch"]
    assert patcher["operation"] == "Update" and patcher["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    result = kubectl132.run("apply", "--server-side", "-n", ns, "-f", "-", input=json.dumps(deployment("edited")),
                            check=False)
    assert 'conflict with "kubectl-patch" using apps/v1: .spec.replicas' in result.stderr


# The official Python client


@pytest.fixture
def api(apiserver: Any) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    cfg.host = apiserver.url
    with client.ApiClient(cfg) as api_client:
        yield api_client


def test_python_dynamic_client_server_side_apply(api: client.ApiClient, ns: str) -> None:
    dyn = dynamic.DynamicClient(api)
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "fast"}}
    created = dyn.server_side_apply(configmaps, body=body, namespace=ns, field_manager="deployer")
    assert created.data.mode == "fast"
    assert [(e.manager, e.operation) for e in created.metadata.managedFields] == [("deployer", "Apply")]

    other = {**body, "data": {"mode": "slow"}}
    with pytest.raises(DynamicApiError) as caught:
        dyn.server_side_apply(configmaps, body=other, namespace=ns, field_manager="tuner")
    assert caught.value.status == 409
    status = json.loads(caught.value.body)
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "deployer": .data.mode'
    assert status["details"]["causes"][0]["reason"] == "FieldManagerConflict"

    forced = dyn.server_side_apply(configmaps, body=other, namespace=ns, field_manager="tuner", force_conflicts=True)
    assert forced.data.mode == "slow"
    assert {e.manager for e in forced.metadata.managedFields} == {"tuner"}  # deployer had nothing left


def test_python_typed_apply_patch_and_models(api: client.ApiClient, ns: str) -> None:
    apps = client.AppsV1Api(api)
    created = apps.patch_namespaced_deployment("typed", ns, deployment("typed"), field_manager="ci",
                                               _content_type="application/apply-patch+yaml")
    [entry] = created.metadata.managed_fields
    assert isinstance(entry, client.V1ManagedFieldsEntry)
    assert (entry.manager, entry.operation, entry.fields_type) == ("ci", "Apply", "FieldsV1")
    updated = apps.patch_namespaced_deployment("typed", ns, {"spec": {"minReadySeconds": 5}})
    # The client names no field manager: the server takes the program its User-Agent names.
    updaters = [e for e in updated.metadata.managed_fields if e.operation == "Update"]
    assert [e.manager for e in updaters] == ["OpenAPI-Generator"]
    assert updaters[0].fields_v1 == {"f:spec": {"f:minReadySeconds": {}}}


def test_kubectl_moves_from_client_side_to_server_side_apply(kubectl132, ns: str) -> None:
    manifest = json.dumps(deployment("moved", replicas=2))
    assert kubectl132("apply", "-n", ns, "-f", "-", input=manifest).strip() == "deployment.apps/moved created"
    shown = yaml.safe_load(kubectl132("get", "deployment", "moved", "-n", ns, "-o", "yaml", "--show-managed-fields"))
    assert managers(shown)["kubectl-client-side-apply"]["operation"] == "Update"
    # kubectl 1.32 hands the client-side applier's fields to its server-side manager first (a JSON patch of
    # managedFields), so the change below is no conflict.
    changed = json.dumps(deployment("moved", replicas=3))
    out = kubectl132("apply", "--server-side", "-n", ns, "-f", "-", input=changed)
    assert out.strip() == "deployment.apps/moved serverside-applied"
    shown = yaml.safe_load(kubectl132("get", "deployment", "moved", "-n", ns, "-o", "yaml", "--show-managed-fields"))
    assert shown["spec"]["replicas"] == 3
    assert managers(shown)["kubectl"]["operation"] == "Apply"
