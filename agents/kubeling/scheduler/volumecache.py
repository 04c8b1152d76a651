"""The scheduler's view of claims, volumes and storage classes (informers), and the two writes VolumeBinding's
PreBind makes: a volume's `claimRef` (static pre-binding) and a claim's `volume.kubernetes.io/selected-node`.

Upstream's volumebinding/binder.go (BindPodVolumes, checkBindings) with the informers of NewVolumeBinder; its
assume cache is left out: two pods racing for one static volume meet at the API server (a conflict on the
volume's resourceVersion), and the loser is scheduled again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kubeling.api import storage
from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import keys
from kubeling.client.api import Client
from kubeling.client.informer import Informer

CLAIMS = must_lookup("", "persistentvolumeclaims")
VOLUMES = must_lookup("", "persistentvolumes")
CLASSES = must_lookup("storage.k8s.io", "storageclasses")


class VolumeCache:
    """A VolumeAccess backed by informers; `on_change` runs after every claim, volume or class event (the
    scheduler moves its unschedulable pods back to be tried again)."""

    def __init__(self, client: Client, on_change: Callable[[], None] = lambda: None) -> None:
        self.client, self.on_change = client, on_change
        self.claims = Informer(client, CLAIMS)
        self.pvs = Informer(client, VOLUMES)
        self.classes = Informer(client, CLASSES)
        self._changed = threading.Condition()
        for informer in self.informers():
            informer.add_handler(lambda obj: self._notify(), lambda old, new: self._notify(),
                                 lambda obj: self._notify())

    def informers(self) -> tuple[Informer, ...]:
        return self.claims, self.pvs, self.classes

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()
        self.on_change()

    # Reading (VolumeAccess)

    def claim(self, namespace: str, name: str) -> Obj | None:
        return self.claims.store.get(keys.key(namespace, name))

    def volume(self, name: str) -> Obj | None:
        return self.pvs.store.get(name)

    def volumes(self) -> list[Obj]:
        return self.pvs.store.list()

    def storage_class(self, name: str) -> Obj | None:
        return self.classes.store.get(name) if name else None

    # Writing (PreBind)

    def pre_bind_volume(self, pv: Obj, claim: Obj) -> None:
        """Point the volume at the claim; the PV controller finishes the binding (upstream's bindAPIUpdate)."""
        metadata = claim["metadata"]
        ref = {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": metadata["namespace"],
               "name": metadata["name"], "uid": metadata.get("uid"), "resourceVersion": metadata.get("resourceVersion")}
        patch = {"metadata": {"resourceVersion": pv["metadata"].get("resourceVersion")}, "spec": {"claimRef": ref}}
        self.client.patch(VOLUMES, pv["metadata"]["name"], patch)

    def select_node(self, claim: Obj, node: str) -> None:
        metadata = claim["metadata"]
        self.client.patch(CLAIMS, metadata["name"], {"metadata": {"annotations": {storage.SELECTED_NODE: node}}},
                          metadata["namespace"])

    def wait_bound(self, namespace: str, names: list[str], timeout: float) -> bool:
        """Wait until the PV controller has bound every claim; False on timeout or when a claim is gone."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                claims = [self.claim(namespace, name) for name in names]
                if any(c is None or c["metadata"].get("deletionTimestamp") for c in claims):
                    return False
                if all(storage.is_bound(c) for c in claims if c is not None):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 1.0))
