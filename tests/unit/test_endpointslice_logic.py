"""The EndpointSlice controller's pure part: which slices a Service should have for its pods; and how kubectl
prints a slice."""

from __future__ import annotations

import datetime
from typing import Any

from kubeling.api import printers
from kubeling.api.resources import lookup
from kubeling.controllers.endpointslice import MAX_ENDPOINTS_PER_SLICE, desired_slices
from support import builders


def service(**spec: Any) -> dict[str, Any]:
    obj = builders.service("web", "shop", ports=[{"name": "http", "port": 80, "targetPort": "www"}], **spec)
    obj["metadata"]["uid"] = "u1"
    return obj


def pod(name: str, ip: str, *, ready: bool = True, port: int = 8080, deleting: bool = False,
        **spec: Any) -> dict[str, Any]:
    ports = [{"name": "www", "containerPort": port}]
    obj = builders.pod(name, "shop", labels={"app": "web"}, node="n1", phase="Running", ready=ready, ip=ip,
                       uid=f"uid-{name}", containers=[builders.container(ports=ports)], **spec)
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return obj


def test_endpoints_carry_conditions_hostname_node_and_pod() -> None:
    (ports, endpoints), = desired_slices(service(), [
        pod("a", "10.0.0.2", hostname="a", subdomain="web"), pod("b", "10.0.0.1", ready=False),
        pod("c", "10.0.0.3", deleting=True)])
    assert ports == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [e["addresses"] for e in endpoints] == [["10.0.0.1"], ["10.0.0.2"], ["10.0.0.3"]]
    assert [e["conditions"] for e in endpoints] == [
        {"ready": False, "serving": False, "terminating": False},
        {"ready": True, "serving": True, "terminating": False},
        {"ready": False, "serving": True, "terminating": True}]
    assert endpoints[1]["hostname"] == "a" and "hostname" not in endpoints[0]
    assert endpoints[1]["nodeName"] == "n1" and endpoints[1]["targetRef"]["name"] == "a"


def test_publish_not_ready_addresses_makes_every_endpoint_ready() -> None:
    (_, endpoints), = desired_slices(service(publishNotReadyAddresses=True), [pod("b", "10.0.0.1", ready=False)])
    assert endpoints[0]["conditions"]["ready"] is True


def test_pods_with_different_ports_go_to_different_slices_and_slices_hold_at_most_100() -> None:
    pods = [pod(f"p{n}", f"10.0.{n // 250}.{n % 250 + 1}") for n in range(150)] + [pod("other", "10.1.0.1", port=9090)]
    slices = desired_slices(service(), pods)
    assert sorted(len(endpoints) for _, endpoints in slices) == [1, 50, MAX_ENDPOINTS_PER_SLICE]
    assert {ports[0]["port"] for ports, _ in slices} == {8080, 9090}


def test_no_pods_is_one_empty_slice() -> None:
    assert desired_slices(service(), []) == [([], [])]


def test_kubectl_columns_of_a_slice() -> None:
    endpoint_slice = {"metadata": {"name": "web-abcde", "creationTimestamp": "2026-01-01T00:00:00Z"},
                      "addressType": "IPv4", "ports": [{"port": 80}, {"port": 443}],
                      "endpoints": [{"addresses": [f"10.0.0.{n}"]} for n in range(1, 6)]}
    table = printers.to_table(lookup("discovery.k8s.io", "endpointslices"), [endpoint_slice],
                              now=datetime.datetime(2026, 1, 1, 0, 5, tzinfo=datetime.UTC))
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    assert table["rows"][0]["cells"] == ["web-abcde", "IPv4", "80,443", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...",
                                         "5m"]
