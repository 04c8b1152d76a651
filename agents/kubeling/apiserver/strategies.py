"""Per-kind behaviour of the generic registry: what upstream keeps in each resource's `strategy.go`."""

from __future__ import annotations

import datetime
from typing import Any

from kubeling.api import meta
from kubeling.api.resources import ResourceType
from kubeling.apiserver.allocators import Allocator, IPAllocator, service_claims, service_releases

Obj = dict[str, Any]


class ServiceAllocation:
    """ClusterIPs and NodePorts for Services: claimed on create/update, released on delete."""

    def __init__(self, ips: IPAllocator, ports: Allocator) -> None:
        self.ips, self.ports = ips, ports

    def claims(self, service: Obj, old: Obj | None) -> tuple[list[tuple[str, bytes]], list[str]]:
        return service_claims(self.ips, self.ports, service, old)

    def releases(self, service: Obj) -> list[str]:
        return service_releases(self.ips, self.ports, service)


def prepare_create(rtype: ResourceType, obj: Obj) -> None:
    if rtype.kind == "Job":
        _job_selector(obj)
    elif rtype.kind == "Namespace":
        obj.setdefault("status", {})["phase"] = "Active"


def _job_selector(job: Obj) -> None:
    """Upstream generates a Job's selector from its uid unless `manualSelector` is set."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector"):
        return
    uid, name = job["metadata"]["uid"], job["metadata"]["name"]
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
              "controller-uid": uid, "job-name": name}
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec.get("template")
    if isinstance(template, dict):
        template_meta = template.setdefault("metadata", {})
        if isinstance(template_meta, dict):
            template_meta.setdefault("labels", {}).update(labels)


def grace_period(rtype: ResourceType, obj: Obj, requested: Any) -> int:
    """Seconds a deleted object stays (Terminating) before it goes; only pods on a node have one."""
    if rtype.kind != "Pod":
        return 0
    spec, status = obj.get("spec", {}), obj.get("status", {})
    # A pod no kubelet runs (unscheduled or finished) has nobody to wait for.
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    if isinstance(requested, int) and requested >= 0:
        grace = requested
    elif obj["metadata"].get("deletionGracePeriodSeconds") is not None:
        grace = obj["metadata"]["deletionGracePeriodSeconds"]
    else:
        grace = spec.get("terminationGracePeriodSeconds", 30)
    current = obj["metadata"].get("deletionGracePeriodSeconds")
    # A second delete may shorten the grace period, never lengthen it.
    if current is not None:
        grace = min(grace, current)
    return int(grace)


def mark_deleting(rtype: ResourceType, obj: Obj, grace: int) -> None:
    metadata = obj["metadata"]
    if not metadata.get("deletionTimestamp") or (
        metadata.get("deletionGracePeriodSeconds") is not None and grace < metadata["deletionGracePeriodSeconds"]
    ):
        moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=grace)
        metadata["deletionTimestamp"] = meta.format_time(moment)
        metadata["deletionGracePeriodSeconds"] = grace
        if "generation" in metadata:
            metadata["generation"] += 1
    if rtype.kind == "Namespace":
        obj.setdefault("status", {})["phase"] = "Terminating"


def set_condition(obj: Obj, kind: str, status: str, reason: str = "", message: str = "") -> None:
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    for condition in conditions:
        if condition.get("type") == kind:
            if condition.get("status") != status:
                condition["lastTransitionTime"] = meta.now()
            condition["status"] = status
            break
    else:
        condition = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": meta.now()}
        conditions.append(condition)
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
