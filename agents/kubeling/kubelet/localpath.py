"""The node's half of the local-path StorageClass: when a volume of this node is deleted, remove its directory
(for reclaim policy Delete) and then the `kubeling.io/local-path-cleanup` finalizer that kept the object.

Upstream's external provisioners delete the storage before the PV object goes; a directory on a node can only be
removed on that node, so here the kubelet does it (docs/storage.md says why). A Retain volume deleted by hand
keeps its directory: only the finalizer is dropped.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from kubeling.api import storage
from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.workqueue import WorkQueue
from kubeling.component import when_stopped

log = logging.getLogger(__name__)

VOLUMES = must_lookup("", "persistentvolumes")


def cleanup_action(pv: Obj, node: str, local_path_dir: str) -> str | None:
    """What the kubelet of `node` does about `pv`: "delete" (remove the directory, then the finalizer),
    "release" (only the finalizer), or None (not ours, not deleted, or not on this node)."""
    metadata = pv.get("metadata") or {}
    if not metadata.get("deletionTimestamp") or storage.LOCAL_PATH_FINALIZER not in (metadata.get("finalizers") or []):
        return None
    if node not in storage.pv_nodes(pv):
        return None
    spec = pv.get("spec") or {}
    path = (spec.get("local") or spec.get("hostPath") or {}).get("path", "")
    if spec.get("persistentVolumeReclaimPolicy") == "Delete" and storage.path_inside(local_path_dir, path):
        return "delete"
    return "release"


class LocalPathCleaner:
    """Handles PV events on one worker thread (removing a directory may take a while)."""

    def __init__(self, client: Client, node: str, local_path_dir: str,
                 get_volume: Callable[[str], Obj | None]) -> None:
        self.client, self.node, self.local_path_dir, self.get_volume = client, node, local_path_dir, get_volume
        self.queue = WorkQueue(name="local-path-cleanup")

    def on_volume(self, pv: Obj) -> None:
        if cleanup_action(pv, self.node, self.local_path_dir):
            self.queue.add(pv["metadata"]["name"])

    def run(self, stop: threading.Event) -> None:
        threading.Thread(target=self._worker, name="local-path cleanup", daemon=True).start()
        when_stopped(stop, self.queue.shutdown)

    def _worker(self) -> None:
        while (name := self.queue.get()) is not None:
            try:
                self.clean(name)
            except Exception as exc:
                log.warning("local-path volume %s: %s; retrying", name, exc)
                self.queue.add_rate_limited(name)
            else:
                self.queue.forget(name)
            finally:
                self.queue.done(name)

    def clean(self, name: str) -> None:
        pv = self.get_volume(name)
        if pv is None:
            return
        action = cleanup_action(pv, self.node, self.local_path_dir)
        if action is None:
            return
        if action == "delete":
            spec = pv.get("spec") or {}
            path = Path((spec.get("local") or spec.get("hostPath") or {}).get("path", ""))
            shutil.rmtree(path, ignore_errors=True)
            if path.exists():
                raise OSError(f"could not remove {path}")
            log.info("removed the directory %s of deleted volume %s", path, name)
        finalizers = [f for f in pv["metadata"].get("finalizers") or [] if f != storage.LOCAL_PATH_FINALIZER]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": pv["metadata"].get("resourceVersion")}}
        try:
            self.client.patch(VOLUMES, name, patch)
        except errors.NotFound:
            return
