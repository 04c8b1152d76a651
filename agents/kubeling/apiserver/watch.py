"""Watch streams: newline-delimited JSON events over a chunked response, served from the watch hubs."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubeling.api import errors, printers
from kubeling.api.resources import RESOURCES, ResourceType
from kubeling.fastpath import fastjson
from kubeling.storage.store import Store
from kubeling.storage.watch import Cursor, Event, Expired, WatchHub

# Upstream holds a watch without timeoutSeconds for 30-60 minutes; kubectl get -w never reconnects, so keep it long.
DEFAULT_TIMEOUT = 1800
BOOKMARK_INTERVAL = 10.0
# How long the watch streams of a resource that is no longer served stay open, to pass on their last events.
REMOVE_GRACE_SECONDS = 1.0


@dataclasses.dataclass
class WatchOptions:
    resource_version: str = ""
    timeout_seconds: int = 0
    bookmarks: bool = False
    table_version: str | None = None
    include_object: str = "Metadata"
    # How objects become Table rows when table_version is set: the resource strategy's `table`.
    table: Callable[..., dict[str, Any]] | None = None
    # How stored objects are shown in the requested version (Strategy.reader), when not as stored.
    shown: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Says whether the client has hung up; checked once a second, so a watch nobody reads ends promptly.
    gone: Callable[[], bool] | None = None
    # For a view of another resource's objects (apiserver/views.py): how it shows a stored object.
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None


class Watcher:
    """Owns one hub per resource type and turns hub events into API watch streams."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.hubs: dict[str, WatchHub] = {}

    def start(self) -> None:
        revision = self.store.etcd.revision()
        for rtype in RESOURCES:
            if not rtype.stored:
                continue  # nothing stored, or stored as another resource (whose hub it shares)
            hub = WatchHub(self.store.etcd, self.store.resource_prefix(rtype),
                           transformer=self.store.transformer(rtype))
            hub.start(revision)
            self.hubs[rtype.storage_name] = hub

    def add(self, rtype: ResourceType) -> None:
        """Start watching a resource that appeared at run time (a custom resource), unless watched already."""
        if rtype.storage_name in self.hubs:
            return
        hub = WatchHub(self.store.etcd, self.store.resource_prefix(rtype), transformer=self.store.transformer(rtype))
        hub.start(self.store.etcd.revision())
        self.hubs[rtype.storage_name] = hub

    def remove(self, rtype: ResourceType) -> None:
        """Stop watching a resource that is no longer served: no new watch starts, and the open streams end once
        they had a moment to pass on the last events (the deletions of its objects)."""
        hub = self.hubs.pop(rtype.storage_name, None)
        if hub is not None:
            threading.Timer(REMOVE_GRACE_SECONDS, hub.stop).start()

    def cached(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        hub = self.hubs.get(rtype.storage_name)
        return hub.cached(self.store.key(rtype, namespace, name)) if hub else None

    def stop(self) -> None:
        for hub in self.hubs.values():
            hub.stop()

    def stream(
        self,
        rtype: ResourceType,
        namespace: str | None,
        predicate: Callable[[dict[str, Any]], bool] | None,
        options: WatchOptions,
    ) -> Iterator[bytes]:
        """Yield encoded watch lines. The first `next()` raises StatusError(410) if the version is too old."""
        hub = self.hubs.get(rtype.storage_name)
        if hub is None:
            raise errors.StatusError(404, "the server could not find the requested resource", "NotFound")
        prefix = self.store.resource_prefix(rtype, namespace)
        encode = _encoder(rtype, options)
        try:
            after = int(options.resource_version or 0)
        except ValueError as exc:
            raise errors.bad_request(f"invalid resourceVersion: {options.resource_version!r}") from exc
        initial: list[dict[str, Any]] = []
        if after == 0:
            # No version given: the current state as synthetic ADDED events, then changes after it.
            result = self.store.list(rtype, namespace, predicate=predicate)
            initial, after = result.items, result.revision
        stop = threading.Event()
        events = hub.events(after, stop)
        return self._lines(events, stop, initial, prefix, predicate, encode, options, after)

    def _lines(
        self,
        events: Cursor,
        stop: threading.Event,
        initial: list[dict[str, Any]],
        prefix: str,
        predicate: Callable[[dict[str, Any]], bool] | None,
        encode: Callable[[str, dict[str, Any]], bytes],
        options: WatchOptions,
        after: int,
    ) -> Iterator[bytes]:
        deadline = time.monotonic() + (options.timeout_seconds or DEFAULT_TIMEOUT)
        # Plain JSON lines are the same for every watcher of an event through the same API (a view's differ),
        # unless objects are shown in another version than stored (a custom resource's other versions).
        shared = not options.table_version and options.shown is None
        line_key = "" if options.convert is None else " " + options.convert.__module__ + options.convert.__name__
        next_bookmark = time.monotonic() + BOOKMARK_INTERVAL
        try:
            try:
                first = next(events)
            except Expired as exc:
                raise errors.StatusError(410, f"too old resource version: {after} ({exc})", "Expired") from exc
            yield b""  # the caller's probe: the watch is valid and the response can start
            # Each batch goes out as one chunk: one write (and one wake-up of the client) for many events.
            if initial:
                if options.shown is not None:
                    initial = [options.shown(obj) for obj in initial]
                yield b"".join(encode("ADDED", obj) for obj in initial)
            batch: list[Event] | None = first
            while batch is not None:
                lines = []
                for event in batch:
                    line = _filtered(event, prefix, predicate)
                    if line is None:
                        continue
                    kind, obj = line
                    if options.shown is not None:
                        obj = options.shown(obj)
                    if shared:
                        encoded = event.lines.get(kind + line_key)
                        if encoded is None:
                            encoded = event.lines[kind + line_key] = encode(kind, obj)
                        lines.append(encoded)
                    else:
                        lines.append(encode(kind, obj))
                if lines:
                    yield b"".join(lines)
                now = time.monotonic()
                if now >= deadline or (options.gone is not None and options.gone()):
                    return
                if options.bookmarks and now >= next_bookmark:
                    next_bookmark = now + BOOKMARK_INTERVAL
                    # Only as far as this watcher has been sent everything (a client resumes from here).
                    yield encode("BOOKMARK", {"kind": "", "apiVersion": "",
                                              "metadata": {"resourceVersion": str(events.seen)}})
                try:
                    batch = next(events)
                except StopIteration:
                    return
                except Expired as exc:
                    status = errors.StatusError(410, f"too old resource version: {after} ({exc})", "Expired")
                    yield _line("ERROR", status.to_status())
                    return
        finally:
            stop.set()


def _filtered(
    event: Event, prefix: str, predicate: Callable[[dict[str, Any]], bool] | None
) -> tuple[str, dict[str, Any]] | None:
    """Apply namespace and selectors; an object moving in or out of the selection is ADDED or DELETED to it."""
    if not event.key.startswith(prefix):
        return None
    if predicate is None:
        return event.type, event.object
    if event.type == "DELETED":
        return (event.type, event.object) if predicate(event.object) else None
    now_in = predicate(event.object)
    was_in = event.previous is not None and predicate(event.previous)
    if now_in and was_in:
        return "MODIFIED", event.object
    if now_in:
        return "ADDED", event.object
    if was_in:
        return "DELETED", event.object
    return None


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return fastjson.dumps({"type": kind, "object": obj}) + b"\n"


def _encoder(rtype: ResourceType, options: WatchOptions) -> Callable[[str, dict[str, Any]], bytes]:
    convert = options.convert
    if not options.table_version:

        def plain(kind: str, obj: dict[str, Any]) -> bytes:
            if kind == "BOOKMARK":
                # client-go decodes every event object, and refuses one without a kind.
                obj = {**obj, "kind": rtype.kind, "apiVersion": rtype.api_version}
            elif convert is not None and kind != "ERROR":
                obj = convert(obj)
            return _line(kind, obj)

        return plain
    api_version = f"meta.k8s.io/{options.table_version}"
    to_table = options.table or (lambda objects, **kw: printers.to_table(rtype, objects, **kw))

    def as_table(kind: str, obj: dict[str, Any]) -> bytes:
        if kind in ("BOOKMARK", "ERROR"):
            return _line(kind, obj)
        if convert is not None:
            obj = convert(obj)
        table = to_table([obj], include_object=options.include_object,
                         resource_version=obj["metadata"].get("resourceVersion", ""))
        table["apiVersion"] = api_version
        return _line(kind, table)

    return as_table
