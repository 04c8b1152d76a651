"""Object keys: how caches index objects and work queues name them, as client-go's `cache.MetaNamespaceKeyFunc`
and `cache.SplitMetaNamespaceKey` (k8s.io/client-go/tools/cache/store.go).

A namespaced object's key is "namespace/name"; a cluster-scoped object's is just "name".
"""

from __future__ import annotations

from kubeling.api.types import Obj


def key(namespace: str, name: str) -> str:
    """The key of the object called `name` in `namespace` ("" for cluster-scoped objects)."""
    return f"{namespace}/{name}" if namespace else name


def key_of(obj: Obj) -> str:
    """The key of `obj`, from its metadata (upstream's MetaNamespaceKeyFunc)."""
    metadata = obj.get("metadata") or {}
    return key(metadata.get("namespace") or "", metadata.get("name") or "")


def split_key(object_key: str) -> tuple[str, str]:
    """(namespace, name) of a key; namespace is "" for a cluster-scoped one (upstream's SplitMetaNamespaceKey)."""
    parts = object_key.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"unexpected key format: {object_key!r}")
