"""The local-path provisioner: the volume of a `local-path` claim is a directory on the node its first pod was
scheduled to.

It acts as upstream's external provisioners do (sigs.k8s.io/sig-storage-lib-external-provisioner's
controller.go, and rancher's local-path-provisioner for the shape of the volume), with the PV controller and the
scheduler around it:

1. The scheduler (VolumeBinding) writes `volume.kubernetes.io/selected-node` on a WaitForFirstConsumer claim,
   and the PV controller, finding no volume to bind, asks for one with `volume.kubernetes.io/storage-provisioner`.
2. Here: a claim asking this provisioner, with a selected node and no volume yet, gets a PersistentVolume
   `pvc-<claim uid>`, pre-bound to it (`claimRef`), pinned to the node by node affinity, its `local.path` a
   directory under the class's `nodePath` parameter (default /var/lib/kubeling/local-path). The PV controller
   binds the two; the kubelet creates the directory when it first mounts it.
3. A volume of ours that is Released with reclaim policy Delete is deleted here; its finalizer
   `kubeling.io/local-path-cleanup` keeps it until the kubelet of its node has removed the directory (only that
   node can touch its disk; see docs/storage.md).

Queue keys: a claim's "namespace/name", or a volume's bare name (volumes are cluster-scoped).
"""

from __future__ import annotations

import logging

from kubeling.api import storage
from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory

log = logging.getLogger(__name__)

CLAIMS = must_lookup("", "persistentvolumeclaims")
VOLUMES = must_lookup("", "persistentvolumes")
CLASSES = must_lookup("storage.k8s.io", "storageclasses")


def wanted_provisioner(claim: Obj) -> str:
    annotations = claim.get("metadata", {}).get("annotations") or {}
    return annotations.get(storage.STORAGE_PROVISIONER) or annotations.get(storage.BETA_STORAGE_PROVISIONER) or ""


def node_path(storage_class: Obj) -> str:
    return ((storage_class.get("parameters") or {}).get("nodePath") or storage.LOCAL_PATH_DIR).rstrip("/")


def volume_for(claim: Obj, storage_class: Obj, node: str) -> Obj:
    """The PersistentVolume that serves `claim` on `node` (pre-bound to it)."""
    metadata, spec = claim["metadata"], claim.get("spec") or {}
    name = f"pvc-{metadata['uid']}"
    request = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "0")
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {storage.PROVISIONED_BY: storage.LOCAL_PATH_PROVISIONER},
                     "finalizers": [storage.LOCAL_PATH_FINALIZER]},
        "spec": {
            "capacity": {"storage": request},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
            "storageClassName": storage_class["metadata"]["name"],
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "local": {"path": f"{node_path(storage_class)}/{name}"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": storage.HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}},
            "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": metadata["namespace"],
                         "name": metadata["name"], "uid": metadata["uid"],
                         "resourceVersion": metadata.get("resourceVersion")},
        },
    }


class LocalPathProvisioner(Controller):
    name = "local-path-provisioner"

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: object = None) -> None:
        super().__init__(client, informers, recorder)
        self.claims = informers.informer(CLAIMS)
        self.volumes = informers.informer(VOLUMES)
        self.classes = informers.informer(CLASSES)
        self.claims.add_handler(self.enqueue, lambda old, new: self.enqueue(new))
        self.volumes.add_handler(self.enqueue, lambda old, new: self.enqueue(new))

    def sync(self, key: str) -> None:
        if "/" in key:
            self._sync_claim(key)
        else:
            self._sync_volume(key)

    def _sync_claim(self, key: str) -> None:
        claim = self.claims.store.get(key)
        if claim is None or claim["metadata"].get("deletionTimestamp") or (claim.get("spec") or {}).get("volumeName"):
            return
        if wanted_provisioner(claim) != storage.LOCAL_PATH_PROVISIONER:
            return
        class_name = storage.claim_class(claim)
        storage_class = self.classes.store.get(class_name)
        if storage_class is None or storage_class.get("provisioner") != storage.LOCAL_PATH_PROVISIONER:
            return  # the PV controller reports a class it cannot find
        name = f"pvc-{claim['metadata']['uid']}"
        if self.volumes.store.get(name) is not None:
            return  # made already; the PV controller binds it
        node = (claim["metadata"].get("annotations") or {}).get(storage.SELECTED_NODE)
        if not node:
            self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                f'failed to provision volume with StorageClass "{class_name}": configuration error, '
                                "no node was specified (use volumeBindingMode WaitForFirstConsumer)")
            return
        pv = volume_for(claim, storage_class, node)
        if not storage.path_inside(node_path(storage_class), pv["spec"]["local"]["path"]):
            self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                f'failed to provision volume with StorageClass "{class_name}": parameter nodePath '
                                f'"{node_path(storage_class)}" must be an absolute path without ".."')
            return
        self.recorder.event(claim, "Normal", "Provisioning",
                            f'External provisioner is provisioning volume for claim "{key}"')
        try:
            self.client.create(VOLUMES, pv)
        except errors.AlreadyExists:
            return
        log.info("provisioned %s for claim %s on node %s", name, key, node)
        self.recorder.event(claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {name}")

    def _sync_volume(self, name: str) -> None:
        pv = self.volumes.store.get(name)
        if pv is None or pv["metadata"].get("deletionTimestamp"):
            return
        annotations = pv["metadata"].get("annotations") or {}
        if annotations.get(storage.PROVISIONED_BY) != storage.LOCAL_PATH_PROVISIONER:
            return
        if (pv.get("status") or {}).get("phase") != "Released" or \
                (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") != "Delete":
            return
        try:
            self.client.delete(VOLUMES, name, preconditions={"uid": pv["metadata"]["uid"]})
        except errors.NotFound:
            return
        log.info("deleting released volume %s; the kubelet of %s removes its directory", name,
                 ", ".join(storage.pv_nodes(pv)) or "its node")
