"""MemoryEtcd keeps etcd's semantics where the object store and the watch hubs rely on them (etcd's
server/storage/mvcc/kvstore_test.go, watchable_store_test.go): one revision per transaction, per-key versions,
compare-and-swap, reads at a past revision, compaction, and watches that replay then follow."""

from __future__ import annotations

import threading

import pytest

from kubeling.storage.etcd import Compacted, Compare, Delete, Put, prefix_end
from kubeling.storage.memory import MemoryEtcd


def test_each_transaction_is_one_revision_and_keys_keep_their_versions() -> None:
    etcd = MemoryEtcd()
    assert etcd.revision() == 1
    ok, rev, _ = etcd.txn([], [Put("/a", b"1"), Put("/b", b"1")])
    assert ok and rev == 2
    etcd.put("/a", b"2")
    kv, _ = etcd.get("/a")
    assert (kv.value, kv.create_revision, kv.mod_revision, kv.version) == (b"2", 2, 3, 2)
    assert etcd.get("/b")[0].mod_revision == 2


def test_a_failed_compare_writes_nothing_and_returns_the_current_values() -> None:
    etcd = MemoryEtcd()
    etcd.put("/a", b"1")
    ok, rev, current = etcd.txn([Compare("/a", "MOD", 1)], [Put("/a", b"2")], failure_reads=["/a", "/none"])
    assert not ok and rev == 2
    assert current[0].value == b"1" and current[1] is None
    ok, _, _ = etcd.txn([Compare("/new", "VERSION", 0)], [Put("/new", b"x")])
    assert ok
    ok, _, _ = etcd.txn([Compare("/new", "VERSION", 0)], [Put("/new", b"y")])
    assert not ok


def test_ranges_are_sorted_limited_and_readable_at_a_past_revision() -> None:
    etcd = MemoryEtcd()
    for key in ("/r/c", "/r/a", "/r/b", "/s/x"):
        etcd.put(key, b"v")
    kvs, _, count, more = etcd.range("/r/", prefix_end("/r/"), limit=2)
    assert [kv.key for kv in kvs] == ["/r/a", "/r/b"] and count == 3 and more
    etcd.txn([], [Delete("/r/a")])
    assert [kv.key for kv in etcd.range("/r/", prefix_end("/r/"))[0]] == ["/r/b", "/r/c"]
    assert [kv.key for kv in etcd.range("/r/", prefix_end("/r/"), revision=4)[0]] == ["/r/a", "/r/b", "/r/c"]


def test_compaction_forgets_older_revisions() -> None:
    etcd = MemoryEtcd()
    etcd.put("/a", b"1")
    etcd.put("/a", b"2")
    etcd.compact(3)
    with pytest.raises(Compacted):
        etcd.range("/a", revision=2)
    assert etcd.range("/a", revision=3)[0][0].value == b"2"
    with pytest.raises(Compacted):
        next(etcd.watch("/", 2))


def test_a_watch_replays_from_its_start_revision_then_follows_new_writes() -> None:
    etcd = MemoryEtcd()
    etcd.put("/w/a", b"1")
    etcd.put("/other", b"1")
    etcd.txn([], [Delete("/w/a")])
    stop = threading.Event()
    events = etcd.watch("/w/", 2, stop)
    first, second = next(events), next(events)
    seen = [(e.type, e.kv.key, e.kv.mod_revision) for e in first + second]
    assert seen == [("PUT", "/w/a", 2), ("DELETE", "/w/a", 4)]
    assert second[0].prev_kv is not None and second[0].prev_kv.value == b"1"
    threading.Timer(0.05, etcd.put, args=("/w/b", b"2")).start()
    (live,) = next(events)
    assert (live.type, live.kv.key, live.kv.version) == ("PUT", "/w/b", 1)
    stop.set()
    assert list(events) == []
