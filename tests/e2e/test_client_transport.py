"""The components' API client over its own keep-alive transport (fastpath/transport.py), against a real API server."""

from __future__ import annotations

import threading
import uuid

import pytest

from cluster import APIServer
from kubeling.api.resources import lookup
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.config import ClientConfig

pytestmark = pytest.mark.e2e

NAMESPACES = lookup("", "namespaces")
CONFIGMAPS = lookup("", "configmaps")



def test_verbs_selectors_and_status_errors(apiserver: APIServer) -> None:
    client = Client(ClientConfig(server=apiserver.url), retries=0)
    ns = "transport-" + uuid.uuid4().hex[:6]
    client.create(NAMESPACES, {"metadata": {"name": ns}})
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        client.create(CONFIGMAPS, {"metadata": {"name": name, "labels": {"tier": tier}}, "data": {"k": name}}, ns)

    web = client.list(CONFIGMAPS, ns, label_selector="tier in (web)")
    assert sorted(item["metadata"]["name"] for item in web["items"]) == ["a", "c"]
    paged = client.list_all(CONFIGMAPS, ns, page=1)
    assert [item["metadata"]["name"] for item in paged["items"]] == ["a", "b", "c"]

    with pytest.raises(errors.NotFound) as missing:
        client.get(CONFIGMAPS, "nope", ns)
    assert missing.value.status == 404 and 'configmaps "nope" not found' in str(missing.value)
    with pytest.raises(errors.Invalid) as invalid:
        client.create(CONFIGMAPS, {"metadata": {"name": "Not_A_Name"}}, ns)
    assert invalid.value.status == 422
    with pytest.raises(errors.AlreadyExists):
        client.create(CONFIGMAPS, {"metadata": {"name": "a"}}, ns)

    client.delete(CONFIGMAPS, "b", ns)
    with pytest.raises(errors.NotFound):
        client.get(CONFIGMAPS, "b", ns)


def test_watch_streams_while_calls_go_on(apiserver: APIServer) -> None:
    client = Client(ClientConfig(server=apiserver.url), retries=0)
    ns = "transport-" + uuid.uuid4().hex[:6]
    client.create(NAMESPACES, {"metadata": {"name": ns}})
    version = client.list(CONFIGMAPS, ns)["metadata"]["resourceVersion"]
    seen: list[tuple[str, str]] = []

    def watch() -> None:
        for kind, obj in client.watch(CONFIGMAPS, ns, resource_version=version, timeout_seconds=5):
            if kind != "BOOKMARK":
                seen.append((kind, obj["metadata"]["name"]))
            if len(seen) == 3:
                return

    reader = threading.Thread(target=watch)
    reader.start()
    for index in range(3):
        client.create(CONFIGMAPS, {"metadata": {"name": f"w{index}"}}, ns)
    reader.join(10)
    assert seen == [("ADDED", "w0"), ("ADDED", "w1"), ("ADDED", "w2")]


def test_a_restarted_server_is_reconnected_to_without_an_error(private_apiserver: APIServer) -> None:
    client = Client(ClientConfig(server=private_apiserver.url), retries=0)  # no retry may hide a failure
    assert client.get(NAMESPACES, "default")["metadata"]["name"] == "default"
    private_apiserver.stop()
    with pytest.raises(errors.Unavailable):
        client.get(NAMESPACES, "default")
    private_apiserver.start()
    assert client.get(NAMESPACES, "default")["metadata"]["name"] == "default"
    assert client.get(NAMESPACES, "kube-system")["metadata"]["name"] == "kube-system"


def test_retries_ride_out_a_restart(private_apiserver: APIServer) -> None:
    client = Client(ClientConfig(server=private_apiserver.url), retries=8)
    client.get(NAMESPACES, "default")
    private_apiserver.stop()
    restart = threading.Timer(0.5, private_apiserver.start)
    restart.start()
    try:
        assert client.get(NAMESPACES, "default")["metadata"]["name"] == "default"
    finally:
        restart.join()
