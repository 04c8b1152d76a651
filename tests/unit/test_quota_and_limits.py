"""ResourceQuota and LimitRange: what objects cost (pure), the admission plugins that charge, refuse and default
(through Flask's test client on an in-memory etcd), and the quota controller's recount (fake client).

Upstream: plugin/pkg/admission/resourcequota, plugin/pkg/admission/limitranger, pkg/quota/v1/evaluator/core.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator

import pytest

from kubeling.api import quota
from kubeling.api.resources import must_lookup
from kubeling.controllers.resourcequota import ResourceQuotaController
from support.builders import container, pod, service
from support.fakeclient import controller_fixture
from support.memoryapi import MemoryAPI

PODS_T = must_lookup("", "pods")
QUOTAS_T = must_lookup("", "resourcequotas")
PODS = "/api/v1/namespaces/default/pods"
QUOTAS = "/api/v1/namespaces/default/resourcequotas"
LIMITS = "/api/v1/namespaces/default/limitranges"
D = decimal.Decimal


def sized(name: str, cpu: str = "250m", memory: str = "64Mi", **extra: object) -> dict:
    res = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}
    return pod(name, "default", containers=[container("c", resources=res)], **extra)


def resource_quota(name: str = "q", status: dict | None = None, **hard: str) -> dict:
    obj = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": "default"},
           "spec": {"hard": hard}}
    if status is not None:
        obj["status"] = status
    return obj


# What objects cost


def test_a_pod_costs_its_requests_and_limits_and_a_finished_pod_nothing() -> None:
    cost = quota.usage(PODS_T, sized("p", cpu="500m", memory="1Gi"))
    assert cost["pods"] == 1 and cost["count/pods"] == 1
    assert (cost["requests.cpu"], cost["cpu"], cost["limits.memory"]) == (D("0.5"), D("0.5"), D(2**30))
    assert quota.usage(PODS_T, sized("done", phase="Succeeded")) == {}


def test_an_init_container_costs_only_what_exceeds_the_containers() -> None:
    spec_pod = sized("p", cpu="1")
    spec_pod["spec"]["initContainers"] = [container("init", resources={"requests": {"cpu": "2"}})]
    assert quota.container_amounts(spec_pod, "requests")["cpu"] == D(2)


def test_scopes_select_the_pods_a_quota_counts() -> None:
    best_effort = pod("b", "default")
    scoped = resource_quota(pods="1")
    scoped["spec"]["scopes"] = ["BestEffort"]
    assert quota.charged(PODS_T, best_effort, scoped) == {"pods": D(1)}
    assert quota.charged(PODS_T, sized("s"), scoped) == {}


def test_used_figures_keep_the_hard_limits_binary_suffix() -> None:
    assert quota.format_quantity(D(2**30), "4Gi") == "1Gi"
    assert quota.format_quantity(D("0.75")) == "750m"
    assert quota.as_status({"pods": "3", "requests.memory": "1Gi"}, {"pods": D(1)}) == {
        "hard": {"pods": "3", "requests.memory": "1Gi"}, "used": {"pods": "1", "requests.memory": "0"}}


# Admission


@pytest.fixture
def api() -> Iterator[MemoryAPI]:
    server = MemoryAPI()
    yield server
    server.close()


def counted_quota(api: MemoryAPI, **hard: str) -> None:
    """A quota whose usage the controller has counted (here: written by hand)."""
    created = api.post(QUOTAS, resource_quota(**hard)).get_json()
    created["status"] = quota.as_status(hard, {})
    assert api.put(f"{QUOTAS}/q/status", created).status_code == 200


def test_creates_are_charged_until_the_quota_is_spent(api: MemoryAPI) -> None:
    counted_quota(api, pods="2", **{"requests.cpu": "1"})
    assert api.post(PODS, sized("a")).status_code == 201
    assert api.post(PODS, sized("b")).status_code == 201
    assert api.get(f"{QUOTAS}/q").get_json()["status"]["used"] == {"pods": "2", "requests.cpu": "500m"}
    refused = api.post(PODS, sized("c"))
    assert refused.status_code == 403
    assert refused.get_json()["message"] == ('pods "c" is forbidden: exceeded quota: q, requested: pods=1, '
                                             'used: pods=2, limited: pods=2')
    assert api.get(f"{PODS}/c").status_code == 404


def test_a_dry_run_is_checked_but_not_charged(api: MemoryAPI) -> None:
    counted_quota(api, pods="1")
    assert api.post(PODS, sized("a"), dryRun="All").status_code == 201
    assert api.get(f"{QUOTAS}/q").get_json()["status"]["used"] == {"pods": "0"}


def test_a_pod_without_the_limits_a_quota_tracks_is_refused(api: MemoryAPI) -> None:
    counted_quota(api, **{"limits.cpu": "2", "limits.memory": "1Gi"})
    refused = api.post(PODS, pod("bare", "default"))
    assert refused.status_code == 403
    assert refused.get_json()["message"] == ('pods "bare" is forbidden: failed quota: q: must specify limits.cpu '
                                             'for: c; limits.memory for: c')


def test_a_quota_not_counted_yet_refuses(api: MemoryAPI) -> None:
    api.post(QUOTAS, resource_quota(services="1"))
    refused = api.post("/api/v1/namespaces/default/services", service("web", "default"))
    assert refused.status_code == 403
    assert refused.get_json()["message"].endswith("status unknown for quota: q, resources: services")


def test_a_limit_range_defaults_and_bounds_containers(api: MemoryAPI) -> None:
    body = {"metadata": {"name": "lr"}, "spec": {"limits": [
        {"type": "Container", "max": {"cpu": "1"}, "defaultRequest": {"cpu": "100m"}, "min": {"cpu": "50m"}}]}}
    created = api.post(LIMITS, body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["spec"]["limits"][0]["default"] == {"cpu": "1"}  # from max
    defaulted = api.post(PODS, pod("plain", "default")).get_json()["spec"]["containers"][0]["resources"]
    assert defaulted == {"limits": {"cpu": "1"}, "requests": {"cpu": "100m"}}
    big = api.post(PODS, sized("big", cpu="2"))
    assert big.status_code == 403
    assert big.get_json()["message"] == ('pods "big" is forbidden: maximum cpu usage per Container is 1, but limit '
                                         'is 2')


def test_invalid_quotas_and_limit_ranges_are_refused(api: MemoryAPI) -> None:
    bad = api.post(QUOTAS, resource_quota(pods="lots"))
    assert bad.status_code == 422 and bad.get_json()["details"]["causes"][0]["field"] == "spec.hard[pods]"
    inverted = {"metadata": {"name": "lr"}, "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"},
                                                                 "max": {"cpu": "1"}}]}}
    answer = api.post(LIMITS, inverted)
    assert answer.status_code == 422
    assert "min value 2 is greater than max value 1" in answer.get_json()["message"]


def test_quotas_print_requests_and_limits(api: MemoryAPI) -> None:
    counted_quota(api, pods="2", **{"limits.cpu": "2"})
    table = api.client.get(QUOTAS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).get_json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age", "Request", "Limit"]
    assert table["rows"][0]["cells"][2:] == ["pods: 0/2", "limits.cpu: 0/2"]


# The controller


def test_the_controller_recounts_what_the_namespace_uses() -> None:
    f = controller_fixture(ResourceQuotaController)
    f.add(resource_quota(pods="5", **{"requests.memory": "1Gi"}), sized("a"), sized("b"),
          sized("done", phase="Failed"), pod("other-ns", "elsewhere"))
    f.sync("default/q")
    (write,) = f.actions("update", "resourcequotas")
    assert write.object["status"] == {"hard": {"pods": "5", "requests.memory": "1Gi"},
                                      "used": {"pods": "2", "requests.memory": "128Mi"}}
    f.add(f.stored(QUOTAS_T, "default", "q"))
    f.client.clear()
    f.sync("default/q")
    assert f.actions("update", "resourcequotas") == []
