"""Requests the API server must refuse, with upstream's HTTP code and Status, and without writing anything.

Each refusal is checked against etcd itself: the store's revision (which every write bumps) must be the same
before and after the request.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from support.builders import container, deployment, pod, service

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}
BIG = 3 * 1024 * 1024 + 10


# Helpers


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def ns(apiserver: Any, http: requests.Session) -> str:
    """One namespace for the whole battery, holding a Deployment `existing` and a ConfigMap `existing`."""
    name = f"bad-{uuid.uuid4().hex[:8]}"
    ok(http.post(f"{apiserver.url}/api/v1/namespaces", json={"metadata": {"name": name}}, timeout=10))
    ok(http.post(f"{apiserver.url}/apis/apps/v1/namespaces/{name}/deployments", json=deployment("existing"),
                 timeout=10))
    ok(http.post(f"{apiserver.url}/api/v1/namespaces/{name}/configmaps", json=configmap("existing"), timeout=10))
    return name


def ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code < 300, (response.status_code, response.text)
    return response.json()


def etcd_revision(etcd: Any) -> int:
    response = requests.post(f"{etcd.url}/v3/kv/range", json={"key": "AA==", "count_only": True}, timeout=10)
    return int(response.json()["header"]["revision"])


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


DROP = object()  # as a value in changed(): remove the key


def changed(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `obj` with the dotted `path` (list indexes as numbers) set to `value`."""
    obj = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node: Any = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is DROP:
        del node[last]
    else:
        node[last] = value
    return obj



def check_refused(
    response: requests.Response, code: int, reason: str, fields: list[str] | None = None, message: str = ""
) -> dict[str, Any]:
    assert response.status_code == code, (response.status_code, response.text[:500])
    status = response.json()
    assert status["kind"] == "Status", status
    assert status["apiVersion"] == "v1"
    assert status["status"] == "Failure"
    assert status["code"] == code
    assert status["reason"] == reason, status
    if fields is not None:
        causes = status["details"]["causes"]
        assert [c["field"] for c in causes] == fields, causes
        assert all(c["message"] and c["reason"] for c in causes), causes
    assert message in status["message"], status["message"]
    return status


@dataclasses.dataclass
class Case:
    method: str
    path: str  # with {ns} for the test namespace
    code: int
    reason: str
    body: Any = None  # a dict/list is sent as JSON, bytes as they are
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    fields: list[str] | None = None
    message: str = ""
    params: dict[str, str] = dataclasses.field(default_factory=dict)


PODS = "/api/v1/namespaces/{ns}/pods"
CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"
SERVICES = "/api/v1/namespaces/{ns}/services"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{ns}/deployments"

CASES = {
    # Names and labels (422 with a cause on the field).
    "uppercase-name": Case("POST", CONFIGMAPS, 422, "Invalid", configmap("Web"), fields=["metadata.name"],
                           message='ConfigMap "Web" is invalid'),
    "name-too-long": Case("POST", CONFIGMAPS, 422, "Invalid", configmap("a" * 254), fields=["metadata.name"]),
    "underscore-name": Case("POST", CONFIGMAPS, 422, "Invalid", configmap("a_b"), fields=["metadata.name"]),
    "pod-uppercase-name": Case("POST", PODS, 422, "Invalid", pod("Web"), fields=["metadata.name"]),
    "bad-label-key": Case("POST", CONFIGMAPS, 422, "Invalid",
                          changed(configmap("lk"), "metadata.labels", {"-bad/key": "x"}), fields=["metadata.labels"]),
    "bad-label-value": Case("POST", CONFIGMAPS, 422, "Invalid",
                            changed(configmap("lv"), "metadata.labels", {"app": "has space"}),
                            fields=["metadata.labels"]),
    # Wrong JSON types: upstream's decoder refuses them before validation, with 400.
    "replicas-string": Case("POST", DEPLOYMENTS, 400, "BadRequest", changed(deployment(), "spec.replicas", "three"),
                            message='Deployment in version "v1" cannot be handled as a Deployment'),
    "containers-object": Case("POST", PODS, 400, "BadRequest", changed(pod(), "spec.containers", {}),
                              message='Pod in version "v1" cannot be handled as a Pod'),
    "labels-list": Case("POST", CONFIGMAPS, 400, "BadRequest", changed(configmap("ll"), "metadata.labels", []),
                        message="cannot be handled as a ConfigMap"),
    "port-string": Case("POST", PODS, 400, "BadRequest",
                        changed(pod(containers=[container(ports=[{"containerPort": 80}])]),
                                "spec.containers.0.ports.0.containerPort", "eighty"),
                        message="cannot be handled as a Pod"),
    # Semantically invalid values and missing required fields (422).
    "negative-replicas": Case("POST", DEPLOYMENTS, 422, "Invalid", changed(deployment(), "spec.replicas", -1),
                              fields=["spec.replicas"]),
    "pod-without-containers": Case("POST", PODS, 422, "Invalid", changed(pod(), "spec.containers", DROP),
                                   fields=["spec.containers"]),
    "container-without-image": Case("POST", PODS, 422, "Invalid",
                                    changed(pod(), "spec.containers.0", {"name": "c"}),
                                    fields=["spec.containers[0].image"]),
    "selector-template-mismatch": Case("POST", DEPLOYMENTS, 422, "Invalid",
                                       changed(deployment(), "spec.template.metadata.labels", {"app": "other"}),
                                       fields=["spec.template.metadata.labels"]),
    "service-port-out-of-range": Case("POST", SERVICES, 422, "Invalid",
                                      service(ports=[{"port": 70000, "targetPort": 80}]),
                                      fields=["spec.ports[0].port"]),
    # Bodies that cannot be decoded (400).
    "malformed-json": Case("POST", CONFIGMAPS, 400, "BadRequest", b'{"metadata": {"name": "x"', JSON),
    "malformed-yaml": Case("POST", CONFIGMAPS, 400, "BadRequest", b"metadata:\n  name: [x\n data: {",
                           {"Content-Type": "application/yaml"}),
    "json-array": Case("POST", CONFIGMAPS, 400, "BadRequest", [configmap("arr")]),
    "kind-mismatch": Case("POST", PODS, 400, "BadRequest", configmap("km")),
    "api-version-mismatch": Case("POST", DEPLOYMENTS, 400, "BadRequest", changed(deployment(), "apiVersion", "v1")),
    # Paths that do not exist (404 NotFound Status).
    "unknown-resource": Case("GET", "/api/v1/namespaces/{ns}/widgets", 404, "NotFound"),
    "unknown-resource-create": Case("POST", "/api/v1/namespaces/{ns}/widgets", 404, "NotFound", configmap("w")),
    "unknown-group": Case("GET", "/apis/example.com/v1/namespaces/{ns}/widgets", 404, "NotFound"),
    "unknown-version": Case("POST", "/apis/apps/v9/namespaces/{ns}/deployments", 404, "NotFound", deployment()),
    "missing-namespace": Case("POST", "/api/v1/namespaces/x-missing-ns/pods", 404, "NotFound", pod(),
                              message='namespaces "x-missing-ns" not found'),
    # Other refusals.
    "unsupported-patch-type": Case("PATCH", CONFIGMAPS + "/existing", 415, "UnsupportedMediaType",
                                   b'{"data": {"a": "b"}}', {"Content-Type": "application/xml"}),
    "duplicate-create": Case("POST", CONFIGMAPS, 409, "AlreadyExists", configmap("existing"),
                             message='configmaps "existing" already exists'),
    "bad-label-selector": Case("GET", PODS, 400, "BadRequest", params={"labelSelector": "app in (a"}),
    "unsupported-field-selector": Case("GET", CONFIGMAPS, 400, "BadRequest", params={"fieldSelector": "spec.foo=x"},
                                       message="spec.foo"),
    # Upstream checks the request's options before the body: an unknown dryRun value is an invalid CreateOptions.
    "invalid-dry-run": Case("POST", CONFIGMAPS, 422, "Invalid", configmap("dry"), params={"dryRun": "Some"},
                            fields=["dryRun"], message='CreateOptions.meta.k8s.io "" is invalid'),
    "invalid-dry-run-delete": Case("DELETE", CONFIGMAPS + "/existing", 422, "Invalid", params={"dryRun": "Some"},
                                   fields=["dryRun"], message='DeleteOptions.meta.k8s.io "" is invalid'),
}


def send(http: requests.Session, base: str, ns: str, case: Case) -> requests.Response:
    data = case.body
    headers = dict(case.headers)
    if isinstance(data, (dict, list)):
        data = json.dumps(data).encode()
        headers.setdefault("Content-Type", "application/json")
    return http.request(case.method, base + case.path.format(ns=ns), data=data, headers=headers, params=case.params,
                        timeout=30)


# Tests


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_refused_without_writing(case: Case, apiserver: Any, etcd: Any, http: requests.Session, ns: str) -> None:
    before = etcd_revision(etcd)
    response = send(http, apiserver.url, ns, case)
    check_refused(response, case.code, case.reason, case.fields, case.message)
    assert etcd_revision(etcd) == before, "a refused request wrote to etcd"


def test_stale_resource_version_on_put(apiserver: Any, etcd: Any, http: requests.Session, ns: str) -> None:
    url = f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps/stale"
    first = ok(http.post(f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps", json=configmap("stale"), timeout=10))
    ok(http.put(url, json=changed(first, "data", {"k": "second"}), timeout=10))
    before = etcd_revision(etcd)
    response = http.put(url, json=changed(first, "data", {"k": "lost"}), timeout=10)
    check_refused(response, 409, "Conflict", message='Operation cannot be fulfilled on configmaps "stale"')
    assert etcd_revision(etcd) == before
    assert ok(http.get(url, timeout=10))["data"] == {"k": "second"}


def test_immutable_deployment_selector(apiserver: Any, etcd: Any, http: requests.Session, ns: str) -> None:
    url = f"{apiserver.url}/apis/apps/v1/namespaces/{ns}/deployments/existing"
    current = ok(http.get(url, timeout=10))
    labels = {"app": "existing", "extra": "yes"}
    new = changed(changed(current, "spec.selector", {"matchLabels": labels}), "spec.template.metadata.labels", labels)
    before = etcd_revision(etcd)
    response = http.put(url, json=new, timeout=10)
    status = check_refused(response, 422, "Invalid")
    assert "spec.selector" in [c["field"] for c in status["details"]["causes"]]
    response = http.patch(url, data=json.dumps({"spec": {"selector": {"matchLabels": {"app": "moved"}},
                                                         "template": {"metadata": {"labels": {"app": "moved"}}}}}),
                          headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
    status = check_refused(response, 422, "Invalid")
    assert "spec.selector" in [c["field"] for c in status["details"]["causes"]]
    assert etcd_revision(etcd) == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_too_large(chunked: bool, apiserver: Any, etcd: Any, ns: str) -> None:
    blob = json.dumps(changed(configmap("huge"), "data", {"k": "x" * BIG})).encode()
    body: Any = blob
    if chunked:
        body = (blob[i:i + 65536] for i in range(0, len(blob), 65536))  # a generator makes requests send chunks
    before = etcd_revision(etcd)
    with requests.Session() as session:
        try:
            response = session.post(f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps", data=body,
                                    headers=JSON, timeout=30)
        except requests.ConnectionError as exc:
            pytest.fail(f"the server dropped the connection instead of answering 413: {exc}")
    check_refused(response, 413, "RequestEntityTooLarge")
    assert etcd_revision(etcd) == before


def test_dry_run_create_stores_nothing(apiserver: Any, etcd: Any, http: requests.Session, ns: str) -> None:
    before = etcd_revision(etcd)
    response = http.post(f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps", params={"dryRun": "All"},
                         json=configmap("dry-run"), timeout=10)
    assert response.status_code == 201, response.text
    assert response.json()["metadata"]["name"] == "dry-run"
    assert etcd_revision(etcd) == before
    check_refused(http.get(f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps/dry-run", timeout=10), 404,
                  "NotFound", message='configmaps "dry-run" not found')


def test_server_still_healthy_after_the_battery(apiserver: Any, http: requests.Session, ns: str) -> None:
    assert http.get(f"{apiserver.url}/readyz", timeout=10).status_code == 200
    created = ok(http.post(f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps", json=configmap("after"),
                           timeout=10))
    assert created["metadata"]["name"] == "after"
    assert ok(http.get(f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps/after", timeout=10))["data"] == {"k": "v"}
