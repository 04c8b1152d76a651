"""The built-in kinds ordinary manifests and clients expect (issue 20): PriorityClass with the Priority admission
plugin, PodTemplate, and the reviews webhooks ask (TokenReview, SubjectAccessReview, LocalSubjectAccessReview),
through Flask's test client on an in-memory etcd.

Upstream: pkg/apis/scheduling/validation, plugin/pkg/admission/priority/admission.go,
pkg/registry/authentication/tokenreview, pkg/registry/authorization/{subject,localsubject}accessreview.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.builders import pod
from support.memoryapi import MemoryAPI

CLASSES = "/apis/scheduling.k8s.io/v1/priorityclasses"
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def api() -> Iterator[MemoryAPI]:
    server = MemoryAPI()
    yield server
    server.close()


def priority_class(name: str, value: int, **extra: object) -> dict:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, **extra}


def test_every_cluster_has_the_two_system_priority_classes(api: MemoryAPI) -> None:
    classes = {pc["metadata"]["name"]: pc for pc in api.get(CLASSES).get_json()["items"]}
    assert classes["system-node-critical"]["value"] == 2000001000
    assert classes["system-cluster-critical"]["value"] == 2000000000
    assert classes["system-cluster-critical"]["preemptionPolicy"] == "PreemptLowerPriority"


def test_a_pod_gets_the_priority_of_its_class(api: MemoryAPI) -> None:
    assert api.post(CLASSES, priority_class("high", 1000)).status_code == 201
    created = api.post(PODS, pod("p", "default", priorityClassName="high")).get_json()
    assert created["spec"]["priority"] == 1000
    assert created["spec"]["preemptionPolicy"] == "PreemptLowerPriority"
    critical = api.post(PODS, pod("c", "default", priorityClassName="system-node-critical")).get_json()
    assert critical["spec"]["priority"] == 2000001000


def test_a_pod_without_a_class_gets_the_global_default_or_zero(api: MemoryAPI) -> None:
    assert api.post(PODS, pod("zero", "default")).get_json()["spec"]["priority"] == 0
    api.post(CLASSES, priority_class("normal", 10, globalDefault=True, preemptionPolicy="Never"))
    spec = api.post(PODS, pod("p", "default")).get_json()["spec"]
    assert (spec["priority"], spec["priorityClassName"], spec["preemptionPolicy"]) == (10, "normal", "Never")


def test_a_pod_naming_an_unknown_class_is_forbidden(api: MemoryAPI) -> None:
    response = api.post(PODS, pod("p", "default", priorityClassName="nope"))
    assert response.status_code == 403
    assert response.get_json()["message"] == 'pods "p" is forbidden: no PriorityClass with name nope was found'
    assert api.get(f"{PODS}/p").status_code == 404


def test_a_pod_may_not_set_its_own_priority(api: MemoryAPI) -> None:
    response = api.post(PODS, pod("p", "default", priority=5))
    assert response.status_code == 403
    assert "the integer value of priority (5) must not be provided in pod spec" in response.get_json()["message"]


def test_only_one_class_may_be_the_global_default(api: MemoryAPI) -> None:
    assert api.post(CLASSES, priority_class("a", 1, globalDefault=True)).status_code == 201
    second = api.post(CLASSES, priority_class("b", 2, globalDefault=True))
    assert second.status_code == 403
    assert second.get_json()["message"].endswith("PriorityClass a is already marked as default. Only one default "
                                                 "can exist")
    assert api.get(f"{CLASSES}/b").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    (priority_class("huge", 1_000_000_001), "value"),
    (priority_class("system-mine", 5), "metadata.name"),
    (priority_class("odd", 5, preemptionPolicy="Sometimes"), "preemptionPolicy"),
])
def test_invalid_priority_classes_are_refused(api: MemoryAPI, body: dict, field: str) -> None:
    response = api.post(CLASSES, body)
    assert response.status_code == 422, response.get_json()
    assert [c["field"] for c in response.get_json()["details"]["causes"]] == [field]


def test_a_priority_class_value_is_immutable(api: MemoryAPI) -> None:
    created = api.post(CLASSES, priority_class("p", 5)).get_json()
    created["value"] = 6
    response = api.put(f"{CLASSES}/p", created)
    assert response.status_code == 422
    assert response.get_json()["details"]["causes"][0]["message"].endswith("field is immutable")


def test_priority_classes_print_upstreams_columns(api: MemoryAPI) -> None:
    table = api.client.get(CLASSES, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).get_json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Value", "Global-Default", "Age",
                                                               "PreemptionPolicy"]
    rows = {r["cells"][0]: r["cells"] for r in table["rows"]}
    assert rows["system-node-critical"][1:3] == [2000001000, False]


def test_pod_templates_are_stored_defaulted_and_printed(api: MemoryAPI) -> None:
    body = {"metadata": {"name": "tpl"}, "template": {"metadata": {"labels": {"app": "web"}},
                                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    created = api.post("/api/v1/namespaces/default/podtemplates", body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["template"]["spec"]["restartPolicy"] == "Always"
    table = api.client.get("/api/v1/namespaces/default/podtemplates",
                           headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).get_json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Containers", "Images", "Pod Labels"]
    assert table["rows"][0]["cells"] == ["tpl", "c", "busybox", "app=web"]
    bad = api.post("/api/v1/namespaces/default/podtemplates",
                   {"metadata": {"name": "bad"}, "template": {"spec": {"containers": []}}})
    assert bad.status_code == 422


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[MemoryAPI]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('secret-token,alice,uid-1,"devs,ops"\n')
    server = MemoryAPI({"TOKEN_AUTH_FILE": str(tokens), "AUTHORIZATION_MODES": ["RBAC"]})
    yield server
    server.close()


def test_a_token_review_names_the_tokens_user(secured: MemoryAPI) -> None:
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "secret-token"}}
    answer = secured.post("/apis/authentication.k8s.io/v1/tokenreviews", review)
    assert answer.status_code == 201
    status = answer.get_json()["status"]
    assert status["authenticated"] is True
    assert status["user"] == {"username": "alice", "uid": "uid-1",
                              "groups": ["devs", "ops", "system:authenticated"]}
    review["spec"]["token"] = "wrong"
    status = secured.post("/apis/authentication.k8s.io/v1/tokenreviews", review).get_json()["status"]
    assert "authenticated" not in status and status["error"]
    review["spec"] = {}
    assert secured.post("/apis/authentication.k8s.io/v1/tokenreviews", review).status_code == 400


def test_a_subject_access_review_answers_for_the_user_it_names(secured: MemoryAPI) -> None:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": "alice", "resourceAttributes": {"verb": "get", "resource": "pods",
                                                               "namespace": "default"}}}
    assert secured.post("/apis/authorization.k8s.io/v1/subjectaccessreviews",
                        review).get_json()["status"]["allowed"] is False
    secured.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", {
        "metadata": {"name": "alice-view"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                        "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]})
    answer = secured.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    assert answer.status_code == 201 and answer.get_json()["status"]["allowed"] is True
    local = {**review, "kind": "LocalSubjectAccessReview"}
    answer = secured.post("/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews", local)
    assert answer.get_json()["status"]["allowed"] is True
    assert answer.get_json()["metadata"]["namespace"] == "default"
    other = secured.post("/apis/authorization.k8s.io/v1/namespaces/kube-system/localsubjectaccessreviews", local)
    assert other.status_code == 400
    nobody = {**review, "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}
    invalid = secured.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", nobody)
    assert invalid.status_code == 422
    assert invalid.get_json()["details"]["causes"][0]["field"] == "spec.user"
