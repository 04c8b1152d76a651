"""Printers for the `apps` group: deployments, replica sets, stateful sets and daemon sets.

Upstream (v1.32): pkg/printers/internalversion/printers.go, printDeployment, printReplicaSet, printStatefulSet,
printDaemonSet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    Printer,
    column,
    container_cells,
    dig,
    format_label_selector,
    format_labels,
    label_selector_string,
    object_age,
    object_name,
)

# Field descriptions, as upstream takes them from the API types' SwaggerDoc().
_DOC = {
    "nodeSelector": (
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a "
        "node's labels for the pod to be scheduled on that node. More info: "
        "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"
    ),
    "rs.replicas": (
        "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and "
        "unspecified. Defaults to 1. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller"
    ),
    "rs.status.replicas": (
        "Replicas is the most recently oberved number of replicas. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller"
    ),
    "rs.readyReplicas": "The number of ready replicas for this replica set.",
    "rs.selector": (
        "Selector is a label query over pods that should match the replica count. If the selector is empty, it is "
        "defaulted to the labels present on the pod template. Label keys and values that must match in order to "
        "be controlled by this replica set. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
    "ds.desired": (
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the "
        "daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"
    ),
    "ds.current": (
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More "
        "info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"
    ),
    "ds.ready": (
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running "
        "and ready."
    ),
    "ds.updated": "The total number of nodes that are running updated daemon pod",
    "ds.available": (
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running "
        "and available (ready for at least spec.minReadySeconds)"
    ),
    "ds.selector": (
        "A label query over pods that are managed by the daemon set. Must match in order to be controlled. If "
        "empty, defaulted to labels on Pod template. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
    "deploy.updated": (
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec."
    ),
    "deploy.available": (
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."
    ),
    "deploy.selector": (
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected "
        "by this deployment."
    ),
}


_DEPLOYMENT_COLUMNS = [
    NAME,
    column("Ready", "Number of the pod with ready state"),
    column("Up-to-date", _DOC["deploy.updated"]),
    column("Available", _DOC["deploy.available"]),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", _DOC["deploy.selector"], priority=1),
]


def _replicas(obj: dict[str, Any]) -> int:
    replicas = dig(obj, "spec", "replicas")
    return 1 if replicas is None else replicas  # apps/v1 defaulting


def _deployment_cells(d: dict[str, Any], now: datetime) -> list[Any]:
    status = d.get("status") or {}
    try:
        selector = label_selector_string(dig(d, "spec", "selector"))
    except ValueError:
        selector = "<invalid>"
    return [
        object_name(d), f"{status.get('readyReplicas', 0)}/{_replicas(d)}", status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0), object_age(d, now), *container_cells(dig(d, "spec", "template", "spec")),
        selector,
    ]  # fmt: skip


_REPLICASET_COLUMNS = [
    NAME,
    column("Desired", _DOC["rs.replicas"], "integer"),
    column("Current", _DOC["rs.status.replicas"], "integer"),
    column("Ready", _DOC["rs.readyReplicas"], "integer"),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", _DOC["rs.selector"], priority=1),
]


def _replicaset_cells(rs: dict[str, Any], now: datetime) -> list[Any]:
    status = rs.get("status") or {}
    return [
        object_name(rs), _replicas(rs), status.get("replicas", 0), status.get("readyReplicas", 0), object_age(rs, now),
        *container_cells(dig(rs, "spec", "template", "spec")), format_label_selector(dig(rs, "spec", "selector")),
    ]  # fmt: skip


_STATEFULSET_COLUMNS = [NAME, column("Ready", "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES]


def _statefulset_cells(sts: dict[str, Any], now: datetime) -> list[Any]:
    ready = dig(sts, "status", "readyReplicas") or 0
    pod_spec = dig(sts, "spec", "template", "spec")
    return [object_name(sts), f"{ready}/{_replicas(sts)}", object_age(sts, now), *container_cells(pod_spec)]


_DAEMONSET_COLUMNS = [
    NAME,
    column("Desired", _DOC["ds.desired"], "integer"),
    column("Current", _DOC["ds.current"], "integer"),
    column("Ready", _DOC["ds.ready"], "integer"),
    column("Up-to-date", _DOC["ds.updated"], "integer"),
    column("Available", _DOC["ds.available"], "integer"),
    column("Node Selector", _DOC["nodeSelector"]),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", _DOC["ds.selector"], priority=1),
]


def _daemonset_cells(ds: dict[str, Any], now: datetime) -> list[Any]:
    status = ds.get("status") or {}
    pod_spec = dig(ds, "spec", "template", "spec") or {}
    counts = ("desiredNumberScheduled", "currentNumberScheduled", "numberReady", "updatedNumberScheduled",
              "numberAvailable")  # fmt: skip
    return [
        object_name(ds), *(status.get(c, 0) for c in counts), format_labels(pod_spec.get("nodeSelector")),
        object_age(ds, now), *container_cells(pod_spec), format_label_selector(dig(ds, "spec", "selector")),
    ]  # fmt: skip


GROUP = "apps"

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "Deployment": Printer(_DEPLOYMENT_COLUMNS, _deployment_cells),
    "ReplicaSet": Printer(_REPLICASET_COLUMNS, _replicaset_cells),
    "StatefulSet": Printer(_STATEFULSET_COLUMNS, _statefulset_cells),
    "DaemonSet": Printer(_DAEMONSET_COLUMNS, _daemonset_cells),
}
