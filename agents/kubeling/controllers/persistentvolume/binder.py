"""The PersistentVolume binder: binds claims to volumes, asks provisioners for volumes, and reclaims the volumes
whose claims are gone, as upstream's pkg/controller/volume/persistentvolume/pv_controller.go (syncClaim,
syncUnboundClaim, syncBoundClaim, syncVolume, bind, unbindVolume, reclaimVolume) and pv_controller_base.go (its
informers and queues).

A binding is written on both sides, volume first, each side in two writes (the object, then its status):

    volume.spec.claimRef = the claim        (+ pv.kubernetes.io/bound-by-controller when the binder chose it)
    volume.status.phase  = Bound
    claim.spec.volumeName = the volume       (+ pv.kubernetes.io/bind-completed, and bound-by-controller)
    claim.status          = Bound, with the volume's capacity and access modes

Every step is idempotent and checked again on the next sync, so a binder that stops half way (or loses a race)
finishes the job later. The phases:

    volume:  Pending → Available → Bound → Released (its claim is gone) → deleted (Delete) or kept (Retain);
             Failed when its reclaim policy cannot be carried out (Recycle)
    claim:   Pending → Bound; Lost when its bound volume disappears

A claim with no volume to bind: of a WaitForFirstConsumer class, it waits for the scheduler to pick a node
(annotation volume.kubernetes.io/selected-node); of another class, or once a node is picked, the class's
provisioner is asked for a volume (annotation volume.kubernetes.io/storage-provisioner), which it creates
pre-bound to the claim (claimRef), and the binder completes the bind; with no class, it waits for an
administrator to create a volume.

Differences from upstream: one work queue (keys say `volume:<name>` or `claim:<namespace>/<name>`) instead of
two; no periodic 15 s resync of every claim: a new or changed volume or class queues the claims still Pending
instead; no in-tree volume plugins, so a Released volume with reclaim policy Delete has its object deleted here
(a provisioner's finalizer may hold it while the node removes the data) and Recycle fails as upstream does with
no recycler.
"""

from __future__ import annotations

import logging
from typing import Any

from kubeling.api import meta, storage
from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder, object_reference
from kubeling.client.keys import key
from kubeling.client.mutationcache import MutationCache
from kubeling.controllers.base import Controller, InformerFactory
from kubeling.controllers.persistentvolume.index import find_matching_volume, is_bound_to, mismatch

log = logging.getLogger(__name__)

VOLUMES = must_lookup("", "persistentvolumes")
CLAIMS = must_lookup("", "persistentvolumeclaims")
CLASSES = must_lookup("storage.k8s.io", "storageclasses")

YES = "yes"  # the value upstream writes in its binding annotations

# Upstream's event reasons (pkg/controller/volume/events/event.go) and messages.
NO_CLASS_MSG = "no persistent volumes available for this claim and no storage class is set"
WAIT_FOR_CONSUMER_MSG = "waiting for first consumer to be created before binding"
EXTERNAL_PROVISIONING_MSG = (
    "Waiting for a volume to be created either by the external provisioner '{}' or manually by the system "
    "administrator. If volume creation is delayed, please verify that the provisioner is running and correctly "
    "registered."
)


def _annotations(obj: Obj) -> dict[str, Any]:
    """The object's annotations, to change in place (made when missing)."""
    metadata = obj.setdefault("metadata", {})
    if not isinstance(metadata.get("annotations"), dict):
        metadata["annotations"] = {}
    return metadata["annotations"]


def _has(obj: Obj, annotation: str) -> bool:
    return annotation in ((obj.get("metadata") or {}).get("annotations") or {})


def _phase(obj: Obj) -> str:
    return (obj.get("status") or {}).get("phase") or ""


class PersistentVolumeController(Controller):
    name = "persistentvolume-binder"
    workers = 1  # as upstream's one worker per queue: two claims never pick the same volume at once

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: Any = None) -> None:
        super().__init__(client, informers, recorder, options)
        volume_informer, claim_informer = informers.informer(VOLUMES), informers.informer(CLAIMS)
        class_informer = informers.informer(CLASSES)
        # Reads see our own writes before the informers do, so the next sync does not bind a volume twice.
        self.volumes = MutationCache(volume_informer.store)
        self.claims = MutationCache(claim_informer.store)
        self.classes = class_informer.store
        volume_informer.add_handler(self._volume_changed, lambda old, new: self._volume_changed(new),
                                    self._volume_changed)
        claim_informer.add_handler(self._enqueue_claim, lambda old, new: self._enqueue_claim(new),
                                   self._claim_deleted)
        class_informer.add_handler(lambda sc: self._enqueue_pending_claims(),
                                   lambda old, new: self._enqueue_pending_claims())

    # Handlers: which changes queue which syncs

    def _enqueue_volume(self, volume: Obj) -> None:
        self.queue.add(f"volume:{volume['metadata']['name']}")

    def _enqueue_claim(self, claim: Obj) -> None:
        self.queue.add(f"claim:{key(claim['metadata'].get('namespace', ''), claim['metadata']['name'])}")

    def _enqueue_pending_claims(self) -> None:
        for claim in self.claims.store.list():
            if not _has(claim, storage.BIND_COMPLETED):
                self._enqueue_claim(claim)

    def _volume_changed(self, volume: Obj) -> None:
        self._enqueue_volume(volume)
        # A volume appearing, freed or reserved may be what a waiting claim needs.
        self._enqueue_pending_claims()

    def _claim_deleted(self, claim: Obj) -> None:
        # Its volume is released now: sync it (upstream's deleteClaim queues the bound volume).
        if volume_name := (claim.get("spec") or {}).get("volumeName"):
            self.queue.add(f"volume:{volume_name}")

    # Sync

    def sync(self, queue_key: str) -> None:
        kind, _, object_key = queue_key.partition(":")
        if kind == "volume":
            volume = self.volumes.get(object_key)
            if volume is not None:
                self.sync_volume(volume)
        else:
            claim = self.claims.get(object_key)
            if claim is not None:
                self.sync_claim(claim)

    def sync_claim(self, claim: Obj) -> None:
        if claim["metadata"].get("deletionTimestamp") and not claim["metadata"].get("finalizers"):
            return
        if _has(claim, storage.BIND_COMPLETED):
            self._sync_bound_claim(claim)
        else:
            self._sync_unbound_claim(claim)

    def _sync_unbound_claim(self, claim: Obj) -> None:
        volume_name = (claim.get("spec") or {}).get("volumeName") or ""
        if not volume_name and self._assign_default_class(claim):
            return  # the update queues the claim again
        if not volume_name:
            delay = self._delay_binding(claim)
            volume = find_matching_volume(claim, self.volumes.store.list(), delay_binding=delay)
            if volume is not None:
                self._bind(self.volumes.newest(volume), claim)
            elif delay:
                self.recorder.event(claim, "Normal", "WaitForFirstConsumer", WAIT_FOR_CONSUMER_MSG)
                self._claim_status(claim, "Pending")
            elif storage.claim_class(claim):
                self._provision(claim)
            else:
                self.recorder.event(claim, "Normal", "FailedBinding", NO_CLASS_MSG)
                self._claim_status(claim, "Pending")
            return
        # The claim names its volume (pre-bound by its author, or by us before a crash).
        volume = self.volumes.get(volume_name)
        if volume is None:
            self._claim_status(claim, "Pending")  # it may be created later
            return
        ref = (volume.get("spec") or {}).get("claimRef")
        if ref is None:
            if (why := mismatch(volume, claim)) is not None:
                self.recorder.event(claim, "Warning", "VolumeMismatch",
                                    f'Cannot bind to requested volume "{volume_name}": {why}')
                self._claim_status(claim, "Pending")
                return
            self._bind(volume, claim)
        elif is_bound_to(volume, claim):
            self._bind(volume, claim)
        elif not _has(claim, storage.BOUND_BY_CONTROLLER):
            self.recorder.event(claim, "Warning", "FailedBinding",
                                f'volume "{volume_name}" already bound to a different claim.')
            self._claim_status(claim, "Pending")
        else:
            raise RuntimeError(f"invalid binding of claim {meta.key_of(claim)} to volume {volume_name}: "
                               f"volume already claimed by {ref.get('namespace')}/{ref.get('name')}")

    def _sync_bound_claim(self, claim: Obj) -> None:
        volume_name = (claim.get("spec") or {}).get("volumeName") or ""
        if not volume_name:
            self._claim_status(claim, "Lost")
            self.recorder.event(claim, "Warning", "ClaimLost",
                                "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
            return
        volume = self.volumes.get(volume_name)
        if volume is None:
            self._claim_status(claim, "Lost")
            self.recorder.event(claim, "Warning", "ClaimLost",
                                "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
            return
        ref = (volume.get("spec") or {}).get("claimRef")
        if ref is None or is_bound_to(volume, claim):
            self._bind(volume, claim)  # finish (or redo) a binding: every step checks whether it is needed
            return
        self._claim_status(claim, "Lost")
        self.recorder.event(claim, "Warning", "ClaimMisbound",
                            "Two claims are bound to the same volume, this one is bound incorrectly")

    def sync_volume(self, volume: Obj) -> None:
        ref = (volume.get("spec") or {}).get("claimRef")
        if ref is None or not ref.get("uid"):
            # Unused, or reserved for a claim that has not been bound to it yet (the claim's sync binds it).
            self._volume_phase(volume, "Available")
            return
        claim = self._claim_of(ref, ask_server=_phase(volume) not in ("Released", "Failed"))
        if claim is None:
            # The claim was deleted: release the volume (once), then carry out its reclaim policy.
            if _phase(volume) not in ("Released", "Failed"):
                volume = self._volume_phase(volume, "Released")
            self._reclaim(volume)
            return
        claim_volume = (claim.get("spec") or {}).get("volumeName") or ""
        if not claim_volume:
            self._enqueue_claim(claim)  # bound on the volume's side only: the claim's sync finishes it
        elif claim_volume == volume["metadata"]["name"]:
            self._volume_phase(volume, "Bound")
        elif (_has(volume, storage.PROVISIONED_BY)
              and volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete"):
            # Provisioned for this claim, which got another volume meanwhile: not needed any more.
            if _phase(volume) not in ("Released", "Failed"):
                volume = self._volume_phase(volume, "Released")
            self._reclaim(volume)
        else:
            self._unbind(volume)

    def _claim_of(self, ref: Obj, ask_server: bool) -> Obj | None:
        """The claim a volume's claimRef names, if it is still that very claim. The informer may not have seen a
        claim made a moment ago (by a provisioner's caller): with `ask_server`, the API server is asked before a
        volume is released (upstream asks only for volumes not yet Released or Failed, as here)."""
        claim_key = key(ref.get("namespace") or "", ref.get("name") or "")
        claim = self.claims.get(claim_key)
        if ask_server and (claim is None or claim["metadata"].get("uid") != ref.get("uid")):
            try:
                claim = self.client.get(CLAIMS, ref.get("name") or "", ref.get("namespace") or "")
            except errors.NotFound:
                return None
        return claim if claim is not None and claim["metadata"].get("uid") == ref.get("uid") else None

    def _assign_default_class(self, claim: Obj) -> bool:
        """Retroactive default StorageClass: a claim created while no class was the default, and that still
        names none (storageClassName unset, not ""), gets the default class once there is one."""
        if (claim.get("spec") or {}).get("storageClassName") is not None or _has(claim, storage.BETA_CLASS_ANNOTATION):
            return False
        chosen = storage.default_class(self.classes.list())
        if chosen is None:
            return False
        updated = meta.deep_copy(claim)
        updated["spec"]["storageClassName"] = chosen["metadata"]["name"]
        self.claims.mutation(self.client.replace(CLAIMS, updated))
        return True

    # What a claim's class says

    def _class(self, claim: Obj) -> Obj | None:
        name = storage.claim_class(claim)
        return self.classes.get(name) if name else None

    def _delay_binding(self, claim: Obj) -> bool:
        """shouldDelayBinding: a WaitForFirstConsumer class, and the scheduler has not picked a node yet."""
        if _has(claim, storage.SELECTED_NODE):
            return False
        sc = self._class(claim)
        return sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"

    def _provision(self, claim: Obj) -> None:
        """provisionClaim for an external provisioner: name it on the claim, and say so."""
        class_name = storage.claim_class(claim)
        sc = self._class(claim)
        if sc is None:
            self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                f'storageclass.storage.k8s.io "{class_name}" not found')
            self._claim_status(claim, "Pending")
            return
        provisioner = sc.get("provisioner") or ""
        annotations = (claim.get("metadata") or {}).get("annotations") or {}
        if (annotations.get(storage.STORAGE_PROVISIONER), annotations.get(storage.BETA_STORAGE_PROVISIONER)) != (
                provisioner, provisioner):
            claim = meta.deep_copy(claim)
            _annotations(claim).update({storage.STORAGE_PROVISIONER: provisioner,
                                        storage.BETA_STORAGE_PROVISIONER: provisioner})
            claim = self.claims.mutation(self.client.replace(CLAIMS, claim))
        self.recorder.event(claim, "Normal", "ExternalProvisioning", EXTERNAL_PROVISIONING_MSG.format(provisioner))
        self._claim_status(claim, "Pending")

    # Writes: binding, unbinding, phases, reclaiming

    def _bind(self, volume: Obj, claim: Obj) -> None:
        """Bind both sides (upstream's bind: bindVolumeToClaim, the volume's phase, bindClaimToVolume, the claim's
        status); each write only when something is missing."""
        volume = self._bind_volume(volume, claim)
        volume = self._volume_phase(volume, "Bound")
        claim = self._bind_claim(claim, volume)
        self._claim_status(claim, "Bound", volume)

    def _bind_volume(self, volume: Obj, claim: Obj) -> Obj:
        ref = (volume.get("spec") or {}).get("claimRef")
        wanted = {k: v for k, v in object_reference(claim).items() if k != "resourceVersion"}
        if isinstance(ref, dict) and all(ref.get(k) == v for k, v in wanted.items()):
            return volume
        updated = meta.deep_copy(volume)
        if ref is None:  # we chose this volume; a claimRef its author wrote is theirs
            _annotations(updated)[storage.BOUND_BY_CONTROLLER] = YES
        updated["spec"]["claimRef"] = {**wanted, "resourceVersion": claim["metadata"].get("resourceVersion", "")}
        return self.volumes.mutation(self.client.replace(VOLUMES, updated))

    def _bind_claim(self, claim: Obj, volume: Obj) -> Obj:
        name = volume["metadata"]["name"]
        spec = claim.get("spec") or {}
        if spec.get("volumeName") == name and _has(claim, storage.BIND_COMPLETED):
            return claim
        updated = meta.deep_copy(claim)
        if spec.get("volumeName") != name:
            updated["spec"]["volumeName"] = name
            _annotations(updated)[storage.BOUND_BY_CONTROLLER] = YES
        _annotations(updated)[storage.BIND_COMPLETED] = YES
        return self.claims.mutation(self.client.replace(CLAIMS, updated))

    def _claim_status(self, claim: Obj, phase: str, volume: Obj | None = None) -> Obj:
        status = dict(claim.get("status") or {})
        status["phase"] = phase
        if volume is not None:
            status["accessModes"] = list(volume["spec"].get("accessModes") or [])
            status["capacity"] = dict(volume["spec"].get("capacity") or {})
        elif phase != "Bound":
            status.pop("accessModes", None)
            status.pop("capacity", None)
        if status == (claim.get("status") or {}):
            return claim
        updated = meta.deep_copy(claim)
        updated["status"] = status
        return self.claims.mutation(self.client.replace_status(CLAIMS, updated))

    def _volume_phase(self, volume: Obj, phase: str, reason: str = "", message: str = "") -> Obj:
        status = volume.get("status") or {}
        if (status.get("phase"), status.get("reason", ""), status.get("message", "")) == (phase, reason, message):
            return volume
        updated = meta.deep_copy(volume)
        updated["status"] = {"phase": phase, "lastPhaseTransitionTime": meta.now()}
        if reason:
            updated["status"]["reason"] = reason
        if message:
            updated["status"]["message"] = message
        if status.get("phase") == phase and status.get("lastPhaseTransitionTime"):
            updated["status"]["lastPhaseTransitionTime"] = status["lastPhaseTransitionTime"]
        return self.volumes.mutation(self.client.replace_status(VOLUMES, updated))

    def _unbind(self, volume: Obj) -> None:
        """unbindVolume: a volume we bound loses its claimRef; one its author pre-bound keeps the reference
        without the uid, waiting for that claim again."""
        updated = meta.deep_copy(volume)
        if _has(volume, storage.BOUND_BY_CONTROLLER):
            updated["spec"].pop("claimRef", None)
            _annotations(updated).pop(storage.BOUND_BY_CONTROLLER, None)
        else:
            updated["spec"]["claimRef"].pop("uid", None)
        updated = self.volumes.mutation(self.client.replace(VOLUMES, updated))
        self._volume_phase(updated, "Available")

    def _reclaim(self, volume: Obj) -> None:
        policy = (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
        if policy == "Retain":
            return  # kept, Released, with its data, until an administrator decides
        if policy == "Recycle":
            self.recorder.event(volume, "Warning", "VolumeFailedRecycle", "No recycler plugin found for the volume!")
            self._volume_phase(volume, "Failed", "VolumeFailedRecycle", "No recycler plugin found for the volume!")
            return
        if volume["metadata"].get("deletionTimestamp"):
            return  # already deleted; a finalizer (its provisioner's cleanup, pv-protection) holds it
        try:
            self.client.delete(VOLUMES, volume["metadata"]["name"],
                               preconditions={"uid": volume["metadata"]["uid"]})
        except errors.NotFound:
            return
        log.info("deleted released volume %s (reclaim policy Delete)", volume["metadata"]["name"])

