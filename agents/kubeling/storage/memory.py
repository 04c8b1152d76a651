"""An etcd that lives in memory: the part of etcd's v3 key-value API that the object store and the watch hubs use.

`MemoryEtcd` answers the same calls as `EtcdClient` (range, get, revision, put, delete_prefix, txn, compact,
watch) with etcd's semantics, so `Store(MemoryEtcd())` is a complete object store and the API server's application
runs on it without an etcd process. Tests use it to check API semantics through Flask's test client in milliseconds;
the end-to-end tests keep using a real etcd.

What it keeps from etcd (upstream: etcd's `server/storage/mvcc/kvstore.go`, `kvstore_txn.go`, `watchable_store.go`):
- One revision counter for the whole store. Every transaction that changes something moves it on by one, and all
  the writes of one transaction share that revision (their `mod_revision`).
- Per key: `create_revision`, `mod_revision` and `version` (1 on creation, +1 per put; a delete resets the key).
- Multi-version reads: `range(..., revision=r)` sees the store as it was at `r`.
- Compaction: `compact(r)` forgets history older than `r`; reading at, or watching from, a revision before it raises
  `Compacted`, which the object store turns into "410 Expired".
- Watches that replay history from a start revision, then follow new writes as they happen, in revision order.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Sequence

from kubeling.storage.etcd import Compacted, Compare, Delete, EtcdError, KeyValue, Put, WatchEvent, prefix_end

# How often a waiting watch looks at its stop event (a write wakes it at once).
_POLL_SECONDS = 0.25


class MemoryEtcd:
    """An in-memory stand-in for `EtcdClient`; safe to use from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._revision = 1  # etcd's revision of an empty store
        self._compacted = 0
        # Every key's history, oldest first: (revision, the value from then on, or None once deleted).
        self._history: dict[str, list[tuple[int, KeyValue | None]]] = {}
        # Every change, in revision order, for watches (the history a watch can replay), and its revisions.
        self._events: list[WatchEvent] = []
        self._event_revisions: list[int] = []

    # Reads

    def range(
        self,
        key: str,
        range_end: str | None = None,
        *,
        limit: int = 0,
        revision: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
        newest_first: bool = False,
    ) -> tuple[list[KeyValue], int, int, bool]:
        """Return (kvs, header revision, total count, more), as `EtcdClient.range`."""
        with self._lock:
            if revision and revision < self._compacted:
                raise Compacted(self._compacted)
            if revision > self._revision:
                raise _future_revision(revision)
            at = revision or self._revision
            found = sorted(
                (kv for name, versions in self._history.items() if _in_range(name, key, range_end)
                 if (kv := _as_of(versions, at)) is not None),
                key=lambda kv: kv.key,
            )
            if newest_first:
                found.sort(key=lambda kv: kv.mod_revision, reverse=True)
            count = len(found)
            if count_only:
                return [], self._revision, count, False
            more = bool(limit) and count > limit
            if limit:
                found = found[:limit]
            if keys_only:
                found = [KeyValue(kv.key, b"", kv.create_revision, kv.mod_revision, kv.version) for kv in found]
            return found, self._revision, count, more

    def get(self, key: str) -> tuple[KeyValue | None, int]:
        kvs, revision, _, _ = self.range(key)
        return (kvs[0] if kvs else None), revision

    def revision(self) -> int:
        """The store's current revision."""
        with self._lock:
            return self._revision

    # Writes

    def put(self, key: str, value: bytes) -> int:
        _, revision, _ = self.txn([], [Put(key, value)])
        return revision

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            keys = [kv.key for kv in self.range(prefix, prefix_end(prefix))[0]]
            self._apply([Delete(key) for key in keys])
            return len(keys)

    def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Put | Delete],
        failure_reads: Sequence[str] = (),
    ) -> tuple[bool, int, list[KeyValue | None]]:
        """If every compare holds, apply `success` at one new revision; return as `EtcdClient.txn`."""
        with self._lock:
            if not all(self._holds(c) for c in compare):
                return False, self._revision, [self._current(key) for key in failure_reads]
            self._apply(success)
            return True, self._revision, []

    def compact(self, revision: int) -> None:
        """Forget the history before `revision` (etcd keeps, per key, the last version at or before it)."""
        with self._lock:
            if revision <= self._compacted:
                raise Compacted(self._compacted)
            if revision > self._revision:
                raise _future_revision(revision)
            self._compacted = revision
            for name in list(self._history):
                versions = self._history[name]
                keep = bisect.bisect_right([rev for rev, _ in versions], revision) - 1
                versions[:] = versions[max(keep, 0):]
                if versions[0][1] is None and len(versions) == 1:
                    del self._history[name]  # deleted before the compaction: nothing left to read
            first = bisect.bisect_left(self._event_revisions, revision)
            del self._events[:first], self._event_revisions[:first]

    # Watch

    def watch(
        self, prefix: str, start_revision: int, stop: threading.Event | None = None, prev_kv: bool = True
    ) -> Iterator[list[WatchEvent]]:
        """Yield batches of events (one batch per revision) for keys under `prefix` from `start_revision` on.

        Raises Compacted when `start_revision` is older than the kept history; ends when `stop` is set.
        """
        with self._lock:
            if start_revision and start_revision < self._compacted:
                raise Compacted(self._compacted)
            next_revision = start_revision or self._revision + 1
        while stop is None or not stop.is_set():
            with self._lock:
                if next_revision < self._compacted:
                    raise Compacted(self._compacted)
                start = bisect.bisect_left(self._event_revisions, next_revision)
                pending = self._events[start:]
                if not pending:
                    self._lock.wait(_POLL_SECONDS)
                    continue
                next_revision = pending[-1].kv.mod_revision + 1
            for batch in _by_revision(pending):
                selected = [
                    event if prev_kv else WatchEvent(event.type, event.kv, None)
                    for event in batch if event.kv.key.startswith(prefix)
                ]
                if selected:
                    yield selected

    # Inside the lock

    def _current(self, key: str) -> KeyValue | None:
        versions = self._history.get(key)
        return versions[-1][1] if versions else None

    def _holds(self, compare: Compare) -> bool:
        kv = self._current(compare.key)
        actual = {
            "MOD": kv.mod_revision if kv else 0,
            "VERSION": kv.version if kv else 0,
            "CREATE": kv.create_revision if kv else 0,
        }[compare.target]
        return {
            "EQUAL": actual == compare.value,
            "NOT_EQUAL": actual != compare.value,
            "GREATER": actual > compare.value,
            "LESS": actual < compare.value,
        }[compare.result]

    def _apply(self, ops: Sequence[Put | Delete]) -> None:
        """Apply writes at the next revision; a transaction that changes nothing leaves the revision as it is."""
        revision = self._revision + 1
        events: list[WatchEvent] = []
        for op in ops:
            previous = self._current(op.key)
            if isinstance(op, Put):
                kv = KeyValue(
                    key=op.key,
                    value=op.value,
                    create_revision=previous.create_revision if previous else revision,
                    mod_revision=revision,
                    version=previous.version + 1 if previous else 1,
                )
                self._history.setdefault(op.key, []).append((revision, kv))
                events.append(WatchEvent("PUT", kv, previous))
            elif previous is not None:
                self._history[op.key].append((revision, None))
                events.append(WatchEvent("DELETE", KeyValue(op.key, b"", 0, revision, 0), previous))
        if events:
            self._revision = revision
            self._events.extend(events)
            self._event_revisions.extend(revision for _ in events)
            self._lock.notify_all()


def _in_range(name: str, key: str, range_end: str | None) -> bool:
    """etcd's range rule: one key without range_end, every key >= key with "\\0" as the end, else [key, end)."""
    if range_end is None:
        return name == key
    if range_end == "\0":
        return name >= key
    # prefix_end() yields latin-1 text for byte arithmetic; compare as bytes, as etcd does.
    return key.encode() <= name.encode() < range_end.encode("latin-1")


def _as_of(versions: list[tuple[int, KeyValue | None]], revision: int) -> KeyValue | None:
    """The key's value at `revision` (None if it did not exist then)."""
    index = bisect.bisect_right([rev for rev, _ in versions], revision) - 1
    return versions[index][1] if index >= 0 else None


def _by_revision(events: list[WatchEvent]) -> Iterator[list[WatchEvent]]:
    batch: list[WatchEvent] = []
    for event in events:
        if batch and batch[-1].kv.mod_revision != event.kv.mod_revision:
            yield batch
            batch = []
        batch.append(event)
    if batch:
        yield batch


def _future_revision(revision: int) -> EtcdError:
    return EtcdError(f"etcdserver: mvcc: required revision is a future revision ({revision})")
