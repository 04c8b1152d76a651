"""sync(key) of the endpoints, service account and node IPAM controllers on hand-fed caches (upstream:
pkg/controller/endpoint/endpoints_controller_test.go, serviceaccount/serviceaccounts_controller_test.go,
nodeipam/ipam/range_allocator_test.go)."""

from __future__ import annotations

import types

import pytest

from kubeling.api.resources import lookup
from kubeling.controllers.endpoints import EndpointsController
from kubeling.controllers.nodeipam import NodeIpamController
from kubeling.controllers.serviceaccount import ServiceAccountController
from support.builders import container, endpoints, namespace, node, pod, service, service_account
from support.fakeclient import controller_fixture

# Endpoints

ENDPOINTS = lookup("", "endpoints")


def web_pod(name: str, ip: str, ready: bool = True, **extra: object) -> dict:
    return pod(name, labels={"app": "web"}, node="n1", phase="Running", ready=ready, ip=ip,
               containers=[container(ports=[{"name": "http", "containerPort": 8080}])], **extra)


def test_endpoints_list_the_ready_and_not_ready_addresses_of_the_selected_pods() -> None:
    f = controller_fixture(EndpointsController)
    f.add(service("web", ports=[{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]),
          web_pod("a", "10.244.0.2"), web_pod("b", "10.244.0.3", ready=False),
          pod("other", labels={"app": "db"}, phase="Running", ready=True, ip="10.244.0.9"))
    f.sync("default/web")
    (create,) = f.actions("create", "endpoints")
    (subset,) = create.object["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.244.0.2"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.244.0.3"]
    assert subset["addresses"][0]["targetRef"]["name"] == "a"
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_endpoints_are_updated_only_when_they_differ() -> None:
    f = controller_fixture(EndpointsController)
    f.add(service("web", ports=[{"port": 80, "targetPort": 8080, "protocol": "TCP"}]), web_pod("a", "10.244.0.2"))
    f.sync("default/web")
    (created,) = [a.object for a in f.actions("create", "endpoints")]
    f.add(f.stored(ENDPOINTS, "default", "web"))
    f.client.clear()
    f.sync("default/web")
    assert f.actions() == []
    f.add(web_pod("b", "10.244.0.3"))
    f.sync("default/web")
    (update,) = f.actions("update", "endpoints")
    assert sorted(a["ip"] for a in update.object["subsets"][0]["addresses"]) == ["10.244.0.2", "10.244.0.3"]
    assert created["metadata"]["name"] == "web"


def test_the_endpoints_of_a_deleted_service_are_deleted() -> None:
    f = controller_fixture(EndpointsController)
    f.add(endpoints("web", ips=("10.244.0.2",)))
    f.sync("default/web")
    assert [(a.verb, a.name) for a in f.actions()] == [("delete", "web")]


def test_a_service_without_a_selector_keeps_its_hand_made_endpoints() -> None:
    f = controller_fixture(EndpointsController)
    f.add(service("external", selector={}), endpoints("external", ips=("192.0.2.1",)))
    f.sync("default/external")
    assert f.actions() == []


# Service accounts


def test_every_namespace_gets_a_default_service_account() -> None:
    f = controller_fixture(ServiceAccountController)
    f.add(namespace("team"))
    f.sync("team")
    assert [(a.namespace, a.name) for a in f.actions("create", "serviceaccounts")] == [("team", "default")]


def test_an_existing_default_service_account_is_left_alone() -> None:
    f = controller_fixture(ServiceAccountController)
    f.add(namespace("team"), service_account("default", "team"))
    f.sync("team")
    assert f.actions() == []


def test_a_terminating_namespace_gets_no_service_account() -> None:
    f = controller_fixture(ServiceAccountController)
    ns = namespace("team")
    ns["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    f.add(ns)
    f.sync("team")
    assert f.actions() == []


# Node IPAM

IPAM = types.SimpleNamespace(allocate_node_cidrs=True, cluster_cidr="10.244.0.0/16", node_cidr_mask_size=24)


def test_a_node_without_a_range_gets_the_next_free_one() -> None:
    f = controller_fixture(NodeIpamController, IPAM)
    f.add(node("n1", pod_cidr="10.244.0.0/24"), node("n2"))
    f.sync("n2")
    (patch,) = f.actions("patch", "nodes")
    assert patch.name == "n2"
    assert patch.object == {"spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}}


def test_a_node_that_has_a_range_is_left_alone() -> None:
    f = controller_fixture(NodeIpamController, IPAM)
    f.add(node("n1", pod_cidr="10.244.7.0/24"))
    f.sync("n1")
    assert f.actions() == []


def test_a_node_asked_again_before_the_cache_shows_its_range_gets_the_same_one() -> None:
    f = controller_fixture(NodeIpamController, IPAM)
    f.add(node("n1"))
    f.sync("n1")
    f.sync("n1")
    assert [a.object["spec"]["podCIDR"] for a in f.actions("patch", "nodes")] == ["10.244.0.0/24"] * 2


def test_a_full_range_is_an_event_and_an_error() -> None:
    full = types.SimpleNamespace(allocate_node_cidrs=True, cluster_cidr="10.244.0.0/24", node_cidr_mask_size=24)
    f = controller_fixture(NodeIpamController, full)
    f.add(node("n1", pod_cidr="10.244.0.0/24"), node("n2"))
    with pytest.raises(RuntimeError):  # so that the queue retries it
        f.sync("n2")
    assert f.recorder.reasons() == ["CIDRNotAvailable"]
