"""How the API server comes to serve custom resources: it watches CustomResourceDefinitions in etcd, accepts
their names, establishes them, serves their resources, and deletes a definition's objects when it is deleted.

Upstream runs these as controllers inside the apiextensions API server (staging/src/k8s.io/
apiextensions-apiserver/pkg/controller/): `status/naming_controller.go` (NamesAccepted: no other definition of
the group uses the names), `establish/establishing_controller.go` (Established), `finalizer/crd_finalizer.go`
(deletes every custom resource, then removes the `customresourcecleanup` finalizer), and the handler
(`pkg/apiserver/customresource_handler.go`) that serves whatever is established. Every API server does all of
this from the same definitions in etcd, so several servers behind one address agree on what they serve; their
status writes are idempotent (a write that changes nothing is skipped).
"""

from __future__ import annotations

import json
import logging
import threading

from kubeling.api import conditions, errors, meta, resources
from kubeling.api.apiextensions.names import CLEANUP_FINALIZER, CustomResourceType, established, resource_types
from kubeling.api.types import Obj
from kubeling.apiserver.registry import Registry
from kubeling.apiserver.strategies.apiextensions.customresource import CustomResourceStrategy
from kubeling.apiserver.watch import Watcher
from kubeling.storage.watch import WatchHub

log = logging.getLogger(__name__)

CRDS = resources.must_lookup("apiextensions.k8s.io", "customresourcedefinitions")
# How often a deleted definition's cleanup looks again at objects that finalizers still hold.
CLEANUP_RETRY_SECONDS = 1.0
NAME_FIELDS = ("plural", "singular", "kind", "listKind")


def names_conflict(crd: Obj, others: list[Obj]) -> tuple[str, str] | None:
    """(reason, message) when another definition of the same group already has one of `crd`'s names
    (upstream: naming_controller.go, calculateNamesAndConditions)."""
    names = crd["spec"]["names"]
    for other in others:
        if other["metadata"]["name"] == crd["metadata"]["name"] or other["spec"].get("group") != crd["spec"]["group"]:
            continue
        accepted = (other.get("status") or {}).get("acceptedNames") or {}
        taken = {accepted.get(field) for field in ("plural", "singular")} | set(accepted.get("shortNames") or [])
        if names.get("plural") in taken:
            return "PluralConflict", f'"{names["plural"]}" is already in use'
        if names.get("singular") in taken:
            return "SingularConflict", f'"{names["singular"]}" is already in use'
        for short in names.get("shortNames") or []:
            if short in taken:
                return "ShortNamesConflict", f'"{short}" is already in use'
        kinds = {accepted.get("kind"), accepted.get("listKind")}
        if names.get("kind") in kinds:
            return "KindConflict", f'"{names["kind"]}" is already in use'
        if names.get("listKind") in kinds:
            return "ListKindConflict", f'"{names["listKind"]}" is already in use'
    return None


def desired_status(crd: Obj, others: list[Obj]) -> Obj:
    """The status the naming and establishing controllers give `crd`."""
    status = meta.deep_copy(crd.get("status") or {})
    found = status.setdefault("conditions", [])
    conflict = names_conflict(crd, others)
    if conflict is None:
        status["acceptedNames"] = {key: value for key, value in crd["spec"]["names"].items()
                                   if key in (*NAME_FIELDS, "shortNames", "categories")}
        conditions.set_condition(found, {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                                         "message": "no conflicts found"})
        conditions.set_condition(found, {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                                         "message": "the initial names have been accepted"})
    else:
        reason, message = conflict
        conditions.set_condition(found, {"type": "NamesAccepted", "status": "False", "reason": reason,
                                         "message": message})
        if not established(crd):
            conditions.set_condition(found, {"type": "Established", "status": "False", "reason": "NotAccepted",
                                             "message": "not all names are accepted"})
    return status


class CustomResources:
    """Keeps what this API server serves in step with the CustomResourceDefinitions in etcd."""

    def __init__(self, registry: Registry, watcher: Watcher) -> None:
        self.registry = registry
        self.watcher = watcher
        self.served: dict[tuple[str, str], list[CustomResourceType]] = {}  # (group, plural) → its CustomResourceTypes
        # CRD name → (what the strategy was made from, the strategy): compiling schemas is not free, so a
        # strategy is made again only when its definition changed.
        self._strategies: dict[str, tuple[str, CustomResourceStrategy]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> None:
        """Serve what is established now, then follow every change of a definition."""
        self.sync()
        hub = self.watcher.hubs.get(CRDS.storage_name)
        if hub is not None:
            threading.Thread(target=self._run, args=(hub,), name="customresources", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self, hub: WatchHub) -> None:
        while not self._stop.is_set():
            try:
                # An empty batch comes every second of quiet: the retry tick of a cleanup that is waiting.
                for batch in hub.events(hub.last_revision, self._stop):
                    if batch or self._cleaning():
                        self.sync()
            except Exception:
                log.exception("following CustomResourceDefinitions failed; starting again")
            self._stop.wait(CLEANUP_RETRY_SECONDS)

    def _cleaning(self) -> bool:
        return any(self._terminating(key) for key in self.served)

    def _terminating(self, key: tuple[str, str]) -> bool:
        strategy = self.registry.strategies.get(key)
        return isinstance(strategy, CustomResourceStrategy) and strategy.terminating

    def sync(self) -> None:
        """One pass over every definition: accept names and establish, clean up deleted ones, serve the rest."""
        with self._lock:
            crds = self.registry.store.list(CRDS, None).items
            changed = []
            for i, crd in enumerate(crds):
                if crd["metadata"].get("deletionTimestamp"):
                    if CLEANUP_FINALIZER in (crd["metadata"].get("finalizers") or []):
                        self._clean_up(crd)
                    continue
                status = desired_status(crd, crds)
                if status != crd.get("status"):
                    crds[i] = {**crd, "status": status}
                    changed.append(crds[i])
            # Serve first, then say so: by the time a client sees Established, the resource answers here.
            self._serve([crd for crd in crds if established(crd)])
            for crd in changed:
                self._write_status(crd, crd["status"])

    def _write_status(self, crd: Obj, status: Obj) -> Obj | None:
        def change(current: Obj) -> Obj:
            current["status"] = status
            return current

        try:
            return self.registry.guaranteed_update(CRDS, None, crd["metadata"]["name"], change)
        except errors.StatusError as exc:
            log.warning("could not update the status of %s: %s", crd["metadata"]["name"], exc.message)
            return None

    def _serve(self, crds: list[Obj]) -> None:
        """Install a strategy and a watch hub per established definition; drop the ones that went."""
        served: dict[tuple[str, str], list[CustomResourceType]] = {}
        for crd in crds:
            types = resource_types(crd)
            if not types:
                continue
            key = (types[0].group, types[0].plural)
            try:
                self.registry.strategies[key] = self._strategy(crd)
            except Exception:  # a definition that validation let through but we cannot serve: the others still are
                log.exception("cannot serve %s", crd["metadata"]["name"])
                continue
            for rtype in types:
                self.watcher.add(rtype)
            served[key] = types
        for key, types in self.served.items():
            if key not in served:
                self.registry.strategies.pop(key, None)
                self._strategies.pop(types[0].crd_name, None)
                self.watcher.remove(types[0])
                log.info("no longer serving %s.%s", key[1], key[0])
        self.served = served
        resources.set_custom([rtype for types in served.values() for rtype in types])

    def _strategy(self, crd: Obj) -> CustomResourceStrategy:
        name = crd["metadata"]["name"]
        made_from = json.dumps([crd["spec"], crd.get("status", {}).get("acceptedNames"),
                                crd["metadata"].get("deletionTimestamp")], sort_keys=True)
        cached = self._strategies.get(name)
        if cached is None or cached[0] != made_from:
            cached = self._strategies[name] = (made_from, CustomResourceStrategy(crd))
        return cached[1]

    def _terminating_condition(self, crd: Obj, reason: str, message: str) -> None:
        """The Terminating condition upstream's finalizer controller keeps while it deletes the objects."""
        status = meta.deep_copy(crd.get("status") or {})
        changed = conditions.set_condition(status.setdefault("conditions", []), {
            "type": "Terminating", "status": "True", "reason": reason, "message": message})
        if changed:
            self._write_status(crd, status)

    def _clean_up(self, crd: Obj) -> None:
        """Delete the definition's objects; once none is left, let the definition go."""
        types = resource_types(crd)
        if types:
            rtype = types[0]
            key = (rtype.group, rtype.plural)
            self.registry.strategies[key] = self._strategy(crd)  # refuses creates from now on
            left = self.registry.store.list(rtype, None).items
            for obj in left:
                if obj["metadata"].get("deletionTimestamp"):
                    continue  # waiting for its own finalizers
                try:
                    self.registry.delete(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"], {})
                except errors.StatusError as exc:
                    if exc.code != 404:
                        log.warning("could not delete %s %s: %s", rtype.kind, obj["metadata"]["name"], exc.message)
            remaining = len(self.registry.store.list(rtype, None).items)
            if remaining:
                # Some are held by their finalizers: say so, and look again on the next tick.
                self._terminating_condition(crd, "InstanceDeletionInProgress",
                                            f"CustomResource deletion is in progress: {remaining} remaining")
                return
        name = crd["metadata"]["name"]
        log.info("the custom resources of %s are gone; removing %s", name, CLEANUP_FINALIZER)

        def release(current: Obj) -> Obj:
            current["metadata"]["finalizers"] = [f for f in current["metadata"].get("finalizers") or []
                                                 if f != CLEANUP_FINALIZER]
            return current

        try:
            self.registry.update_with(CRDS, None, name, release)
        except errors.StatusError as exc:
            if exc.code != 404:
                log.warning("could not release %s: %s", name, exc.message)
