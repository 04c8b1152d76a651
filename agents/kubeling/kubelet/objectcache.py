"""The ConfigMaps and Secrets the kubelet's pods use, read one object at a time (upstream's "Watch" strategy).

A kubelet may not list every Secret in the cluster: the Node authorizer lets it read only the objects its own pods
reference, and only by name. So for each referenced (namespace, name) there is one list+watch with
`fieldSelector=metadata.name=<name>`, started when the first pod on this node refers to the object and stopped
when the last one goes. The watch keeps the cached copy current, so mounted files follow the object's changes.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from kubeling.api.resources import ResourceType
from kubeling.api.types import Obj
from kubeling.client import Client, errors
from kubeling.kubelet.envvars import ConfigError

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
SYNC_TIMEOUT = 5.0


class _ObjectWatch:
    """One object kept current by list+watch by name; `obj` is None while it does not exist."""

    def __init__(self, client: Client, rtype: ResourceType, key: Key, changed: Callable[[Key], None]) -> None:
        self.client, self.rtype, self.key, self.changed = client, rtype, key, changed
        self.obj: Obj | None = None
        self.synced = threading.Event()
        self.stopped = threading.Event()

    def start(self) -> None:
        namespace, name = self.key
        threading.Thread(target=self._run, name=f"watch {self.rtype.plural} {namespace}/{name}", daemon=True).start()

    def _set(self, obj: Obj | None) -> None:
        old_version = (self.obj or {}).get("metadata", {}).get("resourceVersion")
        new_version = (obj or {}).get("metadata", {}).get("resourceVersion")
        self.obj = obj
        if old_version != new_version or not self.synced.is_set():
            self.synced.set()
            self.changed(self.key)

    def _run(self) -> None:
        namespace, name = self.key
        selector = f"metadata.name={name}"
        backoff = 0.2
        while not self.stopped.is_set():
            try:
                listed = self.client.list(self.rtype, namespace, field_selector=selector)
                items = listed.get("items") or []
                self._set(items[0] if items else None)
                version = listed.get("metadata", {}).get("resourceVersion", "")
                backoff = 0.2
                while not self.stopped.is_set():
                    # A short server-side timeout: a stopped watch ends within a minute without being read.
                    for kind, obj in self.client.watch(self.rtype, namespace, resource_version=version,
                                                       field_selector=selector,
                                                       timeout_seconds=random.randint(30, 60)):
                        if self.stopped.is_set():
                            return
                        version = obj.get("metadata", {}).get("resourceVersion") or version
                        if kind != "BOOKMARK":
                            self._set(None if kind == "DELETED" else obj)
            except errors.Expired:
                continue
            except Exception as exc:  # forbidden (the pod is not bound here yet), the server away: retry
                log.warning("watch of %s %s/%s: %s; retrying in %.1fs", self.rtype.plural, namespace, name, exc,
                            backoff)
                if self.stopped.wait(backoff):
                    return
                backoff = min(backoff * 2, 10.0)


class ObjectCache:
    """Referenced objects of one kind, kept by per-object watches that live as long as a pod refers to them."""

    def __init__(self, client: Client, rtype: ResourceType, changed: Callable[[str, str], None]) -> None:
        """`changed(namespace, name)` is called (on a watch thread) whenever an object's copy changes."""
        self.client, self.rtype, self.changed = client, rtype, changed
        self._watches: dict[Key, _ObjectWatch] = {}
        self._users: dict[Key, set[str]] = {}  # object → uids of the pods that refer to it
        self._used: dict[str, set[Key]] = {}  # pod uid → objects it refers to
        self._lock = threading.Lock()

    def set_references(self, uid: str, keys: set[Key]) -> None:
        """Pod `uid` now refers to exactly `keys`: start watches for new objects, stop the ones no pod uses."""
        with self._lock:
            old = self._used.get(uid, set())
            if keys:
                self._used[uid] = set(keys)
            else:
                self._used.pop(uid, None)
            for key in keys - old:
                self._users.setdefault(key, set()).add(uid)
                if key not in self._watches:
                    watch = _ObjectWatch(self.client, self.rtype, key, lambda k: self.changed(*k))
                    self._watches[key] = watch
                    watch.start()
            for key in old - keys:
                users = self._users.get(key, set())
                users.discard(uid)
                if not users:
                    self._users.pop(key, None)
                    stopping = self._watches.pop(key, None)
                    if stopping is not None:
                        stopping.stopped.set()

    def release(self, uid: str) -> None:
        self.set_references(uid, set())

    def watched(self) -> set[Key]:
        with self._lock:
            return set(self._watches)

    def get(self, namespace: str, name: str, timeout: float = SYNC_TIMEOUT) -> Obj | None:
        """The object, or None when it does not exist; raises ConfigError when its watch has not caught up."""
        with self._lock:
            watch = self._watches.get((namespace, name))
        if watch is None:  # not referenced by any pod we know of (yet): read it directly
            try:
                return self.client.get(self.rtype, name, namespace)
            except errors.NotFound:
                return None
            except errors.ApiError as exc:
                raise ConfigError(f"failed to get {self.rtype.kind.lower()} {namespace}/{name}: {exc.message}") \
                    from exc
        if not watch.synced.wait(timeout):
            raise ConfigError(f"failed to sync {self.rtype.kind.lower()} cache: timed out waiting for the condition")
        return watch.obj
