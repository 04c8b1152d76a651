"""Which volume a claim gets: pure answers, no API calls.

Upstream: pkg/controller/volume/persistentvolume/index.go (findByClaim: volumes grouped by their access modes,
the groups with the fewest modes tried first) and k8s.io/component-helpers/storage/volume/pv_helpers.go
(FindMatchingVolume: the smallest volume that fits; CheckVolumeModeMismatches, CheckAccessModes,
IsVolumeBoundToClaim), and pv_controller.go (checkVolumeSatisfyClaim: the reasons a pre-bound claim's volume
does not fit).

A claim matches a volume when the volume
- is not reserved for another claim (`spec.claimRef`) and is Available (a new volume first becomes Available in
  its own sync; binding it before would race with that write),
- offers every access mode the claim asks for, and at least the storage it asks for,
- has the claim's volume mode, storage class ("" matches only "") and labels its selector asks for,
- is not being deleted.
A volume pre-bound to the claim (its claimRef names the claim) wins over every other, whatever its phase.
Among the rest, the volume with the fewest access modes, then the smallest, is chosen, so a 1Gi RWO claim does not
take the 100Gi RWX volume another claim may need.
"""

from __future__ import annotations

from decimal import Decimal

from kubeling.api.quantity import parse_quantity
from kubeling.api.selectors import selector_from_label_selector
from kubeling.api.storage import claim_class, volume_class
from kubeling.api.types import Obj


def _size(resources: object) -> Decimal:
    """The `storage` quantity of a capacity or requests map; 0 when absent or unreadable."""
    if not isinstance(resources, dict) or "storage" not in resources:
        return Decimal(0)
    try:
        return parse_quantity(resources["storage"])
    except ValueError:
        return Decimal(0)


def requested_size(claim: Obj) -> Decimal:
    return _size(((claim.get("spec") or {}).get("resources") or {}).get("requests"))


def volume_size(volume: Obj) -> Decimal:
    return _size((volume.get("spec") or {}).get("capacity"))


def volume_mode_mismatch(claim: Obj, volume: Obj) -> bool:
    """CheckVolumeModeMismatches: an unset mode means Filesystem on either side."""
    claim_mode = (claim.get("spec") or {}).get("volumeMode") or "Filesystem"
    volume_mode = (volume.get("spec") or {}).get("volumeMode") or "Filesystem"
    return claim_mode != volume_mode


def access_modes_fit(claim: Obj, volume: Obj) -> bool:
    """CheckAccessModes: the volume offers every mode the claim asks for."""
    offered = set((volume.get("spec") or {}).get("accessModes") or [])
    return set((claim.get("spec") or {}).get("accessModes") or []) <= offered


def is_bound_to(volume: Obj, claim: Obj) -> bool:
    """IsVolumeBoundToClaim: the volume's claimRef names this claim (and, when it has a uid, this very claim)."""
    ref = (volume.get("spec") or {}).get("claimRef")
    if not isinstance(ref, dict):
        return False
    metadata = claim.get("metadata") or {}
    if (ref.get("name"), ref.get("namespace")) != (metadata.get("name"), metadata.get("namespace")):
        return False
    return not ref.get("uid") or ref["uid"] == metadata.get("uid")


def _selector_matches(claim: Obj, volume: Obj) -> bool:
    selector = (claim.get("spec") or {}).get("selector")
    if selector is None:
        return True
    try:
        parsed = selector_from_label_selector(selector)
    except ValueError:
        return False
    return parsed.matches((volume.get("metadata") or {}).get("labels") or {})


def find_matching_volume(claim: Obj, volumes: list[Obj], delay_binding: bool = False) -> Obj | None:
    """The volume the binder should bind `claim` to, or None. With `delay_binding` (a WaitForFirstConsumer
    class and no node chosen yet), only a volume pre-bound to the claim is taken: the others are the scheduler's
    to choose, for the node the pod goes to."""
    requested = requested_size(claim)
    best: tuple[int, Decimal, str] | None = None
    chosen: Obj | None = None
    for volume in volumes:
        if volume_size(volume) < requested or volume_mode_mismatch(claim, volume):
            continue
        if (volume.get("metadata") or {}).get("deletionTimestamp"):
            continue
        spec = volume.get("spec") or {}
        if spec.get("claimRef") is not None:
            if is_bound_to(volume, claim):
                return volume  # reserved for this claim: no need to look further
            continue
        if delay_binding:
            continue
        if (volume.get("status") or {}).get("phase") != "Available":
            continue
        if not _selector_matches(claim, volume) or volume_class(volume) != claim_class(claim):
            continue
        if not access_modes_fit(claim, volume):
            continue
        rank = (len(set(spec.get("accessModes") or [])), volume_size(volume), volume["metadata"]["name"])
        if best is None or rank < best:
            best, chosen = rank, volume
    return chosen


def mismatch(volume: Obj, claim: Obj) -> str | None:
    """Why the volume a claim names in spec.volumeName cannot serve it (checkVolumeSatisfyClaim), or None."""
    if volume_size(volume) < requested_size(claim):
        return "requested PV is too small"
    if volume_class(volume) != claim_class(claim):
        return "storageClassName does not match"
    if volume_mode_mismatch(claim, volume):
        return "incompatible volumeMode"
    if not access_modes_fit(claim, volume):
        return "incompatible accessMode"
    return None
