"""What goes over the wire, byte for byte where clients depend on it (issue 20's first list): discovery paths with a
trailing slash, status lines and Status bodies as kube-apiserver writes them, the zero counts strict clients require
in workload statuses, the scale subresource's retry of precondition-free patches, and a discovery document that
lists only what the server can answer.

Upstream: the discovery handlers (staging/src/k8s.io/apiserver/pkg/endpoints/discovery/), Go's net/http status
line, metav1.Status's field order, apps/v1 types.go (which status counts are not `omitempty`), and the patcher's
retry (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from support.builders import daemonset, deployment, replicaset, statefulset
from support.memoryapi import JSON_PATCH, MemoryAPI

APPS = "/apis/apps/v1/namespaces/default"


@pytest.fixture
def api() -> Iterator[MemoryAPI]:
    server = MemoryAPI()
    yield server
    server.close()


@pytest.mark.parametrize("path", ["/version", "/version/", "/api", "/api/", "/apis", "/apis/", "/apis/apps",
                                  "/apis/apps/", "/api/v1/", "/apis/apps/v1/"])
def test_discovery_answers_with_and_without_a_trailing_slash(api: MemoryAPI, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_status_lines_use_go_reason_phrases(api: MemoryAPI) -> None:
    assert api.get("/api/v1/namespaces/default/pods/missing").status == "404 Not Found"
    created = api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}})
    assert created.status == "201 Created"
    assert api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}}).status == "409 Conflict"
    assert api.get("/api/v1/namespaces/default/configmaps/c").status == "200 OK"
    bad = api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "Not_Valid"}})
    assert bad.status == "422 Unprocessable Entity"


def test_a_status_body_is_compact_json_in_upstreams_field_order(api: MemoryAPI) -> None:
    text = api.get("/api/v1/namespaces/default/pods/missing").get_data(as_text=True)
    assert text == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                    '"message":"pods \\"missing\\" not found","reason":"NotFound",'
                    '"details":{"name":"missing","kind":"pods"},"code":404}\n')


@pytest.mark.parametrize(("plural", "body", "zeros"), [
    ("replicasets", replicaset("rs", "default"), {"replicas": 0}),
    ("daemonsets", daemonset("ds", "default"), {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                                                "desiredNumberScheduled": 0, "numberReady": 0}),
    ("statefulsets", statefulset("ss", "default"), {"replicas": 0, "availableReplicas": 0}),
])
def test_workload_statuses_carry_their_required_counts(api: MemoryAPI, plural: str, body: dict,
                                                         zeros: dict) -> None:
    created = api.post(f"{APPS}/{plural}", body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["status"] == zeros
    name = body["metadata"]["name"]
    # A controller's status write that leaves a count out still reads back with it, as Go's encoder writes it.
    current = created.get_json()
    current["status"] = {"observedGeneration": 1}
    written = api.put(f"{APPS}/{plural}/{name}/status", current)
    assert written.status_code == 200, written.get_json()
    assert written.get_json()["status"] == {"observedGeneration": 1, **zeros}


def test_a_deployment_status_stays_empty_on_create(api: MemoryAPI) -> None:
    created = api.post(f"{APPS}/deployments", deployment("web", "default"))
    assert created.get_json()["status"] == {}


def test_a_scale_patch_without_a_resource_version_is_retried_past_a_concurrent_write(api: MemoryAPI) -> None:
    """The Scale a patch applies to carries the parent's resourceVersion; a write of the parent in between must not
    turn a patch that named no version into a 409."""
    api.post(f"{APPS}/deployments", deployment("web", "default", replicas=1))
    registry = api.app.extensions["kubeling.registry"]
    real_update = registry.update
    calls = {"n": 0}

    def update_after_a_controller(rtype, namespace, name, body, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:  # a controller writes the Deployment between the server's read and its write
            current = registry.get(rtype, namespace, name)
            current["metadata"].setdefault("annotations", {})["touched"] = "yes"
            real_update(rtype, namespace, name, current)
        return real_update(rtype, namespace, name, body, **kwargs)

    registry.update = update_after_a_controller
    response = api.patch(f"{APPS}/deployments/web/scale", {"spec": {"replicas": 4}})
    registry.update = real_update
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["spec"]["replicas"] == 4
    assert api.get(f"{APPS}/deployments/web").get_json()["spec"]["replicas"] == 4


def test_a_scale_patch_naming_a_stale_resource_version_is_still_a_conflict(api: MemoryAPI) -> None:
    created = api.post(f"{APPS}/deployments", deployment("web", "default", replicas=1)).get_json()
    stale = created["metadata"]["resourceVersion"]
    api.patch(f"{APPS}/deployments/web", {"metadata": {"labels": {"x": "y"}}})
    response = api.patch(f"{APPS}/deployments/web/scale",
                         {"metadata": {"resourceVersion": stale}, "spec": {"replicas": 2}})
    assert response.status_code == 409
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    assert api.patch(f"{APPS}/deployments/web/scale", json.dumps(ops), JSON_PATCH).status_code == 200


def test_serviceaccount_token_is_listed_only_when_the_server_can_sign_tokens(api: MemoryAPI) -> None:
    names = [r["name"] for r in api.get("/api/v1").get_json()["resources"]]
    assert "serviceaccounts" in names and "serviceaccounts/token" not in names
