"""The verbs of the API (create, get, list, update, patch, delete) for every resource, on top of the store.

This is where upstream's generic registry logic lives: server-set metadata, defaulting, validation, the split
between an object and its status, optimistic concurrency, finalizers and graceful deletion, dry runs
(upstream's `staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go`). What a kind does differently
is its strategy's (`strategies/`): this module asks the resource's strategy and never names a kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubeling.api import errors, fieldmanager, meta, validation
from kubeling.api.fieldmanager import Writer
from kubeling.api.patch import APPLY_PATCH, apply_patch, media_type, parse_apply_body
from kubeling.api.resources import ResourceType
from kubeling.api.types import Obj
from kubeling.apiserver.strategies import Strategies, Strategy
from kubeling.apiserver.strategies.base import NO_CLAIMS
from kubeling.apiserver.strategies.core.namespace import check_open as namespace_check_open
from kubeling.storage.store import KeyTaken, ListResult, Predicate, Store, is_stale

# Server-owned metadata: whatever a client sends for these is replaced.
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                 "generation", "selfLink")
# How often a patch is re-applied to a fresh copy after losing a race. Upstream retries without limit; with N
# clients patching one object at once, the last one may lose N-1 times, so this must be well above the
# concurrency anyone uses (tests/e2e/test_concurrency.py runs 32).
PATCH_ATTEMPTS = 64


class Registry:
    def __init__(self, store: Store, strategies: Strategies) -> None:
        """`strategies`: every served resource's strategy (`strategies.build`)."""
        self.store = store
        self.strategies = strategies
        # The watch cache's latest copy of an object, if any: read-modify-write tries it first and reads etcd
        # only after a Conflict, saving a round trip on the hot paths (binding, status patches).
        self.cached: Callable[[ResourceType, str | None, str], Obj | None] = lambda rtype, namespace, name: None
        # Validating admission: checks that run on every create after validation and may refuse it (upstream's
        # validating admission plugins, here the ResourceQuota plugin); each is `admit(rtype, obj, dry_run)`.
        self.admission: list[Callable[[ResourceType, Obj, bool], None]] = []

    def strategy(self, rtype: ResourceType) -> Strategy:
        """The per-kind behaviour of `rtype` (the default one for a type the server was not built with)."""
        found = self.strategies.get((rtype.group, rtype.plural))
        return found if found is not None else Strategy(rtype)

    def _latest(self, rtype: ResourceType, namespace: str | None, name: str, attempt: int) -> Obj | None:
        if attempt == 0:
            cached = self.cached(rtype, namespace, name)
            if cached is not None:
                return meta.deep_copy(cached)
        return self.store.try_get(rtype, namespace, name)

    # Reads

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        return self.store.get(rtype, namespace, name)

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None,
        *,
        predicate: Predicate | None = None,
        limit: int = 0,
        continue_token: str = "",
        revision: int = 0,
    ) -> ListResult:
        return self.store.list(rtype, namespace, limit=limit, continue_token=continue_token, predicate=predicate,
                               revision=revision)

    # Create

    def create(self, rtype: ResourceType, namespace: str | None, body: Obj, *, dry_run: bool = False,
               owned: bool = False, writer: Writer | None = None) -> Obj:
        """Create from `body`; `owned` says the caller hands `body` over (a freshly parsed request), so it is
        changed in place instead of copied first. `writer`: the client's field manager, who then owns every field
        (in-process writers pass none and leave managedFields as they are)."""
        asked = body.get("metadata") if isinstance(body, dict) and isinstance(body.get("metadata"), dict) else {}
        asked_name = str(asked.get("name") or asked.get("generateName") or "")
        strategy = self.strategy(rtype)
        obj = self._check_body(rtype, namespace, body, copy=not owned)
        metadata = obj["metadata"]
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = meta.generate_name(str(metadata["generateName"]))
        if not metadata.get("name"):
            raise errors.invalid(rtype.kind, rtype.group, "", [errors.cause(
                "metadata.name", "Required value: name or generateName is required", "FieldValueRequired")])
        self._check_path_name(rtype, metadata["name"])
        if rtype.namespaced:
            namespace_check_open(self, namespace or "")
        for field in SERVER_FIELDS:
            metadata.pop(field, None)
        metadata["uid"] = meta.new_uid()
        metadata["creationTimestamp"] = meta.now()
        strategy.prepare_for_create(obj, asked_name)
        if writer is not None:
            fieldmanager.update(rtype, None, obj, writer)
        _refuse(rtype, obj, strategy.validate(obj), typed=strategy.typed)
        for admit in self.admission:
            admit(rtype, obj, dry_run)
        if dry_run:
            return obj
        # Allocation fills in the object (a Service's clusterIP and nodePorts): a retry starts again from what the
        # client asked for, or the values picked last time would count as asked for, and be refused as taken.
        asked = meta.deep_copy(obj) if strategy.allocates else obj
        for _ in range(8):
            claims = strategy.allocate(obj, None)
            try:
                return self.store.create(rtype, obj, also_create=claims[0])
            except KeyTaken:  # another object took a key we allocated a moment ago: pick again
                obj = meta.deep_copy(asked)
        raise errors.StatusError(500, "could not allocate a cluster IP or node port; try again")

    def _check_body(self, rtype: ResourceType, namespace: str | None, body: Any, *, copy: bool = True) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of a {rtype.kind} must be a JSON object")
        obj = meta.deep_copy(body) if copy else body
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if kind not in (None, "", rtype.kind):
            raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rtype.kind})")
        if api_version not in (None, "", rtype.api_version):
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rtype.api_version})"
            )
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be a JSON object")
        if rtype.namespaced:
            if metadata.get("namespace") and metadata["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        return obj

    def _check_path_name(self, rtype: ResourceType, name: str) -> None:
        problems = validation.validate_name(rtype, name)
        if problems:
            raise errors.invalid(rtype.kind, rtype.group, name, [
                errors.cause("metadata.name", f'Invalid value: "{name}": {p}') for p in problems])

    # Update

    def update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        *,
        subresource: str = "",
        dry_run: bool = False,
        writer: Writer | None = None,
    ) -> Obj:
        """PUT: replace the object (or its status) as sent; a stale resourceVersion is a Conflict."""
        new = self._check_body(rtype, namespace, body)
        if new["metadata"].get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({new['metadata']['name']}) does not match the name on the URL ({name})"
            )
        new["metadata"]["name"] = name
        sent_rv = new["metadata"].get("resourceVersion")
        current = self.store.get(rtype, namespace, name)
        if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, name)
        return self._write(rtype, current, new, subresource=subresource, dry_run=dry_run, conditional=bool(sent_rv),
                           writer=writer)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: bytes,
        *,
        subresource: str = "",
        dry_run: bool = False,
        check_fields: Callable[[Obj], None] | None = None,
        writer: Writer | None = None,
        force: bool = False,
    ) -> tuple[Obj, bool]:
        """PATCH: apply the patch to the live object; server-side apply may create. Returns (object, created).
        `check_fields` sees the patched object once, before anything is written (the unknown-field check). A
        server-side apply by a `writer` merges by field ownership (`api/fieldmanager`), `force` taking the fields
        other managers own; without a writer it is a plain merge."""
        explicit = _patch_names_rv(body)
        applying = media_type(content_type) == APPLY_PATCH
        for attempt in range(PATCH_ATTEMPTS):
            # A patch that names a resourceVersion must be checked against etcd itself, never a cached copy.
            from_cache = not explicit and attempt == 0
            current = self._latest(rtype, namespace, name, 1 if explicit else attempt)
            if current is None:
                if applying and not subresource:
                    manifest = parse_apply_body(body)
                    if manifest.get("metadata", {}).get("name") not in (None, name):
                        raise errors.bad_request("the name in the manifest does not match the name on the URL")
                    manifest.setdefault("metadata", {})["name"] = name
                    if writer is not None:
                        manifest = fieldmanager.apply(rtype, None, manifest, writer, force=force)
                    try:
                        return self.create(rtype, namespace, manifest, dry_run=dry_run), True
                    except errors.StatusError as exc:
                        if exc.reason == "AlreadyExists":
                            continue  # created meanwhile: patch it instead
                        raise
                raise errors.not_found(rtype.plural, rtype.group, name)
            if applying and writer is not None:
                patched = fieldmanager.apply(rtype, current, parse_apply_body(body), writer, force=force)
            else:
                patched = apply_patch(content_type, current, body, rtype.kind)
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch did not produce a JSON object")
            if patched.get("apiVersion") == current.get("apiVersion"):
                # The stored version, untouched by the patch: a custom resource patched through another of its
                # served versions is that version now (conversion None changes nothing else).
                patched["apiVersion"] = rtype.api_version
            if check_fields is not None and attempt == 0:
                check_fields(patched)
            # A patch's result is a fresh object, except an apply's, which shares what it left alone with `current`.
            new = self._check_body(rtype, namespace, patched, copy=applying)
            new["metadata"]["name"] = name
            sent_rv = new["metadata"].get("resourceVersion")
            # A patch that names a resourceVersion is a precondition; one that does not retries on conflict.
            conditional = sent_rv not in (None, current["metadata"]["resourceVersion"])
            if conditional:
                raise errors.conflict(rtype.plural, rtype.group, name)
            try:
                return self._write(rtype, current, new, subresource=subresource, dry_run=dry_run,
                                   conditional=explicit, current_may_be_stale=from_cache,
                                   writer=None if applying else writer, applied=applying and writer is not None), False
            except errors.StatusError as exc:
                if exc.reason != "Conflict" or explicit:
                    raise
        raise errors.conflict(rtype.plural, rtype.group, name, "too many concurrent updates; try again")

    def update_with(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        mutate: Any,
        *,
        subresource: str = "",
    ) -> Obj:
        """Read, change with `mutate(obj) -> obj`, write; retried on conflict (for server-side writers)."""
        for _ in range(16):
            current = self.store.get(rtype, namespace, name)
            new = mutate(meta.deep_copy(current))
            try:
                return self._write(rtype, current, new, subresource=subresource, conditional=False)
            except errors.StatusError as exc:
                if exc.reason != "Conflict":
                    raise
        raise errors.conflict(rtype.plural, rtype.group, name, "too many concurrent updates; try again")

    def _write(
        self,
        rtype: ResourceType,
        current: Obj,
        new: Obj,
        *,
        subresource: str = "",
        dry_run: bool = False,
        conditional: bool = True,
        current_may_be_stale: bool = False,
        writer: Writer | None = None,
        applied: bool = False,
    ) -> Obj:
        """Merge server-owned state from `current` into `new`, validate, and compare-and-swap it in.
        `current_may_be_stale`: `current` is the watch cache's copy, which may lag etcd. `writer`: the field
        manager an update is recorded for; `applied`: `new` is an apply's result, its managedFields already set."""
        strategy = self.strategy(rtype)
        old_meta = current["metadata"]
        applied_fields = new["metadata"].get("managedFields") if applied else None
        if subresource == "status":
            new = strategy.prepare_for_status_update(new, current)
        else:
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
                if field in old_meta:
                    new["metadata"][field] = old_meta[field]
                else:
                    new["metadata"].pop(field, None)
            strategy.prepare_for_update(new, current)
        if writer is not None:
            fieldmanager.update(rtype, current, new, writer)
        elif applied:
            _set_managed_fields(new, applied_fields)
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if subresource != "status":
            _refuse(rtype, new, strategy.validate_update(new, current), typed=strategy.typed)
        if dry_run:
            return new
        expected = int(old_meta["resourceVersion"])
        if (old_meta.get("deletionTimestamp") and not new["metadata"].get("finalizers")
                and not strategy.holds_deletion(new)):
            # The last finalizer is gone from an object being deleted: now it really goes.
            return self.remove(rtype, new, expected)
        if old_meta.get("deletionTimestamp") and _added_finalizers(current, new):
            raise errors.StatusError(
                422, f'{rtype.kind} "{old_meta["name"]}" is invalid: metadata.finalizers: Forbidden: no new '
                "finalizers can be added if the object is being deleted", "Invalid")
        if new == current and not is_stale(current):
            # (A stale object, read from a value an older key wrote, is written again: that re-encrypts it.)
            if current_may_be_stale:
                # "Nothing to change" judged on a cached copy may be wrong (etcd may hold a newer object the
                # patch does change): re-read etcd and judge again, as upstream's GuaranteedUpdate does.
                raise errors.conflict(rtype.plural, rtype.group, old_meta["name"])
            # Upstream's storage skips a write that changes nothing: same resourceVersion, no watch event
            # (kubectl then prints "patched (no change)").
            return current
        claims = strategy.allocate(new, current) if subresource != "status" else NO_CLAIMS
        try:
            return self.store.update(rtype, new, expected, also_create=claims[0], also_delete=claims[1])
        except KeyTaken as exc:
            raise errors.conflict(rtype.plural, rtype.group, old_meta["name"], f"allocation taken: {exc}") from exc
        except errors.StatusError as exc:
            if exc.reason == "Conflict" and not conditional:
                raise  # the caller re-reads and retries
            raise

    # Delete

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        options: Obj,
        *,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete now, or mark for deletion when finalizers or a grace period hold it. Returns (object, gone)."""
        strategy = self.strategy(rtype)
        strategy.check_delete(name)
        for _ in range(16):
            current = self.store.get(rtype, namespace, name)
            self._check_preconditions(rtype, current, options.get("preconditions") or {})
            new = meta.deep_copy(current)
            finalizers = list(new["metadata"].get("finalizers") or [])
            policy = options.get("propagationPolicy")
            if options.get("orphanDependents") is True:
                policy = "Orphan"
            if policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            if policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            if policy == "Background" and current["metadata"].get("deletionTimestamp"):
                finalizers = [f for f in finalizers if f not in ("foregroundDeletion", "orphan")]
            grace = strategy.grace_period(current, options.get("gracePeriodSeconds"))
            holds = finalizers or grace or strategy.holds_deletion(new)
            if dry_run:
                return (new, not holds)
            try:
                if not holds:
                    return self.remove(rtype, current, int(current["metadata"]["resourceVersion"])), True
                if finalizers:
                    new["metadata"]["finalizers"] = finalizers
                strategy.prepare_for_delete(new, grace)
                if new == current:
                    return current, False
                return self.store.update(rtype, new, int(current["metadata"]["resourceVersion"])), False
            except errors.StatusError as exc:
                if exc.reason != "Conflict" or options.get("preconditions"):
                    raise
        raise errors.conflict(rtype.plural, rtype.group, name, "too many concurrent updates; try again")

    def _check_preconditions(self, rtype: ResourceType, current: Obj, preconditions: Obj) -> None:
        name = current["metadata"]["name"]
        uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
        if uid and uid != current["metadata"]["uid"]:
            raise errors.conflict(rtype.plural, rtype.group, name,
                                  f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                                  f"{current['metadata']['uid']}")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, name,
                                  f"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in "
                                  f"object meta: {current['metadata']['resourceVersion']}")

    def remove(self, rtype: ResourceType, obj: Obj, expected: int) -> Obj:
        """Delete `obj` from storage now (it must still be at revision `expected`), with what it holds."""
        return self.store.delete(rtype, obj, expected, also_delete=self.strategy(rtype).release(obj))

    # Server-side writers (subresources such as pods/binding)

    def guaranteed_update(self, rtype: ResourceType, namespace: str | None, name: str,
                          mutate: Callable[[Obj], Obj]) -> Obj:
        """Read (the watch cache first), change with `mutate(copy) -> obj` and compare-and-swap, retrying on a
        Conflict, as upstream's GuaranteedUpdate. What `mutate` raises is not retried; what it returns is stored
        as is (no defaulting or validation: for writers the server trusts)."""
        for attempt in range(16):
            current = self._latest(rtype, namespace, name, attempt)
            if current is None:
                raise errors.not_found(rtype.plural, rtype.group, name)
            expected = int(current["metadata"]["resourceVersion"])
            new = mutate(current)  # `_latest` gave us a copy of our own
            try:
                return self.store.update(rtype, new, expected)
            except errors.StatusError as exc:
                if exc.reason != "Conflict":
                    raise
        raise errors.conflict(rtype.plural, rtype.group, name, "too many concurrent updates; try again")

    # Bootstrap

    def ensure(self, rtype: ResourceType, namespace: str | None, obj: Obj) -> None:
        """Create an object unless it exists (bootstrap objects: system namespaces, the kubernetes Service)."""
        if self.store.try_get(rtype, namespace, obj["metadata"]["name"]) is None:
            try:
                self.create(rtype, namespace, obj)
            except errors.StatusError as exc:
                if exc.reason != "AlreadyExists":
                    raise


def _patch_names_rv(body: bytes) -> bool:
    """Whether a patch body sets metadata.resourceVersion itself (then it is a precondition, not retried)."""
    if b"resourceVersion" not in body:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False
    if isinstance(data, dict):
        return bool((data.get("metadata") or {}).get("resourceVersion"))
    return any(isinstance(op, dict) and "resourceVersion" in str(op.get("path", "")) for op in data)


def _set_managed_fields(obj: Obj, entries: list[Obj] | None) -> None:
    if entries:
        obj["metadata"]["managedFields"] = entries
    else:
        obj["metadata"].pop("managedFields", None)


def _added_finalizers(current: Obj, new: Obj) -> bool:
    return bool(set(new["metadata"].get("finalizers") or []) - set(current["metadata"].get("finalizers") or []))


def _refuse(rtype: ResourceType, obj: Obj, causes: list[Obj], *, typed: bool = True) -> None:
    """Raise the error for what validation found wrong with `obj`, if anything (`typed`: see Strategy.typed)."""
    if causes and typed and all(c["reason"] == "FieldValueTypeInvalid" for c in causes):
        # Upstream's decoder refuses a wrong JSON type before validation ever runs: 400, not 422.
        version = rtype.api_version.rsplit("/", 1)[-1]
        detail = causes[0]["message"].split('": ', 1)[-1]
        raise errors.bad_request(f'{rtype.kind} in version "{version}" cannot be handled as a {rtype.kind}: '
                                 f"{detail}")
    if causes:
        raise errors.invalid(rtype.kind, rtype.group, obj["metadata"].get("name", ""), causes)
