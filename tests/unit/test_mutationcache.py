"""The MutationCache: reads of an informer's store that see the controller's own writes until the informer does."""

from __future__ import annotations

import time

from kubeling.client.informer import Store
from kubeling.client.mutationcache import MutationCache


def rs(name: str, rv: str, replicas: int, namespace: str = "ns") -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": rv, "uid": f"{name}-uid"},
            "spec": {"replicas": replicas}}


def store_with(*objs: dict) -> Store:
    store = Store()
    for obj in objs:
        store._put(obj)  # what the informer does on a watch event
    return store


def test_a_read_returns_our_write_until_the_informer_shows_it() -> None:
    store = store_with(rs("web", "10", 1))
    cache = MutationCache(store)
    written = cache.mutation(rs("web", "11", 3))
    assert cache.get("ns/web") is written
    assert cache.list("ns") == [written]
    assert cache.newest(store.get("ns/web")) is written
    informer_copy = rs("web", "11", 3)
    store._put(informer_copy)  # the watch delivers our write
    assert cache.get("ns/web") is informer_copy


def test_a_newer_version_from_elsewhere_wins_over_our_write() -> None:
    store = store_with(rs("web", "10", 1))
    cache = MutationCache(store)
    cache.mutation(rs("web", "11", 3))
    store._put(rs("web", "12", 5))  # someone else scaled it after us
    assert cache.get("ns/web")["spec"]["replicas"] == 5
    store._put(rs("web", "10", 1))  # once caught up, the entry is gone: the store's copy is what we read
    assert cache.get("ns/web")["spec"]["replicas"] == 1


def test_a_write_does_not_bring_back_an_object_the_store_does_not_have() -> None:
    cache = MutationCache(store_with())
    cache.mutation(rs("web", "11", 3))
    assert cache.get("ns/web") is None
    assert cache.list("ns") == []


def test_a_recreated_object_is_not_hidden_by_a_write_to_the_old_one() -> None:
    store = store_with(rs("web", "10", 1))
    cache = MutationCache(store)
    cache.mutation(rs("web", "11", 3))
    store._remove(rs("web", "11", 3))
    store._put(rs("web", "20", 1))  # deleted and created again: a later resourceVersion
    assert cache.get("ns/web")["metadata"]["resourceVersion"] == "20"


def test_index_reads_see_our_writes() -> None:
    store = store_with(rs("a", "10", 1), rs("b", "10", 4))
    cache = MutationCache(store)
    cache.add_indexer("replicas", lambda obj: [str(obj["spec"]["replicas"])])
    cache.mutation(rs("a", "11", 2))
    assert [obj["spec"]["replicas"] for obj in cache.by_index("replicas", "1")] == [2]


def test_entries_expire() -> None:
    store = store_with(rs("web", "10", 1))
    cache = MutationCache(store, ttl=0.05)
    cache.mutation(rs("web", "11", 3))
    assert cache.get("ns/web")["spec"]["replicas"] == 3
    time.sleep(0.1)
    assert cache.get("ns/web")["spec"]["replicas"] == 1


def test_the_least_recently_written_entry_goes_first_when_full() -> None:
    store = store_with(rs("a", "10", 1), rs("b", "10", 1))
    cache = MutationCache(store, max_entries=1)
    cache.mutation(rs("a", "11", 2))
    cache.mutation(rs("b", "11", 2))
    assert cache.get("ns/a")["spec"]["replicas"] == 1
    assert cache.get("ns/b")["spec"]["replicas"] == 2


def test_objects_without_a_numeric_resource_version_are_not_newer() -> None:
    store = store_with(rs("web", "10", 1))
    cache = MutationCache(store)
    cache.mutation(rs("web", "", 3))
    assert cache.get("ns/web")["spec"]["replicas"] == 1


def test_reading_our_own_copy_back_keeps_the_entry_while_the_store_is_behind() -> None:
    store = store_with(rs("web", "10", 1))
    cache = MutationCache(store)
    written = cache.mutation(rs("web", "11", 3))
    assert cache.newest(written) is written  # e.g. a sync refreshing the ReplicaSets it has just scaled
    assert cache.get("ns/web") is written
