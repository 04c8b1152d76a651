"""Aggregated discovery (apidiscovery.k8s.io/v2 and v2beta1): served when asked for first, the same resources
as the legacy documents, an ETag, and the legacy documents for everyone else.

Upstream: staging/src/k8s.io/apiserver/pkg/endpoints/discovery/aggregated/handler_test.go.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.memoryapi import MemoryAPI

KUBECTL_132_ACCEPT = (
    "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


@pytest.fixture
def api() -> Iterator[MemoryAPI]:
    server = MemoryAPI()
    yield server
    server.close()


def test_the_core_group_in_one_document(api: MemoryAPI) -> None:
    response = api.client.get("/api", headers={"Accept": KUBECTL_132_ACCEPT})
    assert response.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    body = response.get_json()
    assert (body["kind"], body["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    (core,) = body["items"]
    (v1,) = core["versions"]
    assert (v1["version"], v1["freshness"]) == ("v1", "Current")
    pods = next(r for r in v1["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert (pods["scope"], pods["singularResource"], pods["shortNames"]) == ("Namespaced", "pod", ["po"])
    eviction = next(s for s in pods["subresources"] if s["subresource"] == "eviction")
    assert eviction == {"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1",
                                                                     "kind": "Eviction"}, "verbs": ["create"]}


def test_every_named_group_lists_what_its_legacy_document_lists(api: MemoryAPI) -> None:
    body = api.client.get("/apis", headers={"Accept": KUBECTL_132_ACCEPT}).get_json()
    for item in body["items"]:
        for version in item["versions"]:
            legacy = api.get(f"/apis/{item['metadata']['name']}/{version['version']}").get_json()
            names = {r["name"] for r in legacy["resources"]}
            aggregated = {r["resource"] for r in version["resources"]} | {
                f"{r['resource']}/{s['subresource']}" for r in version["resources"] for s in r.get("subresources", [])}
            assert aggregated == names, item["metadata"]["name"]
    apps = next(i for i in body["items"] if i["metadata"]["name"] == "apps")
    deployments = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert {s["subresource"] for s in deployments["subresources"]} == {"status", "scale"}


def test_v2beta1_for_kubectl_1_27_to_1_29_and_legacy_for_the_rest(api: MemoryAPI) -> None:
    beta = api.client.get("/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2beta1;"
                                                      "as=APIGroupDiscoveryList,application/json"})
    assert beta.get_json()["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    assert api.client.get("/apis", headers={"Accept": "application/json"}).get_json()["kind"] == "APIGroupList"
    assert api.get("/api").get_json()["kind"] == "APIVersions"


def test_an_unchanged_document_is_not_sent_again(api: MemoryAPI) -> None:
    first = api.client.get("/apis", headers={"Accept": KUBECTL_132_ACCEPT})
    again = api.client.get("/apis", headers={"Accept": KUBECTL_132_ACCEPT, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
