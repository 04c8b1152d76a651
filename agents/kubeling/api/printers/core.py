"""Printers for the core (`v1`) group: pods, nodes, namespaces, services, endpoints, config maps, secrets,
service accounts, events and component statuses.

Upstream (v1.32): pkg/printers/internalversion/printers.go, printPod, printNode, printNamespace, printService,
printEndpoints, printConfigMap, printSecret, printServiceAccount, printEvent, printComponentStatus.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import (
    AGE,
    CREATED_DOC,
    NAME,
    NAME_DOC,
    Printer,
    column,
    container_cells,
    dig,
    format_labels,
    human_duration,
    object_age,
    object_name,
    parse_time,
    since,
)

# Field descriptions, as upstream takes them from the API types' SwaggerDoc().
_DOC = {
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
}


# ---- pods ----

_POD_COLUMNS = [
    NAME,
    column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    column("Status", "The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this "
        "pod has restarted.",
    ),
    AGE,
    column("IP", _DOC["podIP"], priority=1),
    column("Node", _DOC["nodeName"], priority=1),
    column("Nominated Node", _DOC["nominatedNodeName"], priority=1),
    column("Readiness Gates", _DOC["readinessGates"], priority=1),
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
        finished = parse_time(dig(cs, "lastState", "terminated", "finishedAt"))
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
            last_restart = _later(last_restart, parse_time(dig(cs, "lastState", "terminated", "finishedAt")))
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

    if dig(pod, "metadata", "deletionTimestamp"):
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
        object_name(pod), f"{ready}/{total}", reason, restarts_cell, object_age(pod, now),
        ip, spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", gates_cell,
    ]  # fmt: skip


def _pod_conditions(pod: dict[str, Any]) -> list[dict[str, str]] | None:
    """Finished pods carry a Completed row condition, as upstream marks them."""
    phase = dig(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return None
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


# ---- nodes, namespaces ----

_NODE_COLUMNS = [
    NAME,
    column("Status", "The status of the node"),
    column("Roles", "The roles of the node"),
    AGE,
    column("Version", _DOC["node.kubeletVersion"]),
    column("Internal-IP", _DOC["node.addresses"], priority=1),
    column("External-IP", _DOC["node.addresses"], priority=1),
    column("OS-Image", _DOC["node.osImage"], priority=1),
    column("Kernel-Version", _DOC["node.kernelVersion"], priority=1),
    column("Container-Runtime", _DOC["node.containerRuntimeVersion"], priority=1),
]

_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
_NODE_ROLE_LABEL = "kubernetes.io/role"


def _node_roles(node: dict[str, Any]) -> str:
    roles = set()
    for key, value in (dig(node, "metadata", "labels") or {}).items():
        if key.startswith(_NODE_ROLE_PREFIX) and key[len(_NODE_ROLE_PREFIX):]:
            roles.add(key[len(_NODE_ROLE_PREFIX):])
        elif key == _NODE_ROLE_LABEL and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_cells(node: dict[str, Any], now: datetime) -> list[Any]:
    status = node.get("status") or {}
    ready = {c.get("type"): c for c in status.get("conditions") or []}.get("Ready")
    states = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if dig(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")

    def address(type_: str) -> str:
        found = [a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == type_]
        return found[0] if found else "<none>"

    info = status.get("nodeInfo") or {}
    return [
        object_name(node), ",".join(states), _node_roles(node), object_age(node, now), info.get("kubeletVersion", ""),
        address("InternalIP"), address("ExternalIP"), info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>",
    ]  # fmt: skip


_NAMESPACE_COLUMNS = [NAME, column("Status", "The status of the namespace"), AGE]


def _namespace_cells(ns: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(ns), dig(ns, "status", "phase") or "Active", object_age(ns, now)]


# ---- services, endpoints ----

_SERVICE_COLUMNS = [
    NAME,
    column("Type", _DOC["svc.type"]),
    column("Cluster-IP", _DOC["svc.clusterIP"]),
    column("External-IP", _DOC["svc.externalIPs"]),
    column("Port(s)", _DOC["svc.ports"]),
    AGE,
    column("Selector", _DOC["svc.selector"], priority=1),
]


def _service_external_ip(svc: dict[str, Any], type_: str) -> str:
    spec = svc.get("spec") or {}
    external = spec.get("externalIPs") or []
    if type_ in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if type_ == "LoadBalancer":
        ingress = dig(svc, "status", "loadBalancer", "ingress") or []
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
        object_name(svc), type_, cluster_ip, _service_external_ip(svc, type_), _service_ports(spec.get("ports") or []),
        object_age(svc, now), format_labels(spec.get("selector")),
    ]  # fmt: skip


_ENDPOINTS_COLUMNS = [NAME, column("Endpoints", _DOC["ep.subsets"]), AGE]
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
    return [object_name(ep), _endpoints_summary(ep), object_age(ep, now)]


# ---- config maps, secrets, service accounts, events ----

_CONFIGMAP_COLUMNS = [NAME, column("Data", _DOC["cm.data"]), AGE]


def _configmap_cells(cm: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), object_age(cm, now)]


_SECRET_COLUMNS = [NAME, column("Type", _DOC["secret.type"]), column("Data", _DOC["secret.data"]), AGE]


def _secret_cells(secret: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(secret), secret.get("type") or "Opaque", len(secret.get("data") or {}), object_age(secret, now)]


_SERVICEACCOUNT_COLUMNS = [NAME, column("Secrets", _DOC["sa.secrets"]), AGE]


def _serviceaccount_cells(sa: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(sa), len(sa.get("secrets") or []), object_age(sa, now)]


_EVENT_COLUMNS = [
    column("Last Seen", _DOC["ev.lastTimestamp"]),
    column("Type", _DOC["ev.type"]),
    column("Reason", _DOC["ev.reason"]),
    column("Object", _DOC["ev.involvedObject"]),
    column("Subobject", _DOC["ev.fieldPath"], priority=1),
    column("Source", _DOC["ev.source"], priority=1),
    column("Message", _DOC["ev.message"]),
    column("First Seen", _DOC["ev.firstTimestamp"], priority=1),
    column("Count", _DOC["ev.count"], priority=1),
    column("Name", NAME_DOC, priority=1, fmt="name"),
]


def _event_cells(ev: dict[str, Any], now: datetime) -> list[Any]:
    # Core events have first/lastTimestamp; events written through events.k8s.io carry eventTime and a series.
    first = ev.get("firstTimestamp")
    first_seen = since(first if parse_time(first) else ev.get("eventTime"), now)
    last_seen = since(ev["lastTimestamp"], now) if parse_time(ev.get("lastTimestamp")) else first_seen
    count = ev.get("count") or 0
    series = ev.get("series")
    if series is not None:
        last_seen, count = since(series.get("lastObservedTime"), now), series.get("count", 0)
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
        object_name(ev),
    ]  # fmt: skip


_PODTEMPLATE_COLUMNS = [
    NAME,
    column("Containers", "Names of each container in the template."),
    column("Images", "Images referenced by each container in the template."),
    column("Pod Labels", "The labels for the pod template."),
]


def _podtemplate_cells(pt: dict[str, Any], now: datetime) -> list[Any]:
    template = pt.get("template") or {}
    return [object_name(pt), *container_cells(template.get("spec")),
            format_labels((template.get("metadata") or {}).get("labels"))]


_RESOURCEQUOTA_COLUMNS = [
    NAME,
    AGE,
    column("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
    column("Limit", "Limits control the maximum amount of cpu/memory that a container may use independent of "
                    "contention on the node."),
]


def _resourcequota_cells(quota: dict[str, Any], now: datetime) -> list[Any]:
    """`pods: 1/10, requests.cpu: 500m/2` for the requests, the same for `limits.*` (upstream's
    printResourceQuota: the names of spec.hard, the figures of status)."""
    status = quota.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    request, limit = [], []
    for name in sorted((quota.get("spec") or {}).get("hard") or {}):
        text = f"{name}: {used.get(name, '0')}/{hard.get(name, '0')}"
        (limit if name.startswith("limits.") else request).append(text)
    return [object_name(quota), object_age(quota, now), ", ".join(request), ", ".join(limit)]


_RC_COLUMNS = [
    NAME,
    column("Desired", "Replicas is the number of desired replicas. More info: "
                      "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-"
                      "replicationcontroller", "integer"),
    column("Current", "Replicas is the most recently observed number of replicas. More info: "
                      "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-"
                      "replicationcontroller", "integer"),
    column("Ready", "The number of ready replicas for this replication controller.", "integer"),
    AGE,
    column("Containers", "Names of each container in the template.", priority=1),
    column("Images", "Images referenced by each container in the template.", priority=1),
    column("Selector", "Selector is a label query over pods that should match the Replicas count. If Selector is "
                       "empty, it is defaulted to the labels present on the Pod template. Label keys and values that "
                       "must match in order to be controlled by this replication controller, if empty defaulted to "
                       "labels on Pod template. More info: "
                       "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
           priority=1),
]


def _rc_cells(rc: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = rc.get("spec") or {}, rc.get("status") or {}
    return [object_name(rc), spec.get("replicas", 0), status.get("replicas", 0), status.get("readyReplicas", 0),
            object_age(rc, now), *container_cells(dig(rc, "spec", "template", "spec")),
            format_labels(spec.get("selector"))]


_LIMITRANGE_COLUMNS = [NAME, column("Created At", CREATED_DOC, "date")]


def _limitrange_cells(limits: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(limits), limits["metadata"].get("creationTimestamp", "")]


# Upstream's componentStatusColumnDefinitions and printComponentStatus.
_COMPONENT_STATUS_COLUMNS = [
    NAME,
    column("Status", "Status of the component conditions"),
    column("Message", "Message of the component conditions"),
    column("Error", "Error of the component conditions"),
]


def _component_status_cells(cs: dict[str, Any], now: datetime) -> list[Any]:
    for condition in cs.get("conditions") or []:
        if condition.get("type") == "Healthy":
            status = "Healthy" if condition.get("status") == "True" else "Unhealthy"
            return [object_name(cs), status, condition.get("message", ""), condition.get("error", "")]
    return [object_name(cs), "Unknown", "", ""]


GROUP = ""

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "Pod": Printer(_POD_COLUMNS, _pod_cells, _pod_conditions),
    "Node": Printer(_NODE_COLUMNS, _node_cells),
    "Namespace": Printer(_NAMESPACE_COLUMNS, _namespace_cells),
    "Service": Printer(_SERVICE_COLUMNS, _service_cells),
    "Endpoints": Printer(_ENDPOINTS_COLUMNS, _endpoints_cells),
    "ConfigMap": Printer(_CONFIGMAP_COLUMNS, _configmap_cells),
    "Secret": Printer(_SECRET_COLUMNS, _secret_cells),
    "ServiceAccount": Printer(_SERVICEACCOUNT_COLUMNS, _serviceaccount_cells),
    "PodTemplate": Printer(_PODTEMPLATE_COLUMNS, _podtemplate_cells),
    "ResourceQuota": Printer(_RESOURCEQUOTA_COLUMNS, _resourcequota_cells),
    "LimitRange": Printer(_LIMITRANGE_COLUMNS, _limitrange_cells),
    "ReplicationController": Printer(_RC_COLUMNS, _rc_cells),
    "Event": Printer(_EVENT_COLUMNS, _event_cells),
    "ComponentStatus": Printer(_COMPONENT_STATUS_COLUMNS, _component_status_cells),
}
