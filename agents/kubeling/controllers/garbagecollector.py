"""The garbage collector: deletes objects whose owners are gone, and carries out Foreground and Orphan deletion.

The ownership graph is not a separate structure: every watched cache is indexed by uid and by owner uid, so
"who owns this" and "who depends on this" are index lookups. A queue key names one object; its sync looks at it
both as a dependent (are its owners all gone?) and as an owner (is it waiting on its dependents, or orphaning
them?). The caches may lag, so an owner missing from them is confirmed gone with a live GET first.
"""

from __future__ import annotations

import contextlib
import logging

from kubeling.api.resources import ResourceType, lookup, lookup_kind
from kubeling.api.types import Obj
from kubeling.client import errors, keys
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.client.informer import Informer
from kubeling.controllers.base import Controller, InformerFactory
from kubeling.controllers.customresources import follow_custom_resources

log = logging.getLogger(__name__)

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
RECHECK_SECONDS = 1.0

# Namespaced types that own or are owned in practice (events are left out: many, and never owners).
WATCHED = [("", "pods"), ("apps", "replicasets"), ("apps", "deployments"), ("apps", "daemonsets"),
           ("apps", "statefulsets"), ("batch", "jobs"), ("batch", "cronjobs"), ("", "configmaps"), ("", "secrets"),
           ("", "services"), ("", "endpoints"), ("", "serviceaccounts"), ("coordination.k8s.io", "leases")]


def uid_index(obj: Obj) -> list[str]:
    return [obj["metadata"].get("uid", "")]


def owner_index(obj: Obj) -> list[str]:
    return [ref.get("uid", "") for ref in obj["metadata"].get("ownerReferences") or []]


def without_owner(obj: Obj, owner_uids: set[str]) -> Obj:
    """A copy of `obj` with its ownerReferences to `owner_uids` removed."""
    refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") not in owner_uids]
    metadata = {**obj["metadata"], "ownerReferences": refs}
    if not refs:
        del metadata["ownerReferences"]
    return {**obj, "metadata": metadata}


def without_finalizer(obj: Obj, finalizer: str) -> Obj:
    metadata = {**obj["metadata"], "finalizers": [f for f in obj["metadata"].get("finalizers") or []
                                                  if f != finalizer]}
    return {**obj, "metadata": metadata}


class GarbageCollector(Controller):
    name = "garbagecollector"
    workers = 4

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.caches: dict[str, tuple[ResourceType, Informer]] = {}
        self.informers = informers
        for group, plural in WATCHED:
            rtype = lookup(group, plural)
            if rtype is not None:
                self._watch(rtype)
        # Custom resources own and are owned as any kind: watch each one as its definition appears.
        follow_custom_resources(informers, self._watch_custom)

    def _watch(self, rtype: ResourceType) -> None:
        informer = self.informers.informer(rtype)
        informer.store.add_indexer("gc-uid", uid_index)
        informer.store.add_indexer("gc-owner", owner_index)
        informer.add_handler(self._on_change, lambda old, new: self._on_change(new), self._on_delete)
        self.caches[rtype.qualified] = (rtype, informer)

    def _watch_custom(self, rtypes: list[ResourceType]) -> None:
        new = [rtype for rtype in rtypes if rtype.qualified not in self.caches]
        for rtype in new:
            self._watch(rtype)
        if new:
            self.informers.start()  # starts only the informers not running yet
        served = {rtype.qualified for rtype in rtypes}
        for qualified, (rtype, _) in list(self.caches.items()):
            if rtype.group and lookup(rtype.group, rtype.plural) is None and qualified not in served:
                del self.caches[qualified]  # its CRD is gone (its objects went first)
                self.informers.forget(rtype)

    # Keys: "<resource>|<object key>", e.g. "replicasets.apps|default/web" or "nodes|worker-1".

    def _key(self, rtype: ResourceType, obj: Obj) -> str:
        return f"{rtype.qualified}|{keys.key_of(obj)}"

    def _rtype_of(self, obj: Obj) -> ResourceType | None:
        return lookup_kind(obj.get("apiVersion", ""), obj.get("kind", ""))

    def _on_change(self, obj: Obj) -> None:
        rtype = self._rtype_of(obj)
        if rtype is None:
            return
        metadata = obj["metadata"]
        if metadata.get("ownerReferences"):
            self.queue.add(self._key(rtype, obj))
            self._enqueue_deleting_owners(obj)
        if metadata.get("deletionTimestamp") and {FOREGROUND, ORPHAN} & set(metadata.get("finalizers") or []):
            self.queue.add(self._key(rtype, obj))

    def _on_delete(self, obj: Obj) -> None:
        # Its dependents may now be orphans (Background), and owners waiting on it (Foreground) may proceed.
        for dependent_type, dependent in self._dependents(obj["metadata"].get("uid", "")):
            self.queue.add(self._key(dependent_type, dependent))
        self._enqueue_deleting_owners(obj)

    def _enqueue_deleting_owners(self, obj: Obj) -> None:
        for ref in obj["metadata"].get("ownerReferences") or []:
            found = self._cached_owner(ref)
            if found is not None and found[1]["metadata"].get("deletionTimestamp"):
                self.queue.add(self._key(*found))

    # The graph, from the caches

    def _cached_owner(self, ref: Obj) -> tuple[ResourceType, Obj] | None:
        rtype = lookup_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rtype is None or rtype.qualified not in self.caches:
            return None
        matches = self.caches[rtype.qualified][1].store.by_index("gc-uid", ref.get("uid", ""))
        return (rtype, matches[0]) if matches else None

    def _dependents(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        found = []
        for rtype, informer in list(self.caches.values()):
            found += [(rtype, obj) for obj in informer.store.by_index("gc-owner", uid)]
        return found

    def _owner_exists(self, ref: Obj, namespace: str) -> bool:
        """Whether the owner named by `ref` exists with that uid: from the cache, else from a live GET."""
        if self._cached_owner(ref) is not None:
            return True
        rtype = lookup_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rtype is None:
            return True  # a kind we cannot look up: never delete on a guess
        try:
            live = self.client.get(rtype, ref.get("name", ""), namespace if rtype.namespaced else None)
        except errors.NotFound:
            return False
        return live["metadata"].get("uid") == ref.get("uid")

    # Sync

    def sync(self, key: str) -> None:
        qualified, _, rest = key.partition("|")
        if qualified not in self.caches:
            return
        rtype, informer = self.caches[qualified]
        obj = informer.store.get(rest)
        if obj is None:
            return
        metadata = obj["metadata"]
        finalizers = metadata.get("finalizers") or []
        if metadata.get("deletionTimestamp") and ORPHAN in finalizers:
            self._orphan_dependents(rtype, obj)
        elif metadata.get("deletionTimestamp") and FOREGROUND in finalizers:
            self._delete_dependents_first(rtype, obj)
        if metadata.get("ownerReferences"):
            self._check_owners(rtype, obj)

    def _check_owners(self, rtype: ResourceType, obj: Obj) -> None:
        """Delete a dependent whose owners are all gone; drop references to the gone ones otherwise."""
        metadata = obj["metadata"]
        if metadata.get("deletionTimestamp"):
            return
        refs = metadata.get("ownerReferences") or []
        gone = {ref.get("uid", "") for ref in refs if not self._owner_exists(ref, metadata.get("namespace", ""))}
        if not gone:
            return
        if len(gone) < len(refs):
            log.info("gc: removing references to deleted owners from %s %s", rtype.kind, metadata["name"])
            self._write(rtype, without_owner(obj, gone))
            return
        policy = "Background"
        if FOREGROUND in (metadata.get("finalizers") or []):
            policy = "Foreground"
        log.info("gc: deleting %s %s/%s: its owners are gone", rtype.kind, metadata.get("namespace"), metadata["name"])
        self._delete(rtype, obj, policy)

    def _delete_dependents_first(self, rtype: ResourceType, owner: Obj) -> None:
        """Foreground: delete the dependents, wait until the blocking ones are gone, then release the owner."""
        uid = owner["metadata"]["uid"]
        blocking = 0
        for dependent_type, dependent in self._dependents(uid):
            refs = [r for r in dependent["metadata"].get("ownerReferences") or [] if r.get("uid") == uid]
            if not dependent["metadata"].get("deletionTimestamp"):
                # A dependent with dependents of its own is deleted in the foreground too, so the chain holds.
                nested = bool(self._dependents(dependent["metadata"].get("uid", "")))
                self._delete(dependent_type, dependent, "Foreground" if nested else "Background")
            if any(r.get("blockOwnerDeletion") for r in refs):
                blocking += 1
        if blocking:
            self.queue.add_after(self._key(rtype, owner), RECHECK_SECONDS)  # also woken by each dependent's delete
            return
        log.info("gc: dependents of %s %s are gone; removing %s", rtype.kind, owner["metadata"]["name"], FOREGROUND)
        self._write(rtype, without_finalizer(owner, FOREGROUND))

    def _orphan_dependents(self, rtype: ResourceType, owner: Obj) -> None:
        """Orphan: remove the owner's references from its dependents, then release the owner."""
        uid = owner["metadata"]["uid"]
        for dependent_type, dependent in self._dependents(uid):
            self._write(dependent_type, without_owner(dependent, {uid}))
        log.info("gc: orphaned the dependents of %s %s; removing %s", rtype.kind, owner["metadata"]["name"], ORPHAN)
        self._write(rtype, without_finalizer(owner, ORPHAN))

    # Writes: stale cache copies fail with Conflict and the key is retried; vanished objects need nothing.

    def _write(self, rtype: ResourceType, obj: Obj) -> None:
        with contextlib.suppress(errors.NotFound):
            self.client.replace(rtype, obj)

    def _delete(self, rtype: ResourceType, obj: Obj, policy: str) -> None:
        metadata = obj["metadata"]
        # NotFound: gone already; Conflict: replaced by a new object of the same name, which is not ours to delete.
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            self.client.delete(rtype, metadata["name"], metadata.get("namespace"), propagation=policy,
                               preconditions={"uid": metadata["uid"]})
