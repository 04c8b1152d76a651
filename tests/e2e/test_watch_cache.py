"""Lists served from the API server's watch cache (apiserver/watchcache.py) read as lists served from etcd.

Two API servers share the session's etcd: writes go to one, lists to the other, whose cache learns of the writes
only through its etcd watch. A third server runs with --watch-cache=false, the reference: etcd's own answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cluster import APIServer, Etcd
from support.polling import wait_until

WRITES = 60  # bounded: each round is one write and one list


@pytest.fixture(scope="module")
def servers(etcd: Etcd, apiserver: APIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[str, str, str]]:
    """(writer, cached reader, uncached reader) URLs on one etcd and prefix."""
    workdir: Path = tmp_path_factory.mktemp("watch-cache")
    reader = APIServer(etcd.url, workdir, prefix=apiserver.prefix).start()
    uncached = APIServer(etcd.url, workdir, prefix=apiserver.prefix, extra=["--watch-cache=false"]).start()
    try:
        yield apiserver.url, reader.url, uncached.url
    finally:
        reader.stop()
        uncached.stop()


@pytest.fixture
def namespace(servers: tuple[str, str, str]) -> str:
    name = f"wc-{uuid.uuid4().hex[:6]}"
    requests.post(f"{servers[0]}/api/v1/namespaces", json={"metadata": {"name": name}},
                  timeout=10).raise_for_status()
    return name


def list_configmaps(url: str, namespace: str, **params: str) -> dict:
    response = requests.get(f"{url}/api/v1/namespaces/{namespace}/configmaps", params=params, timeout=30)
    response.raise_for_status()
    return response.json()


def list_sources(url: str) -> dict[str, float]:
    """How many configmaps lists the server answered from each source, from its /metrics."""
    counts: dict[str, float] = {}
    for line in requests.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith('kubeling_list_total{resource="configmaps"'):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split(',source="')[1].split('"')[0]] = float(value)
    return counts


def test_a_consistent_list_never_misses_an_acknowledged_write(servers: tuple[str, str, str], namespace: str) -> None:
    """Every create, update and delete acknowledged by one API server is in the very next list (no
    resourceVersion) from the other, whose cache has to catch up with etcd before it answers."""
    writer, reader, _ = servers
    before = list_sources(reader).get("cache", 0)
    url = f"{writer}/api/v1/namespaces/{namespace}/configmaps"
    for i in range(WRITES):
        name = f"cm-{i}"
        created = requests.post(url, json={"metadata": {"name": name}, "data": {"round": str(i)}}, timeout=10)
        created.raise_for_status()
        listed = list_configmaps(reader, namespace)
        assert int(listed["metadata"]["resourceVersion"]) >= int(created.json()["metadata"]["resourceVersion"])
        by_name = {item["metadata"]["name"]: item for item in listed["items"]}
        assert name in by_name, f"round {i}: the list missed the create acknowledged before it"
        if i % 3 == 1:
            updated = requests.patch(f"{url}/{name}", json={"data": {"round": "updated"}},
                                     headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
            updated.raise_for_status()
            item = next(x for x in list_configmaps(reader, namespace)["items"] if x["metadata"]["name"] == name)
            assert item["data"]["round"] == "updated", f"round {i}: the list showed the object before its update"
        if i % 3 == 2:
            requests.delete(f"{url}/{name}", timeout=10).raise_for_status()
            names = {x["metadata"]["name"] for x in list_configmaps(reader, namespace)["items"]}
            assert name not in names, f"round {i}: the list still showed a deleted object"
    # The reader answered (most of) them from its cache, not by asking etcd for the objects.
    assert list_sources(reader).get("cache", 0) - before >= WRITES


def test_lists_from_the_cache_match_etcds(servers: tuple[str, str, str], namespace: str) -> None:
    """Items, order, resourceVersion semantics and paging from the cache read as from etcd."""
    writer, reader, uncached = servers
    url = f"{writer}/api/v1/namespaces/{namespace}/configmaps"
    last = ""
    for i in range(25):
        response = requests.post(url, json={"metadata": {"name": f"p-{i:02}", "labels": {"odd": str(i % 2)}}},
                                 timeout=10)
        response.raise_for_status()
        last = response.json()["metadata"]["resourceVersion"]

    def names(body: dict) -> list[str]:
        return [item["metadata"]["name"] for item in body["items"]]

    expected = names(list_configmaps(uncached, namespace))
    assert expected == sorted(expected) and len(expected) == 25
    assert names(list_configmaps(reader, namespace)) == expected
    # resourceVersion=N: not older than N, once the cache has seen it.
    at_least = list_configmaps(reader, namespace, resourceVersion=last)
    assert int(at_least["metadata"]["resourceVersion"]) >= int(last) and names(at_least) == expected
    # resourceVersion=0: whatever the cache holds (it has seen `last` by now).
    wait_until(lambda: names(list_configmaps(reader, namespace, resourceVersion="0")) == expected, 10,
               "a resourceVersion=0 list to hold every object")
    # Label selectors filter the cached objects as etcd's.
    assert (names(list_configmaps(reader, namespace, labelSelector="odd=1"))
            == names(list_configmaps(uncached, namespace, labelSelector="odd=1")))
    # Pages: a first page from the cache, the rest from etcd at the same revision, every object once.
    pages: list[str] = []
    body = list_configmaps(reader, namespace, limit="10")
    assert body["metadata"]["remainingItemCount"] == 15
    first_revision = body["metadata"]["resourceVersion"]
    requests.post(url, json={"metadata": {"name": "p-99-after-the-first-page"}}, timeout=10).raise_for_status()
    while True:
        pages.extend(names(body))
        token = body["metadata"].get("continue")
        if not token:
            break
        body = list_configmaps(reader, namespace, limit="10", **{"continue": token})
        assert body["metadata"]["resourceVersion"] == first_revision
    assert pages == expected, "paging from the cache lost, repeated or added objects"


def test_an_exact_resource_version_is_read_from_etcd(servers: tuple[str, str, str], namespace: str) -> None:
    """resourceVersionMatch=Exact asks for the past: etcd answers, with the objects as they were."""
    writer, reader, _ = servers
    url = f"{writer}/api/v1/namespaces/{namespace}/configmaps"
    old = requests.post(url, json={"metadata": {"name": "then"}, "data": {"v": "1"}}, timeout=10).json()
    requests.patch(f"{url}/then", json={"data": {"v": "2"}}, headers={"Content-Type": "application/merge-patch+json"},
                   timeout=10).raise_for_status()
    rv = old["metadata"]["resourceVersion"]
    past = list_configmaps(reader, namespace, resourceVersion=rv, resourceVersionMatch="Exact")
    assert past["metadata"]["resourceVersion"] == rv
    assert [item["data"]["v"] for item in past["items"]] == ["1"]
    assert [item["data"]["v"] for item in list_configmaps(reader, namespace)["items"]] == ["2"]
    assert list_sources(reader).get("exact", 0) >= 1


def test_metrics_report_what_the_cache_holds(servers: tuple[str, str, str], namespace: str) -> None:
    writer, reader, uncached = servers
    requests.post(f"{writer}/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "one"}},
                  timeout=10).raise_for_status()
    text = requests.get(f"{reader}/metrics", timeout=10).text
    figures = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    assert figures['kubeling_watch_cache_objects{resource="configmaps"}'] >= 1
    assert figures['kubeling_watch_cache_object_bytes{resource="configmaps"}'] > 0
    assert figures['apiserver_watch_cache_capacity{resource="configmaps"}'] > 0
    assert figures["process_resident_memory_bytes"] > 0
    # With --watch-cache=false every list goes to etcd, and says so.
    list_configmaps(uncached, namespace)
    assert list_sources(uncached).get("no cache", 0) >= 1 and "cache" not in list_sources(uncached)
