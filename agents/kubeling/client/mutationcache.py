"""A MutationCache: an informer's store, read through the controller's own recent writes, as client-go's
tools/cache/mutation_cache.go.

An informer learns of a write only when its watch delivers the event, a moment after the API server answered.
A controller that syncs the same object again within that moment would read the cache from before its own write
and act twice (scale a ReplicaSet it has just scaled, write a status it has just written). So the controller
hands each object the API server returns to `mutation(obj)`; reads then return that object instead of the
cached one while it is newer, comparing `metadata.resourceVersion` as integers (as etcd's revisions are).

Entries leave when the informer's store holds the same or a newer version (the first read after that drops
them), and at the latest `ttl` seconds after the write; the cache holds at most `max_entries`, forgetting the
least recently written first. Forgetting an entry is always safe: the controller then reads what the informer
has, and a write based on an old copy fails with 409 Conflict and is retried.

As upstream without `includeAdds`: an object the store does not hold (not yet seen, or deleted) is not returned,
so a write never brings back a deleted object.
"""

from __future__ import annotations

import threading

from cachetools import TTLCache

from kubeling.api.meta import key_of, resource_version_number
from kubeling.api.types import Obj
from kubeling.client.informer import IndexFunc, Store


def newer(candidate: Obj, cached: Obj) -> bool:
    """True if `candidate` is a later version of the object than `cached` (unknown versions are not newer)."""
    candidate_rv, cached_rv = resource_version_number(candidate), resource_version_number(cached)
    return candidate_rv is not None and cached_rv is not None and candidate_rv > cached_rv


class MutationCache:
    """Reads of `store` (get, list, by_index) that see this controller's own writes before the informer does."""

    def __init__(self, store: Store, ttl: float = 60.0, max_entries: int = 1000) -> None:
        self.store = store
        self._mutations: TTLCache[str, Obj] = TTLCache(maxsize=max_entries, ttl=ttl)
        self._lock = threading.Lock()  # TTLCache is not thread-safe; workers share this cache

    def mutation(self, obj: Obj) -> Obj:
        """Remember `obj`, an object the API server has just returned for our write. Returns `obj`."""
        with self._lock:
            self._mutations[key_of(obj)] = obj
        return obj

    def newest(self, obj: Obj) -> Obj:
        """`obj` (a copy read earlier), or our write of that object if it is newer."""
        key = key_of(obj)
        with self._lock:
            written = self._mutations.get(key)
        if written is None:
            return obj
        if newer(written, obj):
            return written
        stored = self.store.get(key)
        if stored is not None and not newer(written, stored):
            with self._lock:  # the informer has caught up with our write: read the store from now on
                if self._mutations.get(key) is written:
                    del self._mutations[key]
        return obj

    def get(self, key: str) -> Obj | None:
        cached = self.store.get(key)
        return None if cached is None else self.newest(cached)

    def by_index(self, name: str, value: str) -> list[Obj]:
        return [self.newest(obj) for obj in self.store.by_index(name, value)]

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        self.store.add_indexer(name, func)

    def list(self, namespace: str | None = None) -> list[Obj]:
        return [self.newest(obj) for obj in self.store.list(namespace)]
