"""Per-kind behaviour of the API: one strategy object per resource, as upstream's
`pkg/registry/<group>/<kind>/strategy.go`.

`base.Strategy` is what every resource does; a kind that behaves differently has its own module
(`<group>/<kind>.py`), and a kind that differs only in data (its selectable fields, a status reset on create) is
one line in `build`'s table. Adding a kind is a module (when it needs one) and a line below, nothing else: the
generic registry never names a kind.
"""

from __future__ import annotations

from collections.abc import Callable

from kubeling.api.resources import RESOURCES
from kubeling.api.types import Obj
from kubeling.apiserver.allocators import Allocator, IPAllocator
from kubeling.apiserver.strategies.apiextensions.crd import CustomResourceDefinitionStrategy
from kubeling.apiserver.strategies.base import Strategy, served
from kubeling.apiserver.strategies.batch.job import JobStrategy
from kubeling.apiserver.strategies.core.namespace import NamespaceStrategy
from kubeling.apiserver.strategies.core.persistentvolume import PersistentVolumeClaimStrategy, PersistentVolumeStrategy
from kubeling.apiserver.strategies.core.pod import PodStrategy
from kubeling.apiserver.strategies.core.service import ServiceStrategy
from kubeling.apiserver.strategies.scheduling.priorityclass import PriorityClassStrategy

# (group, plural) → the resource's strategy. Custom resources' strategies are added and removed while the server
# runs, as their definitions come and go (apiserver/customresources.py).
Strategies = dict[tuple[str, str], Strategy]

EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                "type", "source", "reportingComponent")


def build(ips: IPAllocator, ports: Allocator, toleration_seconds: tuple[int, int] = (300, 300),
          admit_pod: Callable[[Obj, str], None] | None = None,
          admit_priority_class: Callable[[Obj], None] | None = None,
          storage_classes: Callable[[], list[Obj]] | None = None) -> Strategies:
    """The strategy of every served resource, with the server's options: the Service IP and port ranges, the
    pods' default toleration seconds (not-ready, unreachable) and their admission (see `PodStrategy`), the
    admission of priority classes (`PriorityClassStrategy`), and how to list the StorageClasses for the claims'
    admission (see `PersistentVolumeClaimStrategy`)."""
    listed = [
        NamespaceStrategy(),
        Strategy(served("", "nodes"), selectable_fields=("spec.unschedulable",)),  # core/node/strategy.go
        PodStrategy(toleration_seconds, admit_pod),
        ServiceStrategy(ips, ports),
        Strategy(served("", "secrets"), selectable_fields=("type",)),  # core/secret/strategy.go
        Strategy(served("", "events"), selectable_fields=EVENT_FIELDS),  # core/event/strategy.go
        PersistentVolumeStrategy(),
        PersistentVolumeClaimStrategy(storage_classes),
        Strategy(served("", "resourcequotas"), reset_status_on_create=True),  # core/resourcequota/strategy.go
        Strategy(served("", "replicationcontrollers"), reset_status_on_create=True, status_counts=("replicas",)),
        # apps/<kind>/strategy.go and batch/cronjob/strategy.go: the status is the controller's.
        Strategy(served("apps", "deployments"), reset_status_on_create=True),
        Strategy(served("apps", "replicasets"), reset_status_on_create=True, status_counts=("replicas",)),
        Strategy(served("apps", "daemonsets"), reset_status_on_create=True, status_counts=(
            "currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady")),
        Strategy(served("apps", "statefulsets"), reset_status_on_create=True,
                 status_counts=("replicas", "availableReplicas")),
        JobStrategy(),
        Strategy(served("policy", "poddisruptionbudgets"), reset_status_on_create=True),  # policy/poddisruptionbudget
        PriorityClassStrategy(admit_priority_class),
        Strategy(served("batch", "cronjobs"), reset_status_on_create=True),
        CustomResourceDefinitionStrategy(),
    ]
    table: Strategies = {(s.rtype.group, s.rtype.plural): s for s in listed}
    for rtype in RESOURCES:
        table.setdefault((rtype.group, rtype.plural), Strategy(rtype))  # the default behaviour
    return table


__all__ = ["Strategies", "Strategy", "build"]
