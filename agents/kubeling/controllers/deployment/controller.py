"""The Deployment controller's frame: which events queue a Deployment, which ReplicaSets it owns, and which
strategy a sync runs, as upstream's pkg/controller/deployment/deployment_controller.go.

A Deployment rolls its pod template out through ReplicaSets. Each template gets a ReplicaSet named
`<deployment>-<pod-template-hash>`; the one whose template equals the Deployment's is the *new* one, all others
are *old*. A sync scales them one step towards the new template, within `maxSurge`/`maxUnavailable`
(RollingUpdate, rolling.py) or old-to-zero-then-new (Recreate, recreate.py), then writes status (progress.py).
"""

from __future__ import annotations

import copy
from typing import Any

from kubeling.api import meta
from kubeling.api.selectors import selector_from_label_selector
from kubeling.api.types import Obj, OwnerReference
from kubeling.client import errors
from kubeling.client.api import STRATEGIC_PATCH, Client
from kubeling.client.events import EventRecorder
from kubeling.client.keys import key_of
from kubeling.client.mutationcache import MutationCache
from kubeling.controllers.base import (
    InformerFactory,
    claim,
    controller_of,
    controller_uid_index,
    owner_of,
    owner_reference,
    selecting,
    split_key,
)
from kubeling.controllers.deployment.recreate import POD_OWNER_INDEX, Recreate
from kubeling.controllers.deployment.rollback import Rollback
from kubeling.controllers.deployment.rolling import RollingUpdate
from kubeling.controllers.deployment.util import DEPLOYMENTS, PODS, REPLICASETS


class DeploymentController(RollingUpdate, Recreate, Rollback):
    """The controller: its informers and handlers here, its steps from the strategy classes it is made of (all
    built on sync.Sync), as upstream's DeploymentController whose methods are spread over the package's files."""

    name = "deployment"
    workers = 5

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: Any = None) -> None:
        super().__init__(client, informers, recorder, options)
        d_informer = informers.informer(DEPLOYMENTS)
        rs_informer, pod_informer = informers.informer(REPLICASETS), informers.informer(PODS)
        # Reads see our own writes before the informers do: the next sync must not act on what it already changed.
        self.deployments = MutationCache(d_informer.store)
        self.replicasets = MutationCache(rs_informer.store)
        self.pods = pod_informer.store
        self.pods.add_indexer(POD_OWNER_INDEX, controller_uid_index())
        d_informer.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        rs_informer.add_handler(self._on_rs_add, self._on_rs_update, self._on_rs_delete)
        pod_informer.add_handler(on_delete=self._on_pod_delete)

    # Handlers

    def _deployment_for(self, obj: Obj, ref: OwnerReference | None = None) -> Obj | None:
        return owner_of(obj, "Deployment", self.deployments.store, ref)

    def _matching_deployments(self, rs: Obj) -> list[Obj]:
        return selecting(self.deployments.store.list(meta.namespace_of(rs)), rs["metadata"].get("labels"))

    def _on_rs_add(self, rs: Obj) -> None:
        if rs["metadata"].get("deletionTimestamp"):
            self._on_rs_delete(rs)
        elif controller_of(rs):
            if (d := self._deployment_for(rs)) is not None:
                self.enqueue(d)
        else:
            for d in self._matching_deployments(rs):
                self.enqueue(d)

    def _on_rs_update(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        old_ref, new_ref = controller_of(old), controller_of(new)
        if old_ref != new_ref and old_ref and (d := self._deployment_for(old, old_ref)) is not None:
            self.enqueue(d)
        if new_ref:
            if (d := self._deployment_for(new, new_ref)) is not None:
                self.enqueue(d)
        elif old_ref != new_ref or old["metadata"].get("labels") != new["metadata"].get("labels"):
            for d in self._matching_deployments(new):
                self.enqueue(d)

    def _on_rs_delete(self, rs: Obj) -> None:
        if (d := self._deployment_for(rs)) is not None:
            self.enqueue(d)

    def _on_pod_delete(self, pod: Obj) -> None:
        """Recreate waits for old pods to be gone: each disappearance may be the last one."""
        rs = owner_of(pod, "ReplicaSet", self.replicasets.store)
        if rs is None:
            return
        d = self._deployment_for(rs)
        if d is not None and (d.get("spec", {}).get("strategy") or {}).get("type") == "Recreate":
            self.enqueue(d)

    # Sync

    def sync(self, key: str) -> None:
        cached = self.deployments.get(key)
        if cached is None:
            return
        d = {**copy.deepcopy(cached), "apiVersion": "apps/v1", "kind": "Deployment"}
        rss = self._claim_replica_sets(d)
        if d["metadata"].get("deletionTimestamp"):
            self._sync_status_only(d, rss)
            return
        self._check_paused_conditions(d)
        if d["spec"].get("paused"):
            self._sync_scale(d, rss)
        elif (d["spec"].get("rollbackTo") or {}).get("revision") is not None:
            self._rollback(d, rss)
        elif self._is_scaling_event(d, rss):
            self._sync_scale(d, rss)
        elif (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            self._rollout_recreate(d, rss)
        else:
            self._rollout_rolling(d, rss)

    def _claim_replica_sets(self, d: Obj) -> list[Obj]:
        """ReplicaSets this Deployment owns, after adopting matching orphans and releasing ones that stopped
        matching its selector (upstream's getReplicaSetsForDeployment with its ControllerRefManager)."""
        uid = d["metadata"]["uid"]
        namespace, _ = split_key(key_of(d))

        def can_adopt() -> None:  # adopt only if this very Deployment (not a deleted namesake) still exists
            fresh = self.client.get(DEPLOYMENTS, d["metadata"]["name"], namespace)
            if fresh["metadata"].get("uid") != uid or fresh["metadata"].get("deletionTimestamp"):
                raise errors.ApiError(409, "Conflict", f"original Deployment {key_of(d)} is gone or deleting")

        return claim(d, selector_from_label_selector(d["spec"].get("selector")), self.replicasets.list(namespace),
                     can_adopt=can_adopt, adopt=lambda rs: self._patch_rs_owner(rs, owner_reference(d)),
                     release=lambda rs: self._patch_rs_owner(rs, {"$patch": "delete", "uid": uid}))

    def _patch_rs_owner(self, rs: Obj, ref: OwnerReference | dict[str, str]) -> Obj | None:
        """Adopt (`ref` is our reference) or release (`ref` deletes it) `rs`; None if it is gone."""
        patch = {"metadata": {"ownerReferences": [ref], "uid": rs["metadata"]["uid"]}}
        try:
            return self.replicasets.mutation(self.client.patch(REPLICASETS, rs["metadata"]["name"], patch,
                                                               rs["metadata"]["namespace"],
                                                               patch_type=STRATEGIC_PATCH))
        except errors.NotFound:
            return None
