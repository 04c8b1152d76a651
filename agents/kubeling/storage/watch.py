"""One etcd watch per resource, fanned out in memory to every API watch on that resource.

Each `WatchHub` keeps recent events in a bounded, revision-ordered buffer. A client watch is a cursor into that
buffer: it reads what is new, then sleeps on a condition until the hub appends more. A client asking for history
older than the buffer gets its own etcd watch from that revision (etcd answers `Compacted` when it is gone), until
it has caught up with the buffer.

A watcher's `Cursor` also says how far it has been told everything (`seen`): that, and nothing newer, is what a
bookmark may give the client to resume from. A bookmark ahead of what was sent would make a client that
reconnects skip the events in between, for good.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.storage.etcd import Compacted, EtcdClient, EtcdError, WatchEvent, prefix_end
from kubeling.storage.store import open_value
from kubeling.storage.transformers import Transformer

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Event:
    """An object-level change. `object` is shared between watchers and must not be mutated."""

    type: str  # ADDED, MODIFIED or DELETED
    key: str
    revision: int
    object: dict[str, Any]
    previous: dict[str, Any] | None
    # The event as a JSON watch line, by event type, made by the first watcher that sends it: every other watcher
    # of the resource sends the same bytes (upstream's watch cache serialises once per event too).
    lines: dict[str, bytes] = dataclasses.field(default_factory=dict, compare=False, repr=False)


class Expired(Exception):
    """The watcher asked for, or fell behind to, history that is no longer available."""


class Cursor:
    """One watcher's batches of events (iterate it), and `seen`: the revision up to which it has been handed every
    event under the prefix, those it filters out included. It starts at the revision the watch is from."""

    def __init__(self, after_revision: int) -> None:
        self.seen = after_revision
        self.batches: Iterator[list[Event]] = iter(())

    def __iter__(self) -> Cursor:
        return self

    def __next__(self) -> list[Event]:
        return next(self.batches)


def to_event(raw: WatchEvent, previous: dict[str, Any] | None, transformer: Transformer | None = None) -> Event:
    """An object-level event; `previous` is the key's state before it, if known. `transformer` opens the values
    of an encrypted resource.

    Upstream's DELETED event carries the object's last state, versioned at the deletion.
    """
    key, revision = raw.kv.key, raw.kv.mod_revision
    if raw.type == "DELETE":
        gone = dict(previous) if previous else {}
        gone["metadata"] = {**gone.get("metadata", {}), "resourceVersion": str(revision)}
        return Event("DELETED", key, revision, gone, None)
    kind = "ADDED" if raw.kv.version == 1 else "MODIFIED"
    return Event(kind, key, revision, open_value(transformer, key, raw.kv.value, revision), previous)


def _previous_from_etcd(raw: WatchEvent, transformer: Transformer | None) -> dict[str, Any] | None:
    """The previous state etcd sent with an event, for a watch opened with prev_kv."""
    if raw.prev_kv is None:
        return None
    return open_value(transformer, raw.prev_kv.key, raw.prev_kv.value, raw.prev_kv.mod_revision)


class WatchHub:
    def __init__(self, etcd: EtcdClient, prefix: str, capacity: int = 20000,
                 transformer: Transformer | None = None) -> None:
        """`transformer`: how the values under `prefix` are sealed (an encrypted resource), if they are."""
        self.etcd = etcd
        self.prefix = prefix
        self.capacity = capacity
        self.transformer = transformer
        self._events: collections.deque[Event] = collections.deque()
        self._revisions: collections.deque[int] = collections.deque()
        self._dropped = 0  # how many events have left the buffer: absolute position = index + _dropped
        self._complete_from = 0  # every event with revision >= this is (or was) in the buffer
        self._last_revision = 0
        # The latest state of every object under the prefix, as the events have brought it: a cache for
        # optimistic read-modify-write (a stale entry only costs one Conflict and a real read).
        self._objects: dict[str, dict[str, Any]] = {}
        self._sizes: dict[str, int] = {}  # each object's size as etcd holds it, for /metrics
        self._bytes = 0
        # Moves on when the hub starts over and finds that it missed changes (its etcd watch was compacted away):
        # every watcher opened before is then told its history is gone (410 Expired), and lists again.
        self._generation = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def last_revision(self) -> int:
        return self._last_revision

    def start(self, revision: int) -> None:
        """Read the prefix as of `revision`, then watch from the revision after it."""
        self._reset(revision)
        self._thread = threading.Thread(target=self._run, name=f"watch {self.prefix}", daemon=True)
        self._thread.start()

    def snapshot(self, prefix: str) -> tuple[int, list[dict[str, Any]]]:
        """(revision, the objects under `prefix` as of that revision, in key order): a list served from memory.
        The objects are shared: never mutate them."""
        with self._cond:
            revision, objects = self._last_revision, self._objects
            keys = [key for key in objects if key.startswith(prefix)]
            keys.sort()
            return revision, [objects[key] for key in keys]

    def stats(self) -> tuple[int, int, int]:
        """(objects held, their bytes as etcd stores them, events buffered), for /metrics."""
        return len(self._objects), self._bytes, len(self._events)

    def _sized(self, key: str, size: int) -> None:
        """Remember `key`'s stored size (0: gone)."""
        self._bytes += size - self._sizes.pop(key, 0)
        if size:
            self._sizes[key] = size

    def wait_for(self, revision: int, timeout: float) -> bool:
        """Wait (bounded) until the hub has seen `revision`; True when it has."""
        with self._cond:
            return self._cond.wait_for(lambda: self._last_revision >= revision, timeout)

    def cached(self, key: str) -> dict[str, Any] | None:
        """The object at `key` as of the last event seen; shared, so never mutate it."""
        return self._objects.get(key)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        """Follow etcd for as long as the hub lives. Nothing may end this thread early: watchers would go on
        getting heartbeats (bookmarks) from a hub that no longer hears anything, and never know."""
        delay = 0.1
        start_over = False
        while not self._stop.is_set():
            try:
                if start_over:
                    # Read the prefix again at etcd's current revision (etcd may refuse while it restarts: the
                    # next round tries again).
                    self._reset(self.etcd.revision())
                    start_over = False
                # No prev_kv: `_objects` already holds every key's previous state.
                for batch in self.etcd.watch(self.prefix, self._last_revision + 1, self._stop, prev_kv=False):
                    self._append(batch)
                    delay = 0.1
            except Compacted:
                # We fell behind etcd's history (a quiet prefix, across an etcd restart after a compaction): the
                # buffer cannot be continued; start over from the current revision.
                log.warning("watch on %s was compacted; restarting from the current revision", self.prefix)
                start_over = True
                delay = 0.1
            except EtcdError as exc:
                log.warning("watch on %s dropped (%s); reconnecting", self.prefix, exc)
            except Exception:  # a bug: keep following etcd, from a fresh read of the prefix
                log.exception("watch on %s failed; restarting from the current revision", self.prefix)
                start_over = True
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, 5.0)

    def _append(self, batch: list[WatchEvent]) -> None:
        with self._cond:
            for raw in batch:
                try:
                    event = to_event(raw, self._objects.get(raw.kv.key), self.transformer)
                except StatusError as exc:  # a value no configured key opens: readers of the key get the 500
                    log.error("watch on %s: %s", self.prefix, exc.message)
                    self._last_revision = raw.kv.mod_revision
                    continue
                if event.type == "DELETED":
                    self._objects.pop(event.key, None)
                    self._sized(event.key, 0)
                else:
                    self._objects[event.key] = event.object
                    self._sized(event.key, len(raw.kv.value))
                self._events.append(event)
                self._revisions.append(event.revision)
                self._last_revision = event.revision
            overflow = len(self._events) - self.capacity
            for _ in range(max(overflow, 0)):
                dropped = self._events.popleft()
                self._revisions.popleft()
                self._dropped += 1
                self._complete_from = dropped.revision + 1
            self._cond.notify_all()

    def _reset(self, revision: int) -> None:
        """Start over from the prefix's state at `revision`: the buffer empties and `_objects` is read whole."""
        kvs, _, _, _ = self.etcd.range(self.prefix, prefix_end(self.prefix), revision=revision)
        objects, sizes = {}, {}
        for kv in kvs:
            try:
                objects[kv.key] = open_value(self.transformer, kv.key, kv.value, kv.mod_revision)
                sizes[kv.key] = len(kv.value)
            except StatusError as exc:  # left out of the cache; reading the key itself gives the 500
                log.error("watch on %s: %s", self.prefix, exc.message)
        with self._cond:
            unchanged = _versions(objects) == _versions(self._objects)
            if not unchanged:
                self._generation += 1  # changes happened that no watcher was sent: they must list again
            elif self._thread is not None:
                # Nothing under the prefix changed while the hub was not following it (a quiet prefix whose
                # history etcd compacted): the buffer still holds every event since `_complete_from`, and
                # watchers resuming from before the restart are still served from memory.
                self._last_revision = max(self._last_revision, revision)
                self._cond.notify_all()
                return
            self._dropped += len(self._events)
            self._events.clear()
            self._revisions.clear()
            self._complete_from = revision + 1
            self._last_revision = revision
            self._objects, self._sizes, self._bytes = objects, sizes, sum(sizes.values())
            self._cond.notify_all()

    def _position_after(self, revision: int) -> int:
        return bisect.bisect_right(self._revisions, revision) + self._dropped

    def events(self, after_revision: int, stop: threading.Event, heartbeat: float = 1.0) -> Cursor:
        """Batches of events newer than `after_revision`; an empty batch every `heartbeat` seconds of quiet.

        Raises Expired if the history asked for is gone or the watcher falls too far behind.
        """
        cursor = Cursor(after_revision)
        with self._cond:
            servable = after_revision + 1 >= self._complete_from
            held_from = self._complete_from
        if not servable and self._quiet_between(after_revision, held_from - 1):
            cursor.seen, servable = held_from - 1, True  # nothing to catch up on: the buffer serves it
        if servable:
            cursor.batches = self._events_from_buffer(cursor, stop, heartbeat)
        else:
            cursor.batches = self._events_from_etcd(cursor, stop, heartbeat)
        return cursor

    def _quiet_between(self, after_revision: int, until: int) -> bool:
        """Whether nothing under the prefix changed after `after_revision` up to `until`, as etcd proves it (the
        list cache's proof, at two revisions): as many keys at both, and none changed after `after_revision`.
        A key created and deleted in between would pass unseen; no client ever knew it. False when etcd cannot
        tell (history compacted, etcd away)."""
        if after_revision >= until:
            return True
        end = prefix_end(self.prefix)
        try:
            _, _, count_then, _ = self.etcd.range(self.prefix, end, revision=after_revision, count_only=True)
            newest, _, count_now, _ = self.etcd.range(self.prefix, end, revision=until, limit=1, keys_only=True,
                                                      newest_first=True)
        except EtcdError:
            return False
        return count_then == count_now and (not newest or newest[0].mod_revision <= after_revision)

    def _events_from_buffer(self, cursor: Cursor, stop: threading.Event, heartbeat: float) -> Iterator[list[Event]]:
        after_revision = cursor.seen
        with self._cond:
            if after_revision + 1 < self._complete_from:
                raise Expired(f"events up to revision {self._complete_from - 1} are no longer held")
            position = self._position_after(after_revision)
            generation = self._generation
        yield []  # servable: let the caller start its response without waiting for the first event
        while not stop.is_set() and not self._stop.is_set():
            with self._cond:
                if generation != self._generation:
                    raise Expired(f"the watch cache started over at revision {self._complete_from - 1} "
                                  "and some changes before it were never sent")
                if position < self._dropped:
                    raise Expired(f"watch fell behind: events up to revision {self._complete_from - 1} were dropped")
                index = position - self._dropped
                if index >= len(self._events):
                    self._cond.wait(heartbeat)
                    index = position - self._dropped
                    if index < 0:
                        continue
                batch = list(_slice(self._events, index))
                position += len(batch)
                # The batch runs to the end of the buffer: with it, the watcher has everything the hub has heard.
                cursor.seen = max(cursor.seen, self._last_revision)
            if batch and batch[0].revision <= after_revision:
                # Asked for a revision the hub had not reached yet (a list read straight from etcd, just before
                # a new hub caught up): what the caller has seen already is not sent again.
                batch = [event for event in batch if event.revision > after_revision]
            yield batch

    def _events_from_etcd(self, cursor: Cursor, stop: threading.Event, heartbeat: float) -> Iterator[list[Event]]:
        """A private etcd watch for a client resuming from before the buffer, until it reaches the buffer; rare,
        so simplicity wins.

        A reader thread feeds a queue so that this generator can still wake every `heartbeat` seconds. When etcd
        ends the stream (a member restarting), so does this watch: the client watches again from the last event
        it got, and never waits on a stream that has nothing behind it.
        """
        batches: queue.Queue[list[Event] | Exception | None] = queue.Queue()
        done = threading.Event()  # ends the reader once this watch ends or moves to the buffer

        def read() -> None:
            try:
                for batch in self.etcd.watch(self.prefix, cursor.seen + 1, done):
                    batches.put([to_event(raw, _previous_from_etcd(raw, self.transformer), self.transformer)
                                 for raw in batch])
            except Exception as exc:  # handed to the consumer, which decides what it means
                batches.put(exc)
            else:
                batches.put(None)  # etcd ended the stream

        threading.Thread(target=read, name=f"catch-up watch {self.prefix}", daemon=True).start()
        # The last revision from which etcd was asked whether the gap up to the buffer is empty (`events` asked it
        # before choosing this path).
        proved_to = cursor.seen
        try:
            while not stop.is_set():
                try:
                    item = batches.get(timeout=heartbeat)
                except queue.Empty:
                    item = []
                if isinstance(item, Compacted):
                    raise Expired(f"too old resource version: {cursor.seen} ({item.compact_revision})")
                if item is None or isinstance(item, Exception):
                    return
                if item:
                    cursor.seen = item[-1].revision
                yield item
                with self._cond:
                    until = self._complete_from - 1
                # Caught up with the buffer: by the events themselves, or, once the stream is quiet, by etcd's proof
                # that nothing is left in the gap (asked once per revision reached).
                if cursor.seen < until:
                    if item or proved_to == cursor.seen:
                        continue  # still catching up, or etcd has already said the gap is not empty
                    proved_to = cursor.seen
                    if not self._quiet_between(cursor.seen, until):
                        continue
                    cursor.seen = until
                done.set()  # the buffer holds the rest: follow it, as every other watcher does
                yield from self._events_from_buffer(cursor, stop, heartbeat)
                return
        finally:
            done.set()


def _versions(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each key's resourceVersion: two states with the same are the same."""
    return {key: str((obj.get("metadata") or {}).get("resourceVersion", "")) for key, obj in objects.items()}


def _slice(events: collections.deque[Event], start: int) -> Iterator[Event]:
    for i in range(start, len(events)):
        yield events[i]
