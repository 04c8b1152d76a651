"""Pod helpers the workload controllers share: readiness, availability, and the pod-template hash.

As upstream's `pkg/api/v1/pod` util (IsPodReady, IsPodAvailable, IsPodActive) and `controller.ComputeHash`.
"""

from __future__ import annotations

import datetime
import json

from kubeling.api import meta
from kubeling.api.conditions import get_condition
from kubeling.api.types import Obj

FINISHED_PHASES = ("Succeeded", "Failed")

# Upstream's rand.SafeEncodeString alphabet: no vowels (no accidental words) and no look-alike characters.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def is_pod_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    ready = get_condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


def ready_since(pod: Obj) -> datetime.datetime | None:
    """When a Ready pod became Ready (its condition's lastTransitionTime); None while it is not Ready, or when the
    time is missing."""
    if not is_pod_ready(pod):
        return None
    return meta.parse_time((get_condition(pod, "Ready") or {}).get("lastTransitionTime"))


def is_pod_available(pod: Obj, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Ready, and for more than `min_ready_seconds` (upstream's IsPodAvailable: with a minimum, a Ready condition
    without a transition time does not count)."""
    if not is_pod_ready(pod):
        return False
    if (min_ready_seconds or 0) <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) < now


def is_pod_active(pod: Obj) -> bool:
    """Neither finished nor being deleted: the pods that count towards a controller's replicas (IsPodActive)."""
    return ((pod.get("status") or {}).get("phase") not in FINISHED_PHASES
            and not (pod.get("metadata") or {}).get("deletionTimestamp"))


# --- the pod-template hash ---


def fnv32a(data: bytes) -> int:
    """32-bit FNV-1a, the hash upstream's ComputeHash feeds the template into."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """Upstream's rand.SafeEncodeString: each character's code point picks a letter of the safe alphabet."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    """A pod template's hash, as upstream's ComputeHash: FNV-1a 32 over its canonical JSON (sorted keys), then the
    collision count (when given) as 8 little-endian bytes; the decimal sum spelled in the safe alphabet.
    Deterministic, so stable across controller restarts. Deployments use it as `pod-template-hash`, DaemonSets
    and StatefulSets as their revision."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\0\0\0\0"
    return safe_encode(str(fnv32a(data)))
