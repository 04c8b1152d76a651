"""The watch hub's promise: a watch from a revision gets the events after it, exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kubeling.storage.etcd import EtcdError, WatchEvent
from kubeling.storage.memory import MemoryEtcd
from kubeling.storage.watch import Cursor, Event, Expired, WatchHub

OBJECT = b'{"metadata": {}}'


class LateEtcd(MemoryEtcd):
    """An etcd whose watches start delivering only once `release` is set: a hub that has not caught up yet."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def watch(self, *args: Any, **kwargs: Any) -> Iterator[list[WatchEvent]]:
        self.release.wait(10)
        yield from super().watch(*args, **kwargs)


def test_a_watch_from_a_revision_the_hub_has_not_reached_gets_only_what_came_after_it():
    etcd = LateEtcd()
    hub = WatchHub(etcd, "/registry/widgets/")
    hub.start(etcd.revision())
    stop = threading.Event()
    try:
        # A list read from etcd sees `a` at this revision; the watch that follows it asks for what came after.
        listed_at = etcd.put("/registry/widgets/a", OBJECT)
        events = hub.events(listed_at, stop)
        assert next(events) == []
        etcd.put("/registry/widgets/b", OBJECT)
        etcd.release.set()  # now the hub hears of `a` (already listed) and `b`
        seen: list[str] = []
        for _ in range(50):  # bounded: a batch, or an empty one, comes at least every heartbeat
            seen += [event.key for event in next(events)]
            if "/registry/widgets/b" in seen:
                break
        assert seen == ["/registry/widgets/b"]
    finally:
        stop.set()
        hub.stop()


class FlakyEtcd(MemoryEtcd):
    """An etcd that can go away: `cut()` ends every open watch with an error and refuses new ones until `up()`;
    `refused_reads` answers that many `revision()` calls with an error (etcd still starting)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()
        self.refused_reads = 0
        self.cleanly = False
        self._cut = threading.Event()

    def cut(self, cleanly: bool = False) -> None:
        """End every open watch: with an error (a connection reset), or `cleanly`, as a member that shuts down
        ends its streams, and stay away until `up()`."""
        self.down.set()
        self.cleanly = cleanly
        self._cut.set()
        self._cut = threading.Event()

    def up(self) -> None:
        self.down.clear()

    def revision(self) -> int:
        if self.refused_reads:
            self.refused_reads -= 1
            raise EtcdError("etcd is starting")
        return super().revision()

    def watch(self, prefix: str, start_revision: int, stop: threading.Event | None = None,
              prev_kv: bool = True) -> Iterator[list[WatchEvent]]:
        if self.down.is_set():
            raise EtcdError("connection refused")
        cut = self._cut

        class Either:
            def is_set(self) -> bool:
                return cut.is_set() or (stop is not None and stop.is_set())

        yield from super().watch(prefix, start_revision, Either(), prev_kv)  # type: ignore[arg-type]
        if cut.is_set() and not self.cleanly:
            raise EtcdError("connection reset by peer")


def _compacted_while_away(etcd: FlakyEtcd, while_away: Callable[[], None]) -> int:
    """The hub's etcd goes away; meanwhile other resources change and the history is compacted past the hub's last
    revision; etcd comes back refusing the first read. Returns the revision etcd came back at."""
    etcd.cut()
    while_away()
    for index in range(3):
        etcd.put(f"/registry/gadgets/{index}", OBJECT)
    revision = etcd.revision()
    etcd.compact(revision)
    etcd.refused_reads = 1
    etcd.up()
    return revision


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyEtcd, WatchHub, threading.Event]]:
    """A hub on /registry/widgets/ (holding `a`) over a FlakyEtcd, and the stop event of its watchers."""
    etcd = FlakyEtcd()
    etcd.put("/registry/widgets/a", OBJECT)
    hub = WatchHub(etcd, "/registry/widgets/")
    hub.start(etcd.revision())
    stop = threading.Event()
    yield etcd, hub, stop
    stop.set()
    hub.stop()


def _watch(hub: WatchHub, stop: threading.Event) -> Iterator[list[Event]]:
    """A watcher from the hub's revision, past its first (empty) batch."""
    events = hub.events(hub.last_revision, stop, heartbeat=0.1)
    assert next(events) == []
    return events


def _first_keys(events: Iterator[list[Event]] | Cursor) -> list[str]:
    """The keys of the first batch that is not a heartbeat (bounded: a batch comes every 0.1 s)."""
    for _ in range(200):
        if batch := next(events):
            return [event.key for event in batch]
    return []


def test_a_quiet_hub_whose_history_was_compacted_while_etcd_was_away_goes_on_serving_its_watchers(flaky):
    etcd, hub, stop = flaky
    events = _watch(hub, stop)
    assert hub.wait_for(_compacted_while_away(etcd, lambda: None), timeout=10)
    # The hub, back, must hear of `b`: its watchers are not left with heartbeats from a hub that stopped listening.
    etcd.put("/registry/widgets/b", OBJECT)
    assert _first_keys(events) == ["/registry/widgets/b"]


def test_a_hub_that_missed_changes_while_compacted_away_expires_its_watchers(flaky):
    etcd, hub, stop = flaky
    events = _watch(hub, stop)
    _compacted_while_away(etcd, lambda: etcd.put("/registry/widgets/a", b'{"metadata": {"labels": {}}}'))
    with pytest.raises(Expired):
        for _ in range(200):
            assert next(events) == []
    # A watch opened now starts from what the hub read again, and sees what comes next.
    fresh = _watch(hub, stop)
    etcd.put("/registry/widgets/c", OBJECT)
    assert _first_keys(fresh) == ["/registry/widgets/c"]


def test_a_quiet_hub_started_over_after_a_compaction_still_serves_watchers_resuming_from_before(flaky):
    etcd, hub, stop = flaky
    before = hub.last_revision
    assert hub.wait_for(_compacted_while_away(etcd, lambda: None), timeout=10)
    # Nothing under the prefix changed: a client resuming from before is served from memory, not sent to etcd's
    # compacted history (which would answer 410 and make it list again).
    events = hub.events(before, stop, heartbeat=0.1)
    assert next(events) == []
    etcd.put("/registry/widgets/b", OBJECT)
    assert _first_keys(events) == ["/registry/widgets/b"]


def _behind_the_buffer(etcd: Any) -> tuple[WatchHub, int]:
    """A hub on /registry/widgets/ started after `a`, a change to `gap` and an unrelated write, and the revision of
    `a`: a client resuming from it is behind the hub's buffer, and has `gap` to catch up on."""
    listed_at = etcd.put("/registry/widgets/a", OBJECT)
    etcd.put("/registry/widgets/gap", OBJECT)
    etcd.put("/registry/gadgets/x", OBJECT)
    hub = WatchHub(etcd, "/registry/widgets/")
    hub.start(etcd.revision())
    return hub, listed_at


def _catch_up_watches(since: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in set(threading.enumerate()) - since if t.name.startswith("catch-up watch")]


def _until_no_catch_up_watch(events: Cursor, since: set[threading.Thread]) -> None:
    """Read heartbeats from `events` until its catch-up watch has ended (bounded)."""
    for _ in range(100):
        if not _catch_up_watches(since):
            return
        assert next(events) == []
        time.sleep(0.02)
    raise AssertionError("the catch-up watch still runs")


def test_a_watch_from_before_the_buffer_bookmarks_only_what_it_was_sent():
    etcd = LateEtcd()  # the private etcd watch delivers nothing until released
    hub, resumed_from = _behind_the_buffer(etcd)
    stop = threading.Event()
    try:
        events = hub.events(resumed_from, stop, heartbeat=0.05)
        assert [next(events) for _ in range(3)] == [[], [], []]
        # The hub has heard of a later revision, but this watcher has not been sent `gap` yet: a bookmark at the
        # hub's revision would make a client that reconnects skip it.
        assert hub.last_revision > resumed_from and events.seen == resumed_from
    finally:
        stop.set()
        etcd.release.set()
        hub.stop()


def test_a_watch_from_before_the_buffer_moves_to_the_buffer_once_it_catches_up():
    etcd = MemoryEtcd()
    hub, resumed_from = _behind_the_buffer(etcd)
    stop = threading.Event()
    try:
        before = set(threading.enumerate())
        events = hub.events(resumed_from, stop, heartbeat=0.05)
        assert _first_keys(events) == ["/registry/widgets/gap"]  # from etcd's history
        _until_no_catch_up_watch(events, before)  # nothing else to catch up on (etcd proves it): the buffer serves it
        written = etcd.put("/registry/widgets/b", OBJECT)
        assert _first_keys(events) == ["/registry/widgets/b"]
        assert events.seen >= written
    finally:
        stop.set()
        hub.stop()


def test_a_watch_from_before_the_buffer_with_nothing_to_catch_up_on_is_served_from_the_buffer():
    etcd = MemoryEtcd()
    resumed_from = etcd.put("/registry/widgets/a", OBJECT)
    etcd.put("/registry/gadgets/x", OBJECT)  # only other resources changed since
    hub = WatchHub(etcd, "/registry/widgets/")
    hub.start(etcd.revision())
    stop = threading.Event()
    try:
        before = set(threading.enumerate())
        events = hub.events(resumed_from, stop, heartbeat=0.05)
        assert next(events) == []
        assert not _catch_up_watches(before)
        assert events.seen == hub.last_revision  # a bookmark may move the client on: it missed nothing
        etcd.put("/registry/widgets/b", OBJECT)
        assert _first_keys(events) == ["/registry/widgets/b"]
    finally:
        stop.set()
        hub.stop()


class BlindFlakyEtcd(FlakyEtcd):
    """A FlakyEtcd that, once `blind` is set, cannot read the past (as when etcd is busy or away)."""

    def __init__(self) -> None:
        super().__init__()
        self.blind = False

    def range(self, *args: Any, **kwargs: Any) -> Any:
        if self.blind and kwargs.get("revision"):
            raise EtcdError("etcd is away")
        return super().range(*args, **kwargs)


def test_a_watch_from_before_the_buffer_ends_when_etcd_ends_its_stream():
    etcd = BlindFlakyEtcd()
    hub, resumed_from = _behind_the_buffer(etcd)
    etcd.blind = True  # no proof that the watcher has caught up: it stays on its etcd watch
    stop = threading.Event()
    try:
        events = hub.events(resumed_from, stop, heartbeat=0.05)
        assert _first_keys(events) == ["/registry/widgets/gap"]
        etcd.cut(cleanly=True)  # a member restarting closes its streams
        # The watch ends (the client watches again from what it got) instead of sending heartbeats for ever
        # from a stream that has nothing behind it any more.
        with pytest.raises(StopIteration):
            for _ in range(200):
                assert next(events) == []
    finally:
        stop.set()
        hub.stop()
