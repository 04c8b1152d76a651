"""Objects in etcd: one JSON value per object under `<prefix>/<resource>/[<namespace>/]<name>`.

`metadata.resourceVersion` is never stored; it is the key's etcd mod_revision, filled in on every read. Every
write is a transaction guarded by a compare, so a stale writer gets `Conflict` instead of overwriting.

The values of resources given a transformer (`--encryption-provider-config`) are sealed on the way in and opened
on the way out (storage/transformers.py); upstream's etcd3 store does the same
(staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go, `TransformToStorage`/`TransformFromStorage`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubeling.api import errors
from kubeling.api.resources import ResourceType
from kubeling.fastpath import fastjson
from kubeling.storage.etcd import Compacted, Compare, Delete, EtcdClient, KeyValue, Put, prefix_end
from kubeling.storage.transformers import Transformer, TransformError

# How many keys one etcd range reads while filtering a paged, selected list.
LIST_BATCH = 500

Predicate = Callable[[dict[str, Any]], bool]


@dataclasses.dataclass
class ListResult:
    items: list[dict[str, Any]]
    revision: int
    continue_token: str = ""
    remaining: int | None = None


def encode(obj: dict[str, Any]) -> bytes:
    meta = obj.get("metadata", {})
    if "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return fastjson.dumps(obj)


def decode(value: bytes, revision: int) -> dict[str, Any]:
    obj = fastjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


def _stored(obj: dict[str, Any], revision: int) -> dict[str, Any]:
    """`obj` as it now is in etcd. The caller hands `obj` over: re-reading what we just encoded would cost a JSON
    parse per write for an equal object."""
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


class StaleObject(dict):  # type: ignore[type-arg]
    """An object read from a value that its transformer's first provider and key did not write (an older key, or
    plain text from before encryption): writing it back unchanged is still a write, so that `kubectl replace` of
    every Secret re-encrypts them with the new key (upstream's `stale` from TransformFromStorage)."""


def open_value(transformer: Transformer | None, key: str, value: bytes, revision: int) -> dict[str, Any]:
    """The object stored at `key` as `value`; a value no configured provider or key opens is a 500."""
    if transformer is None:
        return decode(value, revision)
    try:
        plain, stale = transformer.from_storage(value, key.encode())
    except TransformError as exc:
        message = f'unable to transform key "{key}": {exc}'
        raise errors.StatusError(500, f"Internal error occurred: {message}", "InternalError",
                                 causes=[{"message": message}]) from exc
    obj = decode(plain, revision)
    return StaleObject(obj) if stale else obj


def is_stale(obj: dict[str, Any]) -> bool:
    """Whether `obj` was read from a value that should be written again even if nothing in it changes."""
    return isinstance(obj, StaleObject)


class Store:
    def __init__(self, etcd: EtcdClient, prefix: str = "/registry",
                 transformers: Mapping[str, Transformer] | None = None) -> None:
        """`transformers`: how the values of a resource are sealed in etcd, by its qualified name
        (`secrets`, `deployments.apps`); a resource without one is stored as plain JSON."""
        self.etcd = etcd
        self.root = "/" + prefix.strip("/")
        self.transformers = dict(transformers or {})

    def transformer(self, rtype: ResourceType) -> Transformer | None:
        return self.transformers.get(rtype.qualified)

    def _decode(self, rtype: ResourceType, kv: KeyValue) -> dict[str, Any]:
        return open_value(self.transformers.get(rtype.qualified), kv.key, kv.value, kv.mod_revision)

    def _encode(self, rtype: ResourceType, key: str, obj: dict[str, Any]) -> bytes:
        transformer = self.transformers.get(rtype.qualified)
        value = encode(obj)
        return value if transformer is None else transformer.to_storage(value, key.encode())

    # Keys

    def resource_prefix(self, rtype: ResourceType, namespace: str | None = None) -> str:
        base = f"{self.root}/{rtype.storage_name}/"
        return f"{base}{namespace}/" if namespace and rtype.namespaced else base

    def key(self, rtype: ResourceType, namespace: str | None, name: str) -> str:
        return self.resource_prefix(rtype, namespace) + name

    def object_key(self, rtype: ResourceType, obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return self.key(rtype, meta.get("namespace"), meta["name"])

    # Reads

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self.try_get(rtype, namespace, name)
        if obj is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        return obj

    def try_get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        kv, _ = self.etcd.get(self.key(rtype, namespace, name))
        return self._decode(rtype, kv) if kv else None

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        *,
        limit: int = 0,
        continue_token: str = "",
        predicate: Predicate | None = None,
        revision: int = 0,
    ) -> ListResult:
        """A consistent list: every page of one paged list is read at the first page's revision. `revision`
        reads the past (resourceVersionMatch=Exact)."""
        prefix = self.resource_prefix(rtype, namespace)
        end = prefix_end(prefix)
        start = prefix
        if continue_token:
            start, revision = self._parse_continue(continue_token, prefix)
        items: list[dict[str, Any]] = []
        try:
            while True:
                batch = limit if (limit and predicate is None) else max(limit, LIST_BATCH) if limit else 0
                kvs, header_rev, count, more = self.etcd.range(start, end, limit=batch, revision=revision)
                revision = revision or header_rev
                for index, kv in enumerate(kvs):
                    obj = self._decode(rtype, kv)
                    if predicate is None or predicate(obj):
                        items.append(obj)
                        if limit and len(items) == limit and (more or index < len(kvs) - 1):
                            remaining = count - index - 1 if predicate is None else None
                            token = self.make_continue(revision, kv.key + "\0", prefix)
                            return ListResult(items, revision, token, remaining)
                if not more or not kvs:
                    return ListResult(items, revision)
                start = kvs[-1].key + "\0"
        except Compacted as exc:
            if not continue_token:
                raise errors.StatusError(410, f"too old resource version: {revision}", "Expired") from exc
            raise errors.StatusError(
                410,
                "The provided continue parameter is too old to display a consistent list result. You can start a "
                "new list without the continue parameter.",
                "Expired",
            ) from exc

    @staticmethod
    def make_continue(revision: int, start: str, prefix: str) -> str:
        """The `continue` token of a list read at `revision`, to go on from key `start` (also for lists served
        from the watch cache, whose next pages etcd serves)."""
        payload = {"v": "meta.k8s.io/v1", "rv": revision, "start": start[len(prefix):]}
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()

    @staticmethod
    def _parse_continue(token: str, prefix: str) -> tuple[str, int]:
        try:
            payload = json.loads(base64.urlsafe_b64decode(token.encode()))
            return prefix + str(payload["start"]), int(payload["rv"])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise errors.bad_request(f"continue key is not valid: {exc}") from exc

    # Writes

    def create(
        self, rtype: ResourceType, obj: dict[str, Any], *, also_create: Sequence[tuple[str, bytes]] = ()
    ) -> dict[str, Any]:
        """Store a new object, plus side keys (IP allocations) in the same transaction; all or nothing."""
        key = self.object_key(rtype, obj)
        value = self._encode(rtype, key, obj)
        compares = [Compare(key, "VERSION", 0)] + [Compare(k, "VERSION", 0) for k, _ in also_create]
        puts = [Put(key, value)] + [Put(k, v) for k, v in also_create]
        ok, revision, current = self.etcd.txn(compares, puts, failure_reads=[key] + [k for k, _ in also_create])
        if not ok:
            if current[0] is not None:
                raise errors.already_exists(rtype.plural, rtype.group, obj["metadata"]["name"])
            taken = [k for (k, _), kv in zip(also_create, current[1:], strict=True) if kv is not None]
            raise KeyTaken(taken)
        return _stored(obj, revision)

    def update(
        self,
        rtype: ResourceType,
        obj: dict[str, Any],
        expected_revision: int,
        *,
        also_create: Sequence[tuple[str, bytes]] = (),
        also_delete: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Replace an object if its mod_revision is still `expected_revision`, else raise Conflict."""
        key = self.object_key(rtype, obj)
        value = self._encode(rtype, key, obj)
        compares = [Compare(key, "MOD", expected_revision)] + [Compare(k, "VERSION", 0) for k, _ in also_create]
        ops: list[Put | Delete] = [Put(key, value)]
        ops += [Put(k, v) for k, v in also_create] + [Delete(k) for k in also_delete]
        ok, revision, current = self.etcd.txn(compares, ops, failure_reads=[key] + [k for k, _ in also_create])
        if not ok:
            name = obj["metadata"]["name"]
            if current[0] is None:
                raise errors.not_found(rtype.plural, rtype.group, name)
            if current[0].mod_revision != expected_revision:
                raise errors.conflict(rtype.plural, rtype.group, name)
            raise KeyTaken([k for (k, _), kv in zip(also_create, current[1:], strict=True) if kv is not None])
        return _stored(obj, revision)

    def delete(
        self, rtype: ResourceType, obj: dict[str, Any], expected_revision: int, *, also_delete: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Remove an object if unchanged since `expected_revision`; return its last state at the delete revision."""
        key = self.object_key(rtype, obj)
        ops = [Delete(key)] + [Delete(k) for k in also_delete]
        ok, revision, current = self.etcd.txn([Compare(key, "MOD", expected_revision)], ops, failure_reads=[key])
        if not ok:
            name = obj["metadata"]["name"]
            if current[0] is None:
                raise errors.not_found(rtype.plural, rtype.group, name)
            raise errors.conflict(rtype.plural, rtype.group, name)
        return decode(encode(obj), revision)

    def guaranteed_update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        attempts: int = 16,
    ) -> dict[str, Any]:
        """Read, mutate, compare-and-swap; on a conflict read again and retry (for writes that carry no RV)."""
        for _ in range(attempts):
            current = self.get(rtype, namespace, name)
            updated = mutate(fastjson.loads(fastjson.dumps(current)))
            try:
                return self.update(rtype, updated, int(current["metadata"]["resourceVersion"]))
            except errors.StatusError as exc:
                if exc.reason != "Conflict":
                    raise
        raise errors.conflict(rtype.plural, rtype.group, name, "too many concurrent updates; try again")

    def keys(self, prefix: str) -> list[str]:
        kvs, _, _, _ = self.etcd.range(prefix, prefix_end(prefix), keys_only=True)
        return [kv.key for kv in kvs]


class KeyTaken(Exception):
    """A side key (an allocated IP or port) was taken by someone else between choosing and writing it."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(", ".join(keys))
        self.keys = keys
