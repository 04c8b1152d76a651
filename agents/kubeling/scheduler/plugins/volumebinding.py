"""VolumeBinding: a pod goes only where its PersistentVolumeClaims can be used, and its WaitForFirstConsumer
claims learn which node that is before the pod is bound.

Upstream's pkg/scheduler/framework/plugins/volumebinding (volume_binding.go and binder.go), cut down:

- pre_filter: every claim the pod names must exist and not be being deleted (upstream's podHasPVCs); a claim
  that is not bound and whose class binds Immediately is for the PV controller to bind first, so the pod waits
  ("pod has unbound immediate PersistentVolumeClaims"). The claims are sorted into bound ones (their volumes'
  node affinity matters) and delayed ones (WaitForFirstConsumer: to be bound to a node-compatible volume or
  provisioned on the node chosen).
- filter: a bound claim's volume must allow the node ("node(s) had volume node affinity conflict"); a delayed
  claim needs an available volume usable on the node, or a class with a provisioner (and, when the class lists
  allowedTopologies, a node inside them) — else "node(s) didn't find available persistent volumes to bind".
- pre_bind (after the node is chosen, before the pod is bound): a volume found for a delayed claim is pre-bound
  to it (its `claimRef`); a claim to provision gets the `volume.kubernetes.io/selected-node` annotation. Then,
  as upstream, the binding waits until the PV controller has bound every claim (the provisioner made the volume
  on that node), so a pod reaches its kubelet only with volumes it can mount.

Reading the claims, volumes and classes and writing the pre-bindings go through a `VolumeAccess` (the scheduler
gives one backed by informers; tests give a fake), so the plugin itself is pure decisions.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from kubeling.api import storage
from kubeling.api.types import Obj
from kubeling.scheduler.framework import SKIP, SUCCESS, Code, NodeInfo, PodInfo, Status, unschedulable

UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
NODE_CONFLICT = "node(s) had volume node affinity conflict"
BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
BIND_TIMEOUT = 600.0  # upstream's bindTimeoutSeconds default


class VolumeAccess(Protocol):
    """What the plugin reads and writes; `wait_bound` blocks until the claims are bound (True) or time is up."""

    def claim(self, namespace: str, name: str) -> Obj | None: ...

    def volume(self, name: str) -> Obj | None: ...

    def volumes(self) -> list[Obj]: ...

    def storage_class(self, name: str) -> Obj | None: ...

    def pre_bind_volume(self, pv: Obj, claim: Obj) -> None: ...

    def select_node(self, claim: Obj, node: str) -> None: ...

    def wait_bound(self, namespace: str, names: list[str], timeout: float) -> bool: ...


class NoVolumes:
    """The access of a scheduler that watches no claims: every claim is missing."""

    def claim(self, namespace: str, name: str) -> Obj | None:
        return None

    def volume(self, name: str) -> Obj | None:
        return None

    def volumes(self) -> list[Obj]:
        return []

    def storage_class(self, name: str) -> Obj | None:
        return None

    def pre_bind_volume(self, pv: Obj, claim: Obj) -> None:
        raise RuntimeError("no volume access")

    def select_node(self, claim: Obj, node: str) -> None:
        raise RuntimeError("no volume access")

    def wait_bound(self, namespace: str, names: list[str], timeout: float) -> bool:
        return False


@dataclasses.dataclass
class Delayed:
    """An unbound WaitForFirstConsumer claim and what could serve it."""

    claim: Obj
    storage_class: Obj
    candidates: list[Obj]  # available volumes that fit, smallest first; node affinity is checked per node


@dataclasses.dataclass
class Claims:
    bound_volumes: list[Obj]
    delayed: list[Delayed]
    by_node: dict[str, tuple[list[tuple[Obj, Obj]], list[Obj]]]  # node → ((claim, pv) to pre-bind, claims to provision)


def claim_names(spec: Obj) -> list[str]:
    return [v["persistentVolumeClaim"].get("claimName", "") for v in spec.get("volumes") or []
            if v.get("persistentVolumeClaim")]


def _access_modes_fit(pv: Obj, claim: Obj) -> bool:
    offered = set((pv.get("spec") or {}).get("accessModes") or [])
    return set((claim.get("spec") or {}).get("accessModes") or []) <= offered


def _available_for(pv: Obj, claim: Obj) -> bool:
    """Can `pv` be bound to `claim` (class, access modes, size; free, or already pre-bound to this claim)?"""
    spec = pv.get("spec") or {}
    ref = spec.get("claimRef")
    if ref:
        metadata = claim["metadata"]
        if (ref.get("namespace"), ref.get("name")) != (metadata.get("namespace"), metadata.get("name")):
            return False
        if ref.get("uid") and ref.get("uid") != metadata.get("uid"):
            return False
    elif (pv.get("status") or {}).get("phase") not in (None, "", "Available", "Pending"):
        return False
    if pv.get("metadata", {}).get("deletionTimestamp"):
        return False
    return (storage.volume_class(pv) == storage.claim_class(claim) and _access_modes_fit(pv, claim)
            and storage.volume_capacity(pv) >= storage.claim_request(claim))


def _allowed_topologies_match(storage_class: Obj, node: NodeInfo) -> bool:
    terms = storage_class.get("allowedTopologies") or []
    if not terms:
        return True
    for term in terms:
        expressions = term.get("matchLabelExpressions") or []
        if all(node.labels.get(e.get("key", "")) in (e.get("values") or []) for e in expressions):
            return True
    return False


class VolumeBinding:
    name = "VolumeBinding"

    def __init__(self, volumes: VolumeAccess | None = None, bind_timeout: float = BIND_TIMEOUT) -> None:
        self.volumes: VolumeAccess = volumes or NoVolumes()
        self.bind_timeout = bind_timeout

    def pre_filter(self, pod: PodInfo) -> Status:
        names = claim_names(pod.spec)
        if not names:
            return SKIP
        bound: list[Obj] = []
        delayed: list[Delayed] = []
        immediate = False
        for name in names:
            claim = self.volumes.claim(pod.namespace, name)
            if claim is None:
                return unschedulable(f'persistentvolumeclaim "{name}" not found', resolvable=False)
            if claim["metadata"].get("deletionTimestamp"):
                return unschedulable(f'persistentvolumeclaim "{name}" is being deleted', resolvable=False)
            volume_name = (claim.get("spec") or {}).get("volumeName")
            if (claim.get("status") or {}).get("phase") == "Lost":
                return unschedulable(f'persistentvolumeclaim "{name}" bound to non-existent persistentvolume '
                                     f'"{volume_name}"', resolvable=False)
            if volume_name:
                pv = self.volumes.volume(volume_name)
                if pv is None:
                    return unschedulable(f'persistentvolume "{volume_name}" not found', resolvable=False)
                bound.append(pv)
                continue
            storage_class = self.volumes.storage_class(storage.claim_class(claim))
            if storage_class is None or storage_class.get("volumeBindingMode") != storage.WAIT_FOR_FIRST_CONSUMER:
                immediate = True
                continue
            candidates = sorted((pv for pv in self.volumes.volumes() if _available_for(pv, claim)),
                                key=storage.volume_capacity)
            delayed.append(Delayed(claim, storage_class, candidates))
        if immediate:
            return unschedulable(UNBOUND_IMMEDIATE, resolvable=False)
        pod.state[self.name] = Claims(bound, delayed, {})
        return SUCCESS

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        claims: Claims = pod.state[self.name]
        reasons = []
        if any(not storage.pv_node_affinity_matches(pv, node.labels, node.name) for pv in claims.bound_volumes):
            reasons.append(NODE_CONFLICT)
        static: list[tuple[Obj, Obj]] = []
        provision: list[Obj] = []
        taken: set[str] = set()
        for item in claims.delayed:
            found = next((pv for pv in item.candidates if pv["metadata"]["name"] not in taken
                          and storage.pv_node_affinity_matches(pv, node.labels, node.name)), None)
            if found is not None:
                taken.add(found["metadata"]["name"])
                static.append((item.claim, found))
            elif (item.storage_class.get("provisioner") or storage.NO_PROVISIONER) != storage.NO_PROVISIONER \
                    and _allowed_topologies_match(item.storage_class, node):
                provision.append(item.claim)
            elif BIND_CONFLICT not in reasons:
                reasons.append(BIND_CONFLICT)
        if reasons:
            return unschedulable(*reasons, resolvable=False)
        if claims.delayed:
            claims.by_node[node.name] = (static, provision)
        return SUCCESS

    def pre_bind(self, pod: PodInfo, node: str) -> Status:
        """Pre-bind the volumes found and ask for the rest on `node`; wait until the PV controller bound them."""
        claims: Claims | None = pod.state.get(self.name)
        if claims is None or not claims.delayed:
            return SUCCESS
        static, provision = claims.by_node.get(node, ([], []))
        try:
            for claim, pv in static:
                self.volumes.pre_bind_volume(pv, claim)
            for claim in provision:
                self.volumes.select_node(claim, node)
        except Exception as exc:  # a conflict or a refused write: schedule the pod again from the start
            return Status(Code.ERROR, (f"binding volumes: {exc}",), self.name)
        names = [item.claim["metadata"]["name"] for item in claims.delayed]
        if not self.volumes.wait_bound(pod.namespace, names, self.bind_timeout):
            return Status(Code.ERROR, ("binding volumes: timed out waiting for the condition",), self.name)
        return SUCCESS
