"""Informers: a local, indexed cache of one resource kept current by list-then-watch.

As client-go's: list, replace the cache, watch from the list's resourceVersion; watch again from the last
resourceVersion seen when the stream ends or the connection breaks; relist when the watch says 410 (that history
is gone) or fails otherwise; re-deliver every cached object as an update every `resync_period` seconds, so
level-triggered controllers converge even if they missed something.
"""

from __future__ import annotations

import builtins
import logging
import random
import threading
import time
from collections.abc import Callable

import requests

from kubeling.api.resources import ResourceType
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.keys import key_of

log = logging.getLogger(__name__)

IndexFunc = Callable[[Obj], list[str]]
# How a watch fails when the connection to the API server breaks, or no server answers for a while.
WATCH_BROKEN = (requests.RequestException, errors.Unavailable, OSError)


def namespace_index(obj: Obj) -> list[str]:
    return [obj.get("metadata", {}).get("namespace", "")]


class Store:
    """A thread-safe map of `namespace/name` → object, with secondary indexes. Objects are shared: never mutate."""

    def __init__(self) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {"namespace": namespace_index}
        self._indexes: dict[str, dict[str, set[str]]] = {"namespace": {}}
        self._lock = threading.RLock()

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        with self._lock:
            self._indexers[name] = func
            self._indexes[name] = {}
            for key, obj in self._items.items():
                for value in func(obj):
                    self._indexes[name].setdefault(value, set()).add(key)

    def get(self, key: str) -> Obj | None:
        with self._lock:
            return self._items.get(key)

    def list(self, namespace: str | None = None) -> list[Obj]:
        with self._lock:
            if namespace is None:
                return list(self._items.values())
            return [self._items[k] for k in self._indexes["namespace"].get(namespace, ())]

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:  # `list` here is the method above
        with self._lock:
            return [self._items[k] for k in self._indexes[name].get(value, ())]

    def list_keys(self) -> builtins.list[str]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _put(self, obj: Obj) -> Obj | None:
        key = key_of(obj)
        with self._lock:
            old = self._items.get(key)
            if old is not None:
                self._unindex(key, old)
            self._items[key] = obj
            for name, func in self._indexers.items():
                for value in func(obj):
                    self._indexes[name].setdefault(value, set()).add(key)
            return old

    def _remove(self, obj: Obj) -> Obj | None:
        key = key_of(obj)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._unindex(key, old)
            return old

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            for value in func(obj):
                keys = self._indexes[name].get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._indexes[name][value]


class Handler:
    def __init__(self, on_add: Callable[[Obj], None] | None = None,
                 on_update: Callable[[Obj, Obj], None] | None = None,
                 on_delete: Callable[[Obj], None] | None = None) -> None:
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete


class Informer:
    def __init__(
        self,
        client: Client,
        rtype: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float = 0,
    ) -> None:
        self.client, self.rtype, self.namespace = client, rtype, namespace
        self.label_selector, self.field_selector = label_selector, field_selector
        self.resync_period = resync_period
        self.store = Store()
        self._handlers: list[Handler] = []
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_resource_version = ""

    def add_handler(self, on_add: Callable[[Obj], None] | None = None,
                    on_update: Callable[[Obj, Obj], None] | None = None,
                    on_delete: Callable[[Obj], None] | None = None) -> None:
        """Handlers run on the informer's thread and must be quick: work out a key and enqueue it."""
        handler = Handler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if handler.on_add:
            for obj in self.store.list():
                handler.on_add(obj)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def start(self) -> Informer:
        thread = threading.Thread(target=self._run, name=f"informer {self.rtype.plural}", daemon=True)
        thread.start()
        self._threads.append(thread)
        if self.resync_period:
            resync = threading.Thread(target=self._resync_loop, name=f"resync {self.rtype.plural}", daemon=True)
            resync.start()
            self._threads.append(resync)
        return self

    def stop(self) -> None:
        self._stop.set()

    # The list/watch loop

    def _run(self) -> None:
        backoff = 0.2
        listed = False
        while not self._stop.is_set():
            try:
                if not listed:
                    self._list()
                    listed = True
                self._watch(self.last_resource_version)
                backoff = 0.2
            except errors.Expired:
                log.info("%s: watch expired; relisting", self.rtype.plural)
                listed = False
                continue
            except WATCH_BROKEN as exc:
                # The connection broke (an API server restarting, the address moving to another master). As
                # client-go's reflector: watch again from the last resourceVersion seen; the server replays
                # what happened meanwhile, or answers 410 when that history is gone (then we relist).
                log.info("%s: watch broke (%s); watching again from %s in %.1fs", self.rtype.plural, exc,
                         self.last_resource_version, backoff)
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, 10.0)
            except Exception as exc:  # the loop must survive anything: log, back off, relist
                log.warning("%s informer: %s; retrying in %.1fs", self.rtype.plural, exc, backoff)
                listed = False
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, 10.0)

    def _list(self) -> str:
        result = self.client.list_all(self.rtype, self.namespace, label_selector=self.label_selector,
                                      field_selector=self.field_selector)
        items = result.get("items") or []
        fresh = {key_of(obj): obj for obj in items}
        for key in self.store.list_keys():
            if key not in fresh:
                old = self.store.get(key)
                if old is not None:
                    self.store._remove(old)
                    self._dispatch("DELETED", old, old)
        for obj in items:
            self._apply("MODIFIED", obj)
        self._synced.set()
        self.last_resource_version = result.get("metadata", {}).get("resourceVersion", "")
        return self.last_resource_version

    def _watch(self, resource_version: str) -> None:
        """Watch from `resource_version` until stopped, again each time the server ends a stream normally."""
        while not self._stop.is_set():
            events = self.client.watch(
                self.rtype, self.namespace, resource_version=resource_version,
                label_selector=self.label_selector, field_selector=self.field_selector,
                timeout_seconds=random.randint(60, 120),
            )
            for kind, obj in events:
                if self._stop.is_set():
                    return
                resource_version = obj.get("metadata", {}).get("resourceVersion") or resource_version
                self.last_resource_version = resource_version
                if kind != "BOOKMARK":
                    self._apply(kind, obj)
            # The server closed the stream normally: watch again from where we are.

    def _apply(self, kind: str, obj: Obj) -> None:
        if kind == "DELETED":
            old = self.store._remove(obj)
            self._dispatch("DELETED", old, obj)
            return
        old = self.store._put(obj)
        if old is None:
            self._dispatch("ADDED", None, obj)
        elif old.get("metadata", {}).get("resourceVersion") != obj.get("metadata", {}).get("resourceVersion"):
            self._dispatch("MODIFIED", old, obj)

    def _dispatch(self, kind: str, old: Obj | None, new: Obj) -> None:
        for handler in self._handlers:
            try:
                if kind == "ADDED" and handler.on_add:
                    handler.on_add(new)
                elif kind == "MODIFIED" and handler.on_update:
                    handler.on_update(old or new, new)
                elif kind == "DELETED" and handler.on_delete:
                    handler.on_delete(new)
            except Exception:
                log.exception("%s handler failed on %s", self.rtype.plural, key_of(new))

    def _resync_loop(self) -> None:
        while not self._stop.wait(self.resync_period):
            for obj in self.store.list():
                self._dispatch("MODIFIED", obj, obj)


def wait_for_cache_sync(*informers: Informer, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    return all(inf.wait_for_sync(max(deadline - time.monotonic(), 0)) for inf in informers)
