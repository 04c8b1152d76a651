"""The verbs of the API (create, get, list, update, patch, delete) for every resource, on top of the store.

This is where upstream's generic registry logic lives: server-set metadata, defaulting, validation, the split
between an object and its status, optimistic concurrency, finalizers and graceful deletion, dry runs. Per-kind
behaviour is kept in `strategies.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubeling.api import errors, meta, validation
from kubeling.api.defaults import apply_defaults, default_toleration_seconds
from kubeling.api.patch import apply_patch, parse_apply_body
from kubeling.api.resources import ResourceType, lookup
from kubeling.apiserver import strategies
from kubeling.storage.store import KeyTaken, ListResult, Predicate, Store

Obj = dict[str, Any]

NAMESPACES = lookup("", "namespaces")
# Namespaces that exist from the start and can never be deleted.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
# Server-owned metadata: whatever a client sends for these is replaced.
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                 "generation", "selfLink")
# How often a patch is re-applied to a fresh copy after losing a race. Upstream retries without limit; with N
# clients patching one object at once, the last one may lose N-1 times, so this must be well above the
# concurrency anyone uses (tests/e2e/test_concurrency.py runs 32).
PATCH_ATTEMPTS = 64


class Registry:
    def __init__(self, store: Store, services: strategies.ServiceAllocation,
                 toleration_seconds: tuple[int, int] = (300, 300)) -> None:
        self.store = store
        self.services = services
        self.toleration_seconds = toleration_seconds  # (not-ready, unreachable) for pods that set none
        # The watch cache's latest copy of an object, if any: read-modify-write tries it first and reads etcd
        # only after a Conflict, saving a round trip on the hot paths (binding, status patches).
        self.cached: Callable[[ResourceType, str | None, str], Obj | None] = lambda rtype, namespace, name: None
        # Admission of a new pod that reads other objects (admission.py: its service account), or nothing.
        self.admit_pod: Callable[[Obj, str], None] | None = None

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
    ) -> ListResult:
        return self.store.list(rtype, namespace, limit=limit, continue_token=continue_token, predicate=predicate)

    # Create

    def create(self, rtype: ResourceType, namespace: str | None, body: Obj, *, dry_run: bool = False,
               owned: bool = False) -> Obj:
        """Create from `body`; `owned` says the caller hands `body` over (a freshly parsed request), so it is
        changed in place instead of copied first."""
        asked = body.get("metadata") if isinstance(body, dict) and isinstance(body.get("metadata"), dict) else {}
        asked_name = str(asked.get("name") or asked.get("generateName") or "")
        obj = self._check_body(rtype, namespace, body, copy=not owned)
        metadata = obj["metadata"]
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = meta.generate_name(str(metadata["generateName"]))
        if not metadata.get("name"):
            raise errors.invalid(rtype.kind, rtype.group, "", [errors.cause(
                "metadata.name", "Required value: name or generateName is required", "FieldValueRequired")])
        self._check_path_name(rtype, metadata["name"])
        if rtype.namespaced:
            self._check_namespace_open(namespace or "")
        for field in SERVER_FIELDS:
            metadata.pop(field, None)
        metadata["uid"] = meta.new_uid()
        metadata["creationTimestamp"] = meta.now()
        if "spec" in obj or rtype.reset_status_on_create:
            metadata["generation"] = 1
        if rtype.reset_status_on_create:
            obj["status"] = {}
        apply_defaults(rtype.kind, obj)
        if rtype.kind == "Pod":
            default_toleration_seconds(obj, *self.toleration_seconds)
            if self.admit_pod is not None:
                self.admit_pod(obj, asked_name)
        strategies.prepare_create(rtype, obj)
        self._validate(rtype, obj, None)
        if dry_run:
            return obj
        for _ in range(8):
            claims = self.services.claims(obj, None) if rtype.kind == "Service" else ([], [])
            try:
                return self.store.create(rtype, obj, also_create=claims[0])
            except KeyTaken:
                continue  # another Service took the IP or port we picked; pick again
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

    def _check_namespace_open(self, namespace: str) -> None:
        # As upstream's NamespaceLifecycle admission: trust the watch cache when it knows the namespace, and
        # ask etcd only when it does not (it may have been created a moment ago).
        ns = self.cached(NAMESPACES, None, namespace) or self.store.try_get(NAMESPACES, None, namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp") or ns.get("status", {}).get("phase") == "Terminating":
            raise errors.StatusError(
                403,
                f"unable to create new content in namespace {namespace} because it is being terminated",
                "Forbidden",
                name=namespace,
                kind="namespaces",
            )

    def _validate(self, rtype: ResourceType, obj: Obj, old: Obj | None) -> None:
        causes = validation.validate(rtype, obj, old)
        if causes and all(c["reason"] == "FieldValueTypeInvalid" for c in causes):
            # Upstream's decoder refuses a wrong JSON type before validation ever runs: 400, not 422.
            version = rtype.api_version.rsplit("/", 1)[-1]
            detail = causes[0]["message"].split('": ', 1)[-1]
            raise errors.bad_request(f'{rtype.kind} in version "{version}" cannot be handled as a {rtype.kind}: '
                                     f"{detail}")
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, obj["metadata"].get("name", ""), causes)

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
        return self._write(rtype, current, new, subresource=subresource, dry_run=dry_run, conditional=bool(sent_rv))

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
    ) -> tuple[Obj, bool]:
        """PATCH: apply the patch to the live object; server-side apply may create. Returns (object, created)."""
        explicit = _patch_names_rv(body)
        for attempt in range(PATCH_ATTEMPTS):
            # A patch that names a resourceVersion must be checked against etcd itself, never a cached copy.
            current = self._latest(rtype, namespace, name, 1 if explicit else attempt)
            if current is None:
                if content_type.split(";")[0].strip() == "application/apply-patch+yaml" and not subresource:
                    manifest = parse_apply_body(body)
                    if manifest.get("metadata", {}).get("name") not in (None, name):
                        raise errors.bad_request("the name in the manifest does not match the name on the URL")
                    manifest.setdefault("metadata", {})["name"] = name
                    try:
                        return self.create(rtype, namespace, manifest, dry_run=dry_run), True
                    except errors.StatusError as exc:
                        if exc.reason == "AlreadyExists":
                            continue  # created meanwhile: patch it instead
                        raise
                raise errors.not_found(rtype.plural, rtype.group, name)
            patched = apply_patch(content_type, current, body, rtype.kind)
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch did not produce a JSON object")
            new = self._check_body(rtype, namespace, patched)
            new["metadata"]["name"] = name
            sent_rv = new["metadata"].get("resourceVersion")
            # A patch that names a resourceVersion is a precondition; one that does not retries on conflict.
            conditional = sent_rv not in (None, current["metadata"]["resourceVersion"])
            if conditional:
                raise errors.conflict(rtype.plural, rtype.group, name)
            try:
                return self._write(rtype, current, new, subresource=subresource, dry_run=dry_run,
                                   conditional=explicit), False
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
    ) -> Obj:
        """Merge server-owned state from `current` into `new`, validate, and compare-and-swap it in."""
        old_meta = current["metadata"]
        if subresource == "status":
            # A status write changes status only (upstream's ResetObjectMetaForStatus and spec copy).
            status = new.get("status", {})
            new = meta.deep_copy(current)
            new["status"] = status
        else:
            if rtype.has_status:
                new["status"] = meta.deep_copy(current.get("status", {}))
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
                if field in old_meta:
                    new["metadata"][field] = old_meta[field]
                else:
                    new["metadata"].pop(field, None)
            if rtype.kind == "Namespace":
                new["status"] = meta.deep_copy(current.get("status", {}))
            apply_defaults(rtype.kind, new)
            if "generation" in old_meta and new.get("spec") != current.get("spec"):
                new["metadata"]["generation"] = old_meta["generation"] + 1
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if subresource != "status":
            self._validate(rtype, new, current)
        if dry_run:
            return new
        expected = int(old_meta["resourceVersion"])
        namespace_held = rtype.kind == "Namespace" and new.get("spec", {}).get("finalizers")
        if old_meta.get("deletionTimestamp") and not new["metadata"].get("finalizers") and not namespace_held:
            # The last finalizer is gone from an object being deleted: now it really goes.
            return self._remove(rtype, new, expected)
        if old_meta.get("deletionTimestamp") and _added_finalizers(current, new):
            raise errors.StatusError(
                422, f'{rtype.kind} "{old_meta["name"]}" is invalid: metadata.finalizers: Forbidden: no new '
                "finalizers can be added if the object is being deleted", "Invalid")
        if new == current:
            # Upstream's storage skips a write that changes nothing: same resourceVersion, no watch event
            # (kubectl then prints "patched (no change)").
            return current
        claims: tuple[list[tuple[str, bytes]], list[str]] = ([], [])
        if rtype.kind == "Service" and subresource != "status":
            claims = self.services.claims(new, current)
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
        if rtype.kind == "Namespace" and name in PROTECTED_NAMESPACES:
            raise errors.StatusError(
                403, f'namespaces "{name}" is forbidden: this namespace may not be deleted', "Forbidden",
                name=name, kind="namespaces")
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
            grace = strategies.grace_period(rtype, current, options.get("gracePeriodSeconds"))
            holds = finalizers or grace or (rtype.kind == "Namespace" and new.get("spec", {}).get("finalizers"))
            if dry_run:
                return (new, not holds)
            try:
                if not holds:
                    return self._remove(rtype, current, int(current["metadata"]["resourceVersion"])), True
                if finalizers:
                    new["metadata"]["finalizers"] = finalizers
                strategies.mark_deleting(rtype, new, grace)
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

    def _remove(self, rtype: ResourceType, obj: Obj, expected: int) -> Obj:
        releases = self.services.releases(obj) if rtype.kind == "Service" else []
        return self.store.delete(rtype, obj, expected, also_delete=releases)

    # Subresources

    def bind(self, namespace: str, name: str, binding: Obj) -> None:
        target = (binding or {}).get("target") or {}
        node = target.get("name")
        if not isinstance(node, str) or not node:
            raise errors.invalid("Binding", "", name, [errors.cause("target.name", "Required value",
                                                                       "FieldValueRequired")])
        pods = lookup("", "pods")

        def assign(pod: Obj) -> Obj:
            if pod["metadata"].get("deletionTimestamp"):
                raise errors.conflict("pods", "", name, "pod is being deleted, cannot be assigned to a host")
            if pod.get("spec", {}).get("nodeName"):
                raise errors.conflict("pods", "", name, f'pod {name} is already assigned to node '
                                                         f'"{pod["spec"]["nodeName"]}"')
            pod["spec"]["nodeName"] = node
            strategies.set_condition(pod, "PodScheduled", "True")
            # Upstream replaces the whole condition: a scheduler's earlier "Unschedulable" reason must not stay.
            for condition in pod["status"]["conditions"]:
                if condition.get("type") == "PodScheduled":
                    condition.pop("reason", None)
                    condition.pop("message", None)
            return pod

        for attempt in range(16):
            current = self._latest(pods, namespace, name, attempt)
            if current is None:
                raise errors.not_found("pods", "", name)
            uid = (binding.get("metadata") or {}).get("uid")
            if uid and uid != current["metadata"]["uid"]:
                raise errors.conflict("pods", "", name, "the UID in the binding does not match the pod")
            try:
                expected = int(current["metadata"]["resourceVersion"])
                self.store.update(pods, assign(current), expected)  # `_latest` gave us a copy of our own
                return
            except errors.StatusError as exc:
                if exc.reason != "Conflict" or "assigned" in exc.message or "deleted" in exc.message:
                    raise
        raise errors.conflict("pods", "", name, "too many concurrent updates; try again")

    def finalize_namespace(self, name: str, body: Obj) -> Obj:
        finalizers = ((body or {}).get("spec") or {}).get("finalizers") or []

        def set_finalizers(ns: Obj) -> Obj:
            ns.setdefault("spec", {})["finalizers"] = finalizers
            return ns

        current = self.store.get(NAMESPACES, None, name)
        new = set_finalizers(meta.deep_copy(current))
        if current["metadata"].get("deletionTimestamp") and not finalizers and not new["metadata"].get("finalizers"):
            return self._remove(NAMESPACES, new, int(current["metadata"]["resourceVersion"]))
        return self.store.update(NAMESPACES, new, int(current["metadata"]["resourceVersion"]))

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


def _added_finalizers(current: Obj, new: Obj) -> bool:
    return bool(set(new["metadata"].get("finalizers") or []) - set(current["metadata"].get("finalizers") or []))
