"""The watch hub's promise: a watch from a revision gets the events after it, exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from kubeling.storage.etcd import WatchEvent
from kubeling.storage.memory import MemoryEtcd
from kubeling.storage.watch import WatchHub

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
