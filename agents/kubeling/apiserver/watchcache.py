"""Lists served from the watch cache, as upstream's cacher serves them
(staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go: GetList, shouldDelegateList, and the consistent reads
from cache of KEP-2340).

Every resource already has a watch hub (storage/watch.py) holding the latest state of each of its objects, fed by
the one etcd watch the API server keeps per resource. A list can be answered from that memory instead of a range
read from etcd, which saves etcd's work and the decoding of every object:

- `resourceVersion=0`: any recent state will do (what informers ask on start): the cache as it is.
- `resourceVersion=N` (not older than N): the cache once it has seen N.
- no resourceVersion (a consistent list, what kubectl asks): the cache, once it is proved to hold what etcd holds
  now. One small etcd request returns the number of keys under the prefix and the newest change among them; when
  the cache has as many objects and has seen that change, nothing under the prefix can differ (a newer create or
  update would show as a newer change, a newer delete as a smaller count). The list then carries etcd's revision.
- `resourceVersionMatch=Exact`, a `continue` token, or a cache that does not catch up within 3 s: etcd, as before.

A first page served from the cache ends with a continue token at the cache's revision; the next pages are read
from etcd at that revision, the same state. `--watch-cache=false` sends every list to etcd.
"""

from __future__ import annotations

import collections
import threading
import time

from kubeling.api.resources import ResourceType
from kubeling.api.types import Obj
from kubeling.apiserver.watch import Watcher
from kubeling.storage.etcd import prefix_end
from kubeling.storage.store import ListResult, Predicate, Store
from kubeling.storage.watch import WatchHub

CATCH_UP_SECONDS = 3.0  # upstream waits up to 3 s for the cache to reach a requested revision


class ListCache:
    def __init__(self, watcher: Watcher, store: Store, enabled: bool = True) -> None:
        self.watcher, self.store, self.enabled = watcher, store, enabled
        # (resource, where the list came from: "cache", or why etcd served it) → lists, for /metrics.
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._lock = threading.Lock()

    def list(self, rtype: ResourceType, namespace: str | None, *, predicate: Predicate | None, limit: int,
             continue_token: str, resource_version: str, match: str) -> ListResult | None:
        """The list from memory, or None when it must come from etcd."""
        result, source = self._from_cache(rtype, namespace, predicate, limit, continue_token, resource_version,
                                          match)
        with self._lock:
            self.counts[(rtype.qualified, source)] += 1
        return result

    def _from_cache(self, rtype: ResourceType, namespace: str | None, predicate: Predicate | None, limit: int,
                    continue_token: str, resource_version: str, match: str) -> tuple[ListResult | None, str]:
        hub = self.watcher.hubs.get(rtype.storage_name)
        if not self.enabled or hub is None:
            return None, "no cache"
        if continue_token:
            return None, "continue"
        if match == "Exact":
            return None, "exact"
        prefix = self.store.resource_prefix(rtype, namespace)
        if resource_version == "0":
            revision, objects = hub.snapshot(prefix)
        else:
            found = self._current(hub, prefix, int(resource_version or 0))  # digits: checked by the handler
            if found is None:
                return None, "behind"
            revision, objects = found
        return self._page(rtype, objects, revision, prefix, predicate, limit), "cache"

    def _current(self, hub: WatchHub, prefix: str, wanted: int) -> tuple[int, list[Obj]] | None:
        """A snapshot at least as new as `wanted` (0: as new as etcd now), or None after CATCH_UP_SECONDS."""
        revision, objects = hub.snapshot(prefix)
        if wanted and revision >= wanted:
            return revision, objects
        newest_kvs, etcd_revision, count, _ = self.store.etcd.range(prefix, prefix_end(prefix), limit=1,
                                                                     keys_only=True, newest_first=True)
        newest = newest_kvs[0].mod_revision if newest_kvs else 0
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while True:
            if revision >= newest and len(objects) == count:
                return max(revision, etcd_revision), objects
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not hub.wait_for(revision + 1, remaining):
                return None
            revision, objects = hub.snapshot(prefix)

    def _page(self, rtype: ResourceType, objects: list[Obj], revision: int, prefix: str,
              predicate: Predicate | None, limit: int) -> ListResult:
        if predicate is not None:
            objects = [obj for obj in objects if predicate(obj)]
        if not limit or len(objects) <= limit:
            return ListResult(objects, revision)
        page = objects[:limit]
        key = self.store.object_key(rtype, page[-1])
        token = Store.make_continue(revision, key + "\0", prefix)
        remaining = len(objects) - limit if predicate is None else None
        return ListResult(page, revision, token, remaining)
