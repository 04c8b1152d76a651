"""Server-side `meta.k8s.io/v1` Tables: what `kubectl get` prints.

kubectl stopped carrying per-type column printers, so without a Table from the server it can only show NAME and
AGE. The columns, cell formats and descriptions here follow upstream's pkg/printers/internalversion/printers.go
(v1.32). The API server renders with `Wide: true`, so every row carries the priority-1 cells too and kubectl
drops them unless asked for `-o wide`.

Printers read stored objects. Where upstream reads a field that API defaulting always fills (a Service's
type, a Deployment's replicas), a missing value is read as its default so an undefaulted object still prints
the way upstream would print it after defaulting.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubeling.api.errors import bad_request
from kubeling.api.resources import ResourceType

INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")

# Field descriptions, as upstream takes them from the API types' SwaggerDoc().
_DOC = {
    "name": (
        "Name must be unique within a namespace. Is required when creating resources, although some resources may "
        "allow a client to request the generation of an appropriate name automatically. Name is primarily intended "
        "for creation idempotence and configuration definition. Cannot be updated. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    ),
    "creationTimestamp": (
        "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
        "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
        "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
        "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
    ),
    "containers": "Names of each container in the template.",
    "images": "Images referenced by each container in the template.",
    "podIP": "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    "nodeName": (
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling "
        "by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes "
        "responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod "
        "to be scheduled on a specific node. "
        "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"
    ),
    "nominatedNodeName": (
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled "
        "right away as preemption victims receive their graceful termination periods. This field does not "
        "guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if "
        "other nodes become available sooner. Scheduler may also decide to give the resources on this node to a "
        "higher priority pod that is created after preemption. As a result, this field may be different than "
        "PodSpec.nodeName when the pod is scheduled."
    ),
    "readinessGates": (
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its "
        'containers are ready AND all conditions specified in the readiness gates have status equal to "True" '
        "More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"
    ),
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
    "job.succeeded": (
        "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. "
        "However, it may decrease in reaction to scale down of elastic indexed jobs."
    ),
    "job.selector": (
        "A label query over pods that should match the pod count. Normally, the system sets this field for you. "
        "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
    "cj.schedule": "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
    "cj.timeZone": (
        "The time zone name for the given schedule, see "
        "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the "
        "time zone of the kube-controller-manager process. The set of valid time zone names and the time zone "
        "offset is loaded from the system-wide time zone database by the API server during CronJob validation and "
        "the controller manager during execution. If no system-wide time zone database can be found a bundled "
        "version of the database is used instead. If the time zone name becomes invalid during the lifetime of a "
        "CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will "
        "create a system event with the reason UnknownTimeZone. More information can be found in "
        "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones"
    ),
    "cj.suspend": (
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started "
        "executions.  Defaults to false."
    ),
    "cj.active": "A list of pointers to currently running jobs.",
    "cj.lastScheduleTime": "Information when was the last time the job was successfully scheduled.",
    "svc.type": (
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, "
        "ClusterIP, NodePort, and LoadBalancer. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types"
    ),
    "svc.clusterIP": (
        "clusterIP is the IP address of the service and is usually assigned randomly. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "svc.externalIPs": (
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this "
        "service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic "
        "arrives at a node with this IP.  A common example is external load-balancers that are not part of the "
        "Kubernetes system."
    ),
    "svc.ports": (
        "The list of ports that are exposed by this service. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "svc.selector": (
        "Route service traffic to pods with label keys and values matching this selector. If empty or not present, "
        "the service is assumed to have an external process managing its endpoints, which Kubernetes will not "
        "modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. "
        "More info: https://kubernetes.io/docs/concepts/services-networking/service/"
    ),
    "ep.subsets": (
        "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the "
        "IPs they share. A single address with multiple ports, some of which are ready and some of which are not "
        "(because they come from different containers) will result in the address being displayed in different "
        "subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the "
        "same subset. Sets of addresses and ports that comprise a service."
    ),
    "node.kubeletVersion": "Kubelet Version reported by the node.",
    "node.addresses": (
        "List of addresses reachable to the node. Queried from cloud provider, if available. More info: "
        "https://kubernetes.io/docs/reference/node/node-status/#addresses"
    ),
    "node.osImage": "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    "node.kernelVersion": "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    "node.containerRuntimeVersion": (
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."
    ),
    "ev.lastTimestamp": "The time at which the most recent occurrence of this event was recorded.",
    "ev.firstTimestamp": "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    "ev.type": "Type of this event (Normal, Warning), new types could be added in the future",
    "ev.reason": (
        "This should be a short, machine understandable string that gives the reason for the transition into the "
        "object's current status."
    ),
    "ev.involvedObject": "The object that this event is about.",
    "ev.fieldPath": (
        "If referring to a piece of an object instead of an entire object, this string should contain a valid "
        "JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object "
        "reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" "
        "(where \"name\" refers to the name of the container that triggered the event) or if no container name is "
        "specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have "
        "some well-defined way of referencing a part of an object."
    ),
    "ev.source": "The component reporting this event. Should be a short machine understandable string.",
    "ev.message": "A human-readable description of the status of this operation.",
    "ev.count": "The number of times this event has occurred.",
    "secret.type": (
        "Used to facilitate programmatic handling of secret data. More info: "
        "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"
    ),
    "secret.data": (
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The "
        "serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly "
        "non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4"
    ),
    "sa.secrets": (
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are "
        "allowed to use. More info: https://kubernetes.io/docs/concepts/configuration/secret"
    ),
    "cm.data": (
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. "
        "Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not "
        "overlap with the keys in the BinaryData field, this is enforced during validation process."
    ),
    "lease.holderIdentity": "holderIdentity contains the identity of the holder of a current lease.",
}


def _col(name: str, description: str, type_: str = "string", priority: int = 0, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


_NAME = _col("Name", _DOC["name"], fmt="name")
_AGE = _col("Age", _DOC["creationTimestamp"])
_CONTAINERS = _col("Containers", _DOC["containers"], priority=1)
_IMAGES = _col("Images", _DOC["images"], priority=1)


# ---- formatting helpers shared by the printers ----


def human_duration(seconds: float) -> str:
    """Upstream's duration.HumanDuration: about two significant figures, e.g. `5s`, `3m20s`, `5h`, `2d3h`, `2y3d`."""
    whole = int(seconds)  # truncates toward zero, as Go's int() does
    if whole < -1:
        return "<invalid>"  # more than a second in the future: clocks disagree too much to say
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        secs = whole % 60
        return f"{minutes}m" if secs == 0 else f"{minutes}m{secs}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        mins = minutes % 60
        return f"{hours}h" if mins == 0 else f"{hours}h{mins}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _parse_time(value: Any) -> datetime | None:
    """RFC3339 (`2025-01-01T00:00:00Z`) or MicroTime (`...00.000000Z`); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _since(value: Any, now: datetime) -> str:
    """Upstream's translateTimestampSince: `<unknown>` for a zero time, else the human age."""
    when = _parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def _format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: sorted `k=v` pairs, `<none>` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


_SELECTOR_OPS = {"In": " in ", "NotIn": " notin ", "Exists": "", "DoesNotExist": ""}


def label_selector_string(sel: dict[str, Any] | None) -> str:
    """A LabelSelector in upstream's string form, e.g. `app=web,tier in (a,b)`.

    Matches labels.Selector.String() after LabelSelectorAsSelector: requirements sorted by key, set values
    sorted, `key` for Exists and `!key` for DoesNotExist. A missing or empty selector gives "". Raises
    ValueError for a malformed expression (unknown operator, or values that do not fit the operator).
    """
    if not sel:
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in (sel.get("matchLabels") or {}).items():
        requirements.append((key, f"{key}={value}"))
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), list(expr.get("values") or [])
        if op not in _SELECTOR_OPS:
            raise ValueError(f'"{op}" is not a valid label selector operator')
        if op in ("In", "NotIn"):
            if not values:
                raise ValueError("for 'in', 'notin' operators, values set can't be empty")
            requirements.append((key, f"{key}{_SELECTOR_OPS[op]}({','.join(sorted(values))})"))
        else:
            if values:
                raise ValueError("values set must be empty for exists and does not exist")
            requirements.append((key, key if op == "Exists" else f"!{key}"))
    requirements.sort(key=lambda r: r[0])  # stable, like upstream's sort by key
    return ",".join(text for _, text in requirements)


def _format_label_selector(sel: dict[str, Any] | None) -> str:
    """metav1.FormatLabelSelector: `<none>` for an empty selector, `<error>` for a malformed one."""
    try:
        text = label_selector_string(sel)
    except ValueError:
        return "<error>"
    return text or "<none>"


def _container_cells(pod_spec: dict[str, Any] | None) -> list[str]:
    containers = (pod_spec or {}).get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


def _dig(obj: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _name(obj: dict[str, Any]) -> str:
    return _dig(obj, "metadata", "name") or ""


def _age(obj: dict[str, Any], now: datetime) -> str:
    return _since(_dig(obj, "metadata", "creationTimestamp"), now)


# ---- pods ----

_POD_COLUMNS = [
    _NAME,
    _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "The aggregate status of the containers in this pod."),
    _col(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this "
        "pod has restarted.",
    ),
    _AGE,
    _col("IP", _DOC["podIP"], priority=1),
    _col("Node", _DOC["nodeName"], priority=1),
    _col("Nominated Node", _DOC["nominatedNodeName"], priority=1),
    _col("Readiness Gates", _DOC["readinessGates"], priority=1),
]


def _terminated_reason(terminated: dict[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _has_condition(conditions: list[dict[str, Any]] | None, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conditions or [])


def _pod_status(pod: dict[str, Any]) -> tuple[str, int, int, datetime | None]:
    """printPod's reasoning: (STATUS, ready containers, restarts, time of the last restart)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    # Sidecars (init containers with restartPolicy Always) keep running, so they count as containers.
    init_specs = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    ready = 0
    restarts = sidecar_restarts = 0
    last_restart = last_sidecar_restart = None

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        finished = _parse_time(_dig(cs, "lastState", "terminated", "finishedAt"))
        restarts += cs.get("restartCount", 0)
        last_restart = _later(last_restart, finished)
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if is_sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _has_condition(status.get("conditions"), "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        # Walk backwards so the first container's state is the one that ends up in STATUS.
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            restarts += cs.get("restartCount", 0)
            last_restart = _later(last_restart, _parse_time(_dig(cs, "lastState", "terminated", "finishedAt")))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_reason(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A container that completed while another still runs does not make the pod Completed.
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(status.get("conditions"), "Ready") else "NotReady"

    if _dig(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason, ready, restarts, last_restart


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _pod_cells(pod: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    reason, ready, restarts, last_restart = _pod_status(pod)
    total = len(spec.get("containers") or []) + sum(
        1 for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    )
    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"

    pod_ips = status.get("podIPs") or []
    ip = (pod_ips[0].get("ip") if pod_ips else status.get("podIP")) or "<none>"
    gates = spec.get("readinessGates") or []
    gates_cell = "<none>"
    if gates:
        by_type: dict[str, str] = {}
        for cond in status.get("conditions") or []:
            by_type.setdefault(cond.get("type", ""), cond.get("status", ""))
        passed = sum(1 for g in gates if by_type.get(g.get("conditionType", "")) == "True")
        gates_cell = f"{passed}/{len(gates)}"
    return [
        _name(pod), f"{ready}/{total}", reason, restarts_cell, _age(pod, now),
        ip, spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", gates_cell,
    ]  # fmt: skip


def _pod_conditions(pod: dict[str, Any]) -> list[dict[str, str]] | None:
    """Finished pods carry a Completed row condition, as upstream marks them."""
    phase = _dig(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return None
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


# ---- nodes, namespaces ----

_NODE_COLUMNS = [
    _NAME,
    _col("Status", "The status of the node"),
    _col("Roles", "The roles of the node"),
    _AGE,
    _col("Version", _DOC["node.kubeletVersion"]),
    _col("Internal-IP", _DOC["node.addresses"], priority=1),
    _col("External-IP", _DOC["node.addresses"], priority=1),
    _col("OS-Image", _DOC["node.osImage"], priority=1),
    _col("Kernel-Version", _DOC["node.kernelVersion"], priority=1),
    _col("Container-Runtime", _DOC["node.containerRuntimeVersion"], priority=1),
]

_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
_NODE_ROLE_LABEL = "kubernetes.io/role"


def _node_roles(node: dict[str, Any]) -> str:
    roles = set()
    for key, value in (_dig(node, "metadata", "labels") or {}).items():
        if key.startswith(_NODE_ROLE_PREFIX) and key[len(_NODE_ROLE_PREFIX):]:
            roles.add(key[len(_NODE_ROLE_PREFIX):])
        elif key == _NODE_ROLE_LABEL and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_cells(node: dict[str, Any], now: datetime) -> list[Any]:
    status = node.get("status") or {}
    ready = {c.get("type"): c for c in status.get("conditions") or []}.get("Ready")
    states = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if _dig(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")

    def address(type_: str) -> str:
        found = [a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == type_]
        return found[0] if found else "<none>"

    info = status.get("nodeInfo") or {}
    return [
        _name(node), ",".join(states), _node_roles(node), _age(node, now), info.get("kubeletVersion", ""),
        address("InternalIP"), address("ExternalIP"), info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>",
    ]  # fmt: skip


_NAMESPACE_COLUMNS = [_NAME, _col("Status", "The status of the namespace"), _AGE]


def _namespace_cells(ns: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(ns), _dig(ns, "status", "phase") or "Active", _age(ns, now)]


# ---- services, endpoints ----

_SERVICE_COLUMNS = [
    _NAME,
    _col("Type", _DOC["svc.type"]),
    _col("Cluster-IP", _DOC["svc.clusterIP"]),
    _col("External-IP", _DOC["svc.externalIPs"]),
    _col("Port(s)", _DOC["svc.ports"]),
    _AGE,
    _col("Selector", _DOC["svc.selector"], priority=1),
]


def _service_external_ip(svc: dict[str, Any], type_: str) -> str:
    spec = svc.get("spec") or {}
    external = spec.get("externalIPs") or []
    if type_ in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if type_ == "LoadBalancer":
        ingress = _dig(svc, "status", "loadBalancer", "ingress") or []
        lb = sorted({i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")})
        return ",".join(lb + external) or "<pending>"
    if type_ == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _service_ports(ports: list[dict[str, Any]]) -> str:
    pieces = []
    for port in ports:
        protocol = port.get("protocol") or "TCP"
        if port.get("nodePort"):
            pieces.append(f"{port.get('port', 0)}:{port['nodePort']}/{protocol}")
        else:
            pieces.append(f"{port.get('port', 0)}/{protocol}")
    return ",".join(pieces) or "<none>"


def _service_cells(svc: dict[str, Any], now: datetime) -> list[Any]:
    spec = svc.get("spec") or {}
    type_ = spec.get("type") or "ClusterIP"
    cluster_ips = spec.get("clusterIPs") or []
    cluster_ip = (cluster_ips[0] if cluster_ips else spec.get("clusterIP")) or "<none>"
    return [
        _name(svc), type_, cluster_ip, _service_external_ip(svc, type_), _service_ports(spec.get("ports") or []),
        _age(svc, now), _format_labels(spec.get("selector")),
    ]  # fmt: skip


_ENDPOINTS_COLUMNS = [_NAME, _col("Endpoints", _DOC["ep.subsets"]), _AGE]
_ENDPOINTS_SHOWN = 3


def _host_port(ip: str, port: Any) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _endpoints_summary(ep: dict[str, Any]) -> str:
    """formatEndpoints: the first three `ip:port` pairs, then `+ N more...`."""
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count, more = 0, False
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        # Headless services may have no ports: show bare IPs. Otherwise every address once per port.
        targets = [addresses] if not subset.get("ports") else [
            [_host_port(ip, p.get("port", 0)) for ip in addresses] for p in subset["ports"]
        ]  # fmt: skip
        for group in targets:
            count += len(group)
            for entry in group:
                if len(shown) == _ENDPOINTS_SHOWN:
                    more = True
                    break
                shown.append(entry)
    text = ",".join(shown)
    return f"{text} + {count - _ENDPOINTS_SHOWN} more..." if more else text


def _endpoints_cells(ep: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(ep), _endpoints_summary(ep), _age(ep, now)]


# ---- workloads ----

_DEPLOYMENT_COLUMNS = [
    _NAME,
    _col("Ready", "Number of the pod with ready state"),
    _col("Up-to-date", _DOC["deploy.updated"]),
    _col("Available", _DOC["deploy.available"]),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _col("Selector", _DOC["deploy.selector"], priority=1),
]


def _replicas(obj: dict[str, Any]) -> int:
    replicas = _dig(obj, "spec", "replicas")
    return 1 if replicas is None else replicas  # apps/v1 defaulting


def _deployment_cells(d: dict[str, Any], now: datetime) -> list[Any]:
    status = d.get("status") or {}
    try:
        selector = label_selector_string(_dig(d, "spec", "selector"))
    except ValueError:
        selector = "<invalid>"
    return [
        _name(d), f"{status.get('readyReplicas', 0)}/{_replicas(d)}", status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0), _age(d, now), *_container_cells(_dig(d, "spec", "template", "spec")),
        selector,
    ]  # fmt: skip


_REPLICASET_COLUMNS = [
    _NAME,
    _col("Desired", _DOC["rs.replicas"], "integer"),
    _col("Current", _DOC["rs.status.replicas"], "integer"),
    _col("Ready", _DOC["rs.readyReplicas"], "integer"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _col("Selector", _DOC["rs.selector"], priority=1),
]


def _replicaset_cells(rs: dict[str, Any], now: datetime) -> list[Any]:
    status = rs.get("status") or {}
    return [
        _name(rs), _replicas(rs), status.get("replicas", 0), status.get("readyReplicas", 0), _age(rs, now),
        *_container_cells(_dig(rs, "spec", "template", "spec")), _format_label_selector(_dig(rs, "spec", "selector")),
    ]  # fmt: skip


_STATEFULSET_COLUMNS = [_NAME, _col("Ready", "Number of the pod with ready state"), _AGE, _CONTAINERS, _IMAGES]


def _statefulset_cells(sts: dict[str, Any], now: datetime) -> list[Any]:
    ready = _dig(sts, "status", "readyReplicas") or 0
    pod_spec = _dig(sts, "spec", "template", "spec")
    return [_name(sts), f"{ready}/{_replicas(sts)}", _age(sts, now), *_container_cells(pod_spec)]


_DAEMONSET_COLUMNS = [
    _NAME,
    _col("Desired", _DOC["ds.desired"], "integer"),
    _col("Current", _DOC["ds.current"], "integer"),
    _col("Ready", _DOC["ds.ready"], "integer"),
    _col("Up-to-date", _DOC["ds.updated"], "integer"),
    _col("Available", _DOC["ds.available"], "integer"),
    _col("Node Selector", _DOC["nodeSelector"]),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _col("Selector", _DOC["ds.selector"], priority=1),
]


def _daemonset_cells(ds: dict[str, Any], now: datetime) -> list[Any]:
    status = ds.get("status") or {}
    pod_spec = _dig(ds, "spec", "template", "spec") or {}
    counts = ("desiredNumberScheduled", "currentNumberScheduled", "numberReady", "updatedNumberScheduled",
              "numberAvailable")  # fmt: skip
    return [
        _name(ds), *(status.get(c, 0) for c in counts), _format_labels(pod_spec.get("nodeSelector")), _age(ds, now),
        *_container_cells(pod_spec), _format_label_selector(_dig(ds, "spec", "selector")),
    ]  # fmt: skip


_JOB_COLUMNS = [
    _NAME,
    _col("Status", "Status of the job."),
    _col("Completions", _DOC["job.succeeded"]),
    _col("Duration", "Time required to complete the job."),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _col("Selector", _DOC["job.selector"], priority=1),
]


def _job_condition(job: dict[str, Any], type_: str) -> bool:
    """hasJobCondition: the first condition of that type decides."""
    for cond in _dig(job, "status", "conditions") or []:
        if cond.get("type") == type_:
            return cond.get("status") == "True"
    return False


def _job_status(job: dict[str, Any]) -> str:
    if _job_condition(job, "Complete"):
        return "Complete"
    if _job_condition(job, "Failed"):
        return "Failed"
    if _dig(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    if _job_condition(job, "Suspended"):
        return "Suspended"
    if _job_condition(job, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_cells(job: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = _parse_time(status.get("startTime")), _parse_time(status.get("completionTime"))
    took = "" if start is None else human_duration(((end or now) - start).total_seconds())
    return [
        _name(job), _job_status(job), completions, took, _age(job, now),
        *_container_cells(_dig(spec, "template", "spec")), _format_label_selector(spec.get("selector")),
    ]  # fmt: skip


_CRONJOB_COLUMNS = [
    _NAME,
    _col("Schedule", _DOC["cj.schedule"]),
    _col("Timezone", _DOC["cj.timeZone"]),
    _col("Suspend", _DOC["cj.suspend"], "boolean"),
    _col("Active", _DOC["cj.active"], "integer"),
    _col("Last Schedule", _DOC["cj.lastScheduleTime"]),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _col("Selector", _DOC["job.selector"], priority=1),
]


def _cronjob_cells(cj: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    suspend = spec.get("suspend")
    last = status.get("lastScheduleTime")
    job_spec = _dig(spec, "jobTemplate", "spec") or {}
    return [
        _name(cj), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
        "<unset>" if suspend is None else ("True" if suspend else "False"), len(status.get("active") or []),
        "<none>" if last is None else _since(last, now), _age(cj, now),
        *_container_cells(_dig(job_spec, "template", "spec")), _format_label_selector(job_spec.get("selector")),
    ]  # fmt: skip


# ---- config and the rest ----

_CONFIGMAP_COLUMNS = [_NAME, _col("Data", _DOC["cm.data"]), _AGE]


def _configmap_cells(cm: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age(cm, now)]


_SECRET_COLUMNS = [_NAME, _col("Type", _DOC["secret.type"]), _col("Data", _DOC["secret.data"]), _AGE]


def _secret_cells(secret: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(secret), secret.get("type") or "Opaque", len(secret.get("data") or {}), _age(secret, now)]


_SERVICEACCOUNT_COLUMNS = [_NAME, _col("Secrets", _DOC["sa.secrets"]), _AGE]


def _serviceaccount_cells(sa: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(sa), len(sa.get("secrets") or []), _age(sa, now)]


_LEASE_COLUMNS = [_NAME, _col("Holder", _DOC["lease.holderIdentity"]), _AGE]


def _lease_cells(lease: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(lease), _dig(lease, "spec", "holderIdentity") or "", _age(lease, now)]


_EVENT_COLUMNS = [
    _col("Last Seen", _DOC["ev.lastTimestamp"]),
    _col("Type", _DOC["ev.type"]),
    _col("Reason", _DOC["ev.reason"]),
    _col("Object", _DOC["ev.involvedObject"]),
    _col("Subobject", _DOC["ev.fieldPath"], priority=1),
    _col("Source", _DOC["ev.source"], priority=1),
    _col("Message", _DOC["ev.message"]),
    _col("First Seen", _DOC["ev.firstTimestamp"], priority=1),
    _col("Count", _DOC["ev.count"], priority=1),
    _col("Name", _DOC["name"], priority=1, fmt="name"),
]


def _event_cells(ev: dict[str, Any], now: datetime) -> list[Any]:
    # Core events have first/lastTimestamp; events written through events.k8s.io carry eventTime and a series.
    first = ev.get("firstTimestamp")
    first_seen = _since(first if _parse_time(first) else ev.get("eventTime"), now)
    last_seen = _since(ev["lastTimestamp"], now) if _parse_time(ev.get("lastTimestamp")) else first_seen
    count = ev.get("count") or 0
    series = ev.get("series")
    if series is not None:
        last_seen, count = _since(series.get("lastObservedTime"), now), series.get("count", 0)
    elif count == 0:
        count = 1  # singleton events from the new API leave count unset
    involved = ev.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    return [
        last_seen, ev.get("type", ""), ev.get("reason", ""), target, involved.get("fieldPath", ""),
        f"{component}, {host}" if host else component, (ev.get("message") or "").strip(), first_seen, count,
        _name(ev),
    ]  # fmt: skip


# ---- RBAC ----

_ROLE_COLUMNS = [_NAME, _col("Created At", _DOC["creationTimestamp"], "date")]


def _role_cells(role: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(role), (role.get("metadata") or {}).get("creationTimestamp") or ""]


_ROLEBINDING_COLUMNS = [
    _NAME,
    _col("Role", "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be "
                 "resolved, the Authorizer must return an error. This field is immutable."),
    _AGE,
    _col("Users", "Users in the roleBinding", priority=1),
    _col("Groups", "Groups in the roleBinding", priority=1),
    _col("ServiceAccounts", "ServiceAccounts in the roleBinding", priority=1),
]


def _rolebinding_cells(binding: dict[str, Any], now: datetime) -> list[Any]:
    ref = binding.get("roleRef") or {}
    users, groups, accounts = [], [], []
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name", "")
        if kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        elif kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}:{name}")
    return [_name(binding), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(binding, now), ", ".join(users),
            ", ".join(groups), ", ".join(accounts)]


# Resources with no printer of their own get what upstream gives a CRD without printer columns.
_GENERIC_COLUMNS = [_NAME, _col("Age", _DOC["creationTimestamp"], "date")]


def _generic_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(obj), _age(obj, now)]


Printer = Callable[[dict[str, Any], datetime], list[Any]]

_PRINTERS: dict[tuple[str, str], tuple[list[dict[str, Any]], Printer]] = {
    ("", "pods"): (_POD_COLUMNS, _pod_cells),
    ("", "nodes"): (_NODE_COLUMNS, _node_cells),
    ("", "namespaces"): (_NAMESPACE_COLUMNS, _namespace_cells),
    ("", "services"): (_SERVICE_COLUMNS, _service_cells),
    ("", "endpoints"): (_ENDPOINTS_COLUMNS, _endpoints_cells),
    ("", "configmaps"): (_CONFIGMAP_COLUMNS, _configmap_cells),
    ("", "secrets"): (_SECRET_COLUMNS, _secret_cells),
    ("", "serviceaccounts"): (_SERVICEACCOUNT_COLUMNS, _serviceaccount_cells),
    ("", "events"): (_EVENT_COLUMNS, _event_cells),
    ("apps", "deployments"): (_DEPLOYMENT_COLUMNS, _deployment_cells),
    ("apps", "replicasets"): (_REPLICASET_COLUMNS, _replicaset_cells),
    ("apps", "statefulsets"): (_STATEFULSET_COLUMNS, _statefulset_cells),
    ("apps", "daemonsets"): (_DAEMONSET_COLUMNS, _daemonset_cells),
    ("batch", "jobs"): (_JOB_COLUMNS, _job_cells),
    ("batch", "cronjobs"): (_CRONJOB_COLUMNS, _cronjob_cells),
    ("coordination.k8s.io", "leases"): (_LEASE_COLUMNS, _lease_cells),
    ("rbac.authorization.k8s.io", "roles"): (_ROLE_COLUMNS, _role_cells),
    ("rbac.authorization.k8s.io", "clusterroles"): (_ROLE_COLUMNS, _role_cells),
    ("rbac.authorization.k8s.io", "rolebindings"): (_ROLEBINDING_COLUMNS, _rolebinding_cells),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (_ROLEBINDING_COLUMNS, _rolebinding_cells),
}


def column_definitions(rtype: ResourceType) -> list[dict[str, Any]]:
    """The Table columns for a resource type (a fresh copy the caller may change)."""
    columns, _ = _PRINTERS.get((rtype.group, rtype.plural), (_GENERIC_COLUMNS, _generic_cells))
    return copy.deepcopy(columns)


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "Object":
        return obj
    if include_object == "Metadata":
        metadata = copy.deepcopy(obj.get("metadata") or {})
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
    return None  # includeObject=None: upstream still sends the key, as null


def to_table(
    rtype: ResourceType,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    now: datetime | None = None,
    resource_version: str = "",
    continue_token: str = "",
    remaining: int | None = None,
) -> dict[str, Any]:
    """Render objects of one type as a `meta.k8s.io/v1` Table, one row per object, in the given order.

    `include_object` is the `includeObject` query parameter (None, Metadata or Object); an empty value means
    Metadata, as upstream. Raises a 400 StatusError for anything else. `now` fixes the clock for AGE cells.
    """
    include_object = include_object or "Metadata"
    if include_object not in INCLUDE_OBJECT_VALUES:
        raise bad_request(f'unrecognized includeObject value: "{include_object}"')
    now = now or datetime.now(UTC)
    columns, cells = _PRINTERS.get((rtype.group, rtype.plural), (_GENERIC_COLUMNS, _generic_cells))
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells(obj, now)}
        if rtype.group == "" and rtype.plural == "pods" and (conditions := _pod_conditions(obj)):
            row["conditions"] = conditions
        row["object"] = _row_object(obj, include_object)
        rows.append(row)
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None:
        metadata["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": copy.deepcopy(columns),
        "rows": rows,
    }
