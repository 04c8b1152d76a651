"""Validation of the core (`v1`) group: pods and pod templates, services, endpoints, config maps, secrets,
nodes, events, namespaces and service accounts.

Upstream: pkg/apis/core/validation/validation.go (ValidatePod, ValidatePodSpec, ValidatePodTemplateSpec,
ValidatePodUpdate, ValidateService, ValidateServiceUpdate, ValidateEndpoints, ValidateConfigMap, ValidateSecret,
ValidateNode, ValidateNamespace, ValidateServiceAccount) and pkg/apis/core/validation/events.go (ValidateEvent).
"""

from __future__ import annotations

import base64
import binascii
import decimal
from typing import Any

from kubeling.api import errors
from kubeling.api.quantity import parse_quantity
from kubeling.api.types import Obj
from kubeling.api.validation.common import (
    CIDR_MSG,
    ENV_NAME_MSG,
    IMMUTABLE_MSG,
    IP_MSG,
    NONNEGATIVE_MSG,
    SELECTOR_MISMATCH_MSG,
    as_dict,
    as_list,
    at_index,
    at_key,
    child,
    config_key,
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    duplicate,
    each,
    forbidden,
    invalid,
    is_cidr,
    is_ip,
    nonnegative,
    not_found,
    not_supported,
    one_of,
    port_name,
    port_number,
    pruned,
    qualified_name,
    required,
    same,
    show,
    too_long,
)
from kubeling.api.validation.meta import (
    NameCheck,
    selector_mismatch,
    validate_labels,
    validate_object,
    validate_template_meta,
)
from kubeling.api.validation.schema import (
    ANY_OBJ,
    BOOL,
    INT,
    INT_OR_STR,
    QUANTITY,
    STR,
    STRING_MAP,
    STRINGS,
    TEMPLATE_META,
    Arr,
    Map,
    S,
    Struct,
    root,
)

Causes = list[dict[str, str]]

PROTOCOLS = ("SCTP", "TCP", "UDP")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

# --------------------------------------------------------------------------------------------------------------
# Type schemas

_PROBE_PORT = S(port=INT_OR_STR, host=STR)
PROBE = S(
    httpGet=S(path=STR, port=INT_OR_STR, host=STR, scheme=STR), tcpSocket=_PROBE_PORT,
    exec=S(command=STRINGS), grpc=S(port=INT, service=STR),
    initialDelaySeconds=INT, periodSeconds=INT, timeoutSeconds=INT, successThreshold=INT, failureThreshold=INT,
)
CONTAINER = S(
    name=STR, image=STR, imagePullPolicy=STR, command=STRINGS, args=STRINGS, workingDir=STR,
    ports=Arr(S(name=STR, containerPort=INT, hostPort=INT, hostIP=STR, protocol=STR)),
    env=Arr(S(name=STR, value=STR, valueFrom=ANY_OBJ)),
    envFrom=Arr(ANY_OBJ),
    resources=S(limits=Map(QUANTITY), requests=Map(QUANTITY)),
    volumeMounts=Arr(S(name=STR, mountPath=STR, subPath=STR, readOnly=BOOL)),
    livenessProbe=PROBE, readinessProbe=PROBE, startupProbe=PROBE,
    stdin=BOOL, tty=BOOL, securityContext=ANY_OBJ,
)
VOLUME = S(
    name=STR, emptyDir=S(medium=STR, sizeLimit=QUANTITY), hostPath=S(path=STR, type=STR),
    configMap=S(name=STR, items=Arr(S(key=STR, path=STR, mode=INT)), defaultMode=INT, optional=BOOL),
    secret=S(secretName=STR, items=Arr(S(key=STR, path=STR, mode=INT)), defaultMode=INT, optional=BOOL),
    persistentVolumeClaim=S(claimName=STR, readOnly=BOOL), projected=ANY_OBJ, downwardAPI=ANY_OBJ,
)
POD_SPEC = S(
    containers=Arr(CONTAINER), initContainers=Arr(CONTAINER), volumes=Arr(VOLUME),
    restartPolicy=STR, nodeName=STR, nodeSelector=STRING_MAP, serviceAccountName=STR, serviceAccount=STR,
    hostNetwork=BOOL, hostname=STR, subdomain=STR, dnsPolicy=STR, schedulerName=STR, priority=INT,
    terminationGracePeriodSeconds=INT, activeDeadlineSeconds=INT,
    tolerations=Arr(S(key=STR, operator=STR, value=STR, effect=STR, tolerationSeconds=INT)),
    imagePullSecrets=Arr(S(name=STR)), affinity=ANY_OBJ, securityContext=ANY_OBJ,
)
POD_TEMPLATE = S(metadata=TEMPLATE_META, spec=POD_SPEC)
_SERVICE_PORT = S(name=STR, port=INT, targetPort=INT_OR_STR, nodePort=INT, protocol=STR, appProtocol=STR)
_ENDPOINT_ADDRESS = S(ip=STR, hostname=STR, nodeName=STR, targetRef=ANY_OBJ)

SCHEMAS: dict[str, Struct] = {
    "Namespace": root(spec=S(finalizers=STRINGS)),
    "Node": root(spec=S(
        podCIDR=STR, podCIDRs=STRINGS, unschedulable=BOOL, providerID=STR,
        taints=Arr(S(key=STR, value=STR, effect=STR, timeAdded=STR)),
    )),
    "Pod": root(spec=POD_SPEC),
    "Service": root(spec=S(
        type=STR, clusterIP=STR, clusterIPs=STRINGS, ports=Arr(_SERVICE_PORT), selector=STRING_MAP,
        externalName=STR, externalIPs=STRINGS, sessionAffinity=STR, loadBalancerIP=STR,
        externalTrafficPolicy=STR, internalTrafficPolicy=STR, ipFamilies=STRINGS, ipFamilyPolicy=STR,
        publishNotReadyAddresses=BOOL,
    )),
    "Endpoints": root(subsets=Arr(S(
        addresses=Arr(_ENDPOINT_ADDRESS), notReadyAddresses=Arr(_ENDPOINT_ADDRESS),
        ports=Arr(S(name=STR, port=INT, protocol=STR, appProtocol=STR)),
    ))),
    "ConfigMap": root(data=STRING_MAP, binaryData=STRING_MAP, immutable=BOOL),
    "Secret": root(data=STRING_MAP, stringData=STRING_MAP, type=STR, immutable=BOOL),
    "Event": root(
        involvedObject=S(kind=STR, namespace=STR, name=STR, uid=STR, apiVersion=STR, resourceVersion=STR,
                         fieldPath=STR),
        reason=STR, message=STR, type=STR, count=INT, source=S(component=STR, host=STR),
        firstTimestamp=STR, lastTimestamp=STR, eventTime=STR, reportingComponent=STR, reportingInstance=STR,
        action=STR, series=S(count=INT, lastObservedTime=STR),
        related=S(kind=STR, namespace=STR, name=STR, uid=STR, apiVersion=STR, resourceVersion=STR, fieldPath=STR),
    ),
    "PodTemplate": root(template=POD_TEMPLATE),
    "ReplicationController": root(spec=S(replicas=INT, minReadySeconds=INT, selector=STRING_MAP,
                                         template=POD_TEMPLATE)),
    "ResourceQuota": root(spec=S(hard=Map(QUANTITY), scopes=STRINGS, scopeSelector=ANY_OBJ),
                          status=S(hard=Map(QUANTITY), used=Map(QUANTITY))),
    "LimitRange": root(spec=S(limits=Arr(S(type=STR, max=Map(QUANTITY), min=Map(QUANTITY), default=Map(QUANTITY),
                                            defaultRequest=Map(QUANTITY), maxLimitRequestRatio=Map(QUANTITY))))),
    "ServiceAccount": root(secrets=Arr(ANY_OBJ), imagePullSecrets=Arr(S(name=STR)),
                           automountServiceAccountToken=BOOL),
}


# --------------------------------------------------------------------------------------------------------------
# Pods and pod templates


def _container(c: Obj, path: str, volumes: set[str]) -> Causes:
    out: Causes = []
    if not c.get("image"):
        out.append(required(child(path, "image")))
    out += one_of(c, "imagePullPolicy", path, PULL_POLICIES)
    port_names: set[str] = set()
    for i, port in enumerate(as_list(c.get("ports"))):
        port, ppath = as_dict(port), at_index(child(path, "ports"), i)
        if name := port.get("name"):
            out += each(child(ppath, "name"), name, port_name(name))
            if name in port_names:
                out.append(duplicate(child(ppath, "name"), name))
            port_names.add(name)
        number = port.get("containerPort") or 0
        if not number:
            out.append(required(child(ppath, "containerPort")))
        else:
            out += each(child(ppath, "containerPort"), number, port_number(number))
        if host_port := port.get("hostPort"):
            out += each(child(ppath, "hostPort"), host_port, port_number(host_port))
        out += one_of(port, "protocol", ppath, PROTOCOLS)
    for i, env in enumerate(as_list(c.get("env"))):
        epath = child(at_index(child(path, "env"), i), "name")
        name = as_dict(env).get("name") or ""
        if not name:
            out.append(required(epath))
        elif "=" in name or not all(" " <= ch <= "~" for ch in name):
            out.append(invalid(epath, name, ENV_NAME_MSG))
    mount_paths: set[str] = set()
    for i, mount in enumerate(as_list(c.get("volumeMounts"))):
        mount, mpath = as_dict(mount), at_index(child(path, "volumeMounts"), i)
        name = mount.get("name") or ""
        if not name:
            out.append(required(child(mpath, "name")))
        elif name not in volumes:
            out.append(not_found(child(mpath, "name"), name))
        mount_path = mount.get("mountPath") or ""
        if not mount_path:
            out.append(required(child(mpath, "mountPath")))
        elif mount_path in mount_paths:
            out.append(invalid(child(mpath, "mountPath"), mount_path, "must be unique"))
        mount_paths.add(mount_path)
    return out


def validate_pod_spec(spec: Obj, path: str, extra_volumes: tuple[str, ...] = ()) -> Causes:
    """A PodSpec, in a Pod or a pod template (upstream's ValidatePodSpec). `extra_volumes` are volumes the
    workload adds to each pod (a StatefulSet's volumeClaimTemplates), which containers may mount."""
    out: Causes = []
    volumes: set[str] = set(extra_volumes)
    for i, volume in enumerate(as_list(spec.get("volumes"))):
        vpath = child(at_index(child(path, "volumes"), i), "name")
        name = as_dict(volume).get("name") or ""
        if not name:
            out.append(required(vpath))
            continue
        out += each(vpath, name, dns1123_label(name))
        if name in volumes:
            out.append(duplicate(vpath, name))
        volumes.add(name)
    if not as_list(spec.get("containers")):
        out.append(required(child(path, "containers")))
    # Init containers and containers share one namespace of names.
    names: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, container in enumerate(as_list(spec.get(group))):
            container, cpath = as_dict(container), at_index(child(path, group), i)
            name = container.get("name") or ""
            if not name:
                out.append(required(child(cpath, "name")))
            else:
                out += each(child(cpath, "name"), name, dns1123_label(name))
                if name in names:
                    out.append(duplicate(child(cpath, "name"), name))
                names.add(name)
            out += _container(container, cpath, volumes)
    out += one_of(spec, "restartPolicy", path, RESTART_POLICIES)
    out += one_of(spec, "dnsPolicy", path, DNS_POLICIES)
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        out.append(invalid(child(path, "activeDeadlineSeconds"), deadline,
                           "must be between 1 and 2147483647, inclusive"))
    for field in ("nodeName", "serviceAccountName"):
        if value := spec.get(field):
            out += each(child(path, field), value, dns1123_subdomain(value))
    for i, toleration in enumerate(as_list(spec.get("tolerations"))):
        toleration, tpath = as_dict(toleration), at_index(child(path, "tolerations"), i)
        out += one_of(toleration, "operator", tpath, ("Equal", "Exists"))
        out += one_of(toleration, "effect", tpath, TAINT_EFFECTS)
        if toleration.get("operator") == "Exists" and toleration.get("value"):
            out.append(invalid(child(tpath, "operator"), "Exists", "value must be empty when `operator` is 'Exists'"))
    return out


def validate_pod_template(spec: Obj, path: str, restart_policies: tuple[str, ...],
                          extra_volumes: tuple[str, ...] = ()) -> Causes:
    """The pod template of a workload: labels must match the selector, restartPolicy from an allowed set."""
    tpath = child(path, "template")
    if not isinstance(spec.get("template"), dict):
        return [required(tpath)]
    template = spec["template"]
    meta, pod_spec = as_dict(template.get("metadata")), as_dict(template.get("spec"))
    out = validate_template_meta(meta, child(tpath, "metadata"))
    labels = as_dict(meta.get("labels"))
    if selector_mismatch(spec.get("selector"), labels):
        out.append(invalid(child(tpath, "metadata.labels"), labels, SELECTOR_MISMATCH_MSG))
    out += validate_pod_spec(pod_spec, child(tpath, "spec"), extra_volumes)
    policy = pod_spec.get("restartPolicy") or "Always"  # the default, had defaulting not run
    if policy in RESTART_POLICIES and policy not in restart_policies:
        out.append(not_supported(child(tpath, "spec.restartPolicy"), policy, restart_policies))
    return out


POD_UPDATABLE = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
    "was previously negative)"
)


def _masked_pod_spec(spec: Obj, old: Obj) -> Obj:
    """`spec` with every field a pod update may change copied from `old`, so what remains must be equal."""
    masked = dict(spec)
    for group in ("containers", "initContainers"):
        new_list, old_list = as_list(spec.get(group)), as_list(old.get(group))
        if new_list and len(new_list) == len(old_list):
            masked[group] = [
                {**as_dict(c), "image": as_dict(o).get("image")} for c, o in zip(new_list, old_list, strict=True)
            ]
    for field in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
        masked[field] = old.get(field)
    old_tolerations = as_list(old.get("tolerations"))
    if all(t in as_list(spec.get("tolerations")) for t in old_tolerations):
        masked["tolerations"] = old.get("tolerations")
    # Binding sets nodeName once; kubeling also lets an update do it, but never move a pod.
    if not old.get("nodeName"):
        masked["nodeName"] = old.get("nodeName")
    return pruned(masked)


def _update_pod(new: Obj, old: Obj) -> Causes:
    spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    out: Causes = []
    if old_spec.get("nodeName") and spec.get("nodeName") != old_spec.get("nodeName"):
        out.append(invalid("spec.nodeName", spec.get("nodeName"), IMMUTABLE_MSG))
    masked = _masked_pod_spec(spec, old_spec)
    old_clean = pruned(old_spec)
    changed = sorted(k for k in masked.keys() | old_clean.keys() if masked.get(k) != old_clean.get(k))
    changed = [k for k in changed if k != "nodeName"] if out else changed
    if changed:
        diff = "\n".join(f"  spec.{k}: {show(old_clean.get(k))} -> {show(masked.get(k))}" for k in changed)
        out.append(forbidden("spec", f"pod updates may not change fields other than {POD_UPDATABLE}\n{diff}"))
    return out


def validate_pod(obj: Obj, old: Obj | None = None) -> Causes:
    """A Pod on create, or on update when `old` is the stored one (upstream's ValidatePodCreate/ValidatePodUpdate)."""
    return validate_object(SCHEMAS["Pod"], obj, old, namespaced=True,
                           rules=lambda pod: validate_pod_spec(as_dict(pod.get("spec")), "spec"),
                           update_rules=_update_pod)


# --------------------------------------------------------------------------------------------------------------
# Services and Endpoints

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _service_ports(ports: list[Any], stype: str) -> Causes:
    out: Causes = []
    names: set[str] = set()
    seen: set[tuple[int, str]] = set()
    for i, port in enumerate(ports):
        port, ppath = as_dict(port), at_index("spec.ports", i)
        name = port.get("name") or ""
        if not name and len(ports) > 1:
            out.append(required(child(ppath, "name")))
        elif name:
            out += each(child(ppath, "name"), name, dns1123_label(name))
            if name in names:
                out.append(duplicate(child(ppath, "name"), name))
            names.add(name)
        number = port.get("port") or 0
        out += each(child(ppath, "port"), number, port_number(number))
        out += one_of(port, "protocol", ppath, PROTOCOLS)
        target = port.get("targetPort")
        if isinstance(target, int) and target != 0:
            out += each(child(ppath, "targetPort"), target, port_number(target))
        elif isinstance(target, str) and target:
            out += each(child(ppath, "targetPort"), target, port_name(target))
        node_port = port.get("nodePort") or 0
        if node_port:
            if stype == "ClusterIP":
                out.append(forbidden(child(ppath, "nodePort"), "may not be used when `type` is 'ClusterIP'"))
            out += each(child(ppath, "nodePort"), node_port, port_number(node_port))
        key = (number, port.get("protocol") or "TCP")
        if key in seen:
            out.append(duplicate(ppath, f"{key[0]}/{key[1]}"))
        seen.add(key)
    return out


def _validate_service(obj: Obj) -> Causes:
    out: Causes = []
    spec = as_dict(obj.get("spec"))
    stype = spec.get("type") or "ClusterIP"
    if stype not in SERVICE_TYPES:
        out.append(not_supported("spec.type", stype, SERVICE_TYPES))
    cluster_ip = spec.get("clusterIP") or ""
    headless = cluster_ip == "None"
    ports = as_list(spec.get("ports"))
    if stype == "ExternalName":
        external = spec.get("externalName") or ""
        if not external:
            out.append(required("spec.externalName"))
        else:
            out += each("spec.externalName", external, dns1123_subdomain(external.removesuffix(".")))
        if cluster_ip:
            out.append(forbidden("spec.clusterIP", "may not be set for ExternalName services"))
    elif not ports and not headless:
        out.append(required("spec.ports"))
    if cluster_ip and not headless and not is_ip(cluster_ip):
        out.append(invalid("spec.clusterIP", cluster_ip, IP_MSG))
    for i, ip in enumerate(as_list(spec.get("clusterIPs"))):
        if not (i == 0 and ip == "None") and not is_ip(ip):
            out.append(invalid(at_index("spec.clusterIPs", i), ip, IP_MSG))
    if headless and stype in ("NodePort", "LoadBalancer"):
        out.append(invalid("spec.clusterIP", cluster_ip, f"may not be set to 'None' for {stype} services"))
    return out + _service_ports(ports, stype)


def _primary_ip(spec: Obj) -> str:
    ips = as_list(spec.get("clusterIPs"))
    return spec.get("clusterIP") or (ips[0] if ips else "")


def _update_service(new: Obj, old: Obj) -> Causes:
    spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []  # switching to or from ExternalName releases or allocates the address
    ip, old_ip = _primary_ip(spec), _primary_ip(old_spec)
    # An empty clusterIP in the update means "keep it": the server copies the allocated one over.
    if ip and old_ip and ip != old_ip:
        return [invalid("spec.clusterIPs[0]", as_list(spec.get("clusterIPs")) or [ip], "may not change once set")]
    return []


def validate_service_name(name: str) -> list[str]:
    """Service names are DNS-1035 labels (they start with a letter): they become DNS names and env var prefixes."""
    return dns1035_label(name)


def validate_service(obj: Obj, old: Obj | None = None) -> Causes:
    """A Service on create or update (upstream's ValidateService/ValidateServiceUpdate)."""
    return validate_object(SCHEMAS["Service"], obj, old, namespaced=True, name_check=validate_service_name,
                           rules=_validate_service, update_rules=_update_service)


def _validate_endpoints(obj: Obj) -> Causes:
    out: Causes = []
    for i, subset in enumerate(as_list(obj.get("subsets"))):
        subset, spath = as_dict(subset), at_index("subsets", i)
        for group in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(as_list(subset.get(group))):
                ip = as_dict(address).get("ip") or ""
                if not is_ip(ip):
                    out.append(invalid(child(at_index(child(spath, group), j), "ip"), ip, IP_MSG))
        ports = as_list(subset.get("ports"))
        for j, port in enumerate(ports):
            port, ppath = as_dict(port), at_index(child(spath, "ports"), j)
            name = port.get("name") or ""
            if not name and len(ports) > 1:
                out.append(required(child(ppath, "name")))
            elif name:
                out += each(child(ppath, "name"), name, dns1123_label(name))
            number = port.get("port") or 0
            out += each(child(ppath, "port"), number, port_number(number))
            out += one_of(port, "protocol", ppath, PROTOCOLS)
    return out


def validate_endpoints(obj: Obj, old: Obj | None = None) -> Causes:
    """An Endpoints object (upstream's ValidateEndpoints)."""
    return validate_object(SCHEMAS["Endpoints"], obj, old, namespaced=True, rules=_validate_endpoints)


# --------------------------------------------------------------------------------------------------------------
# ConfigMaps and Secrets

MAX_DATA_SIZE = 1024 * 1024


def _data_keys(data: Obj, path: str) -> Causes:
    return [c for key in data for c in each(at_key(path, key), key, config_key(key))]


def _base64_error(text: str) -> str | None:
    cleaned = text.replace("\r", "").replace("\n", "")  # Go's decoder skips line breaks
    for i, ch in enumerate(cleaned):
        if not (ch.isascii() and (ch.isalnum() or ch in "+/=")):
            return f"illegal base64 data at input byte {i}"
    try:
        base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        return f"illegal base64 data at input byte {len(cleaned)}"
    return None


def _validate_configmap(obj: Obj) -> Causes:
    data, binary = as_dict(obj.get("data")), as_dict(obj.get("binaryData"))
    out = _data_keys(data, "data") + _data_keys(binary, "binaryData")
    for key in binary:
        if key in data:
            out.append(invalid(at_key("binaryData", key), key, "duplicate of key present in data"))
        elif err := _base64_error(binary[key]):
            out.append(errors.cause(at_key("binaryData", key), f"Invalid value: {err}"))
    size = sum(len(k) + len(str(v)) for k, v in [*data.items(), *binary.items()])
    if size > MAX_DATA_SIZE:
        out.append(too_long("", MAX_DATA_SIZE))
    return out


def _validate_secret(obj: Obj) -> Causes:
    data, string_data = as_dict(obj.get("data")), as_dict(obj.get("stringData"))
    out = _data_keys(data, "data") + _data_keys(string_data, "stringData")
    for key, value in data.items():
        # The value is secret, so the message leaves it out, as upstream's decoder error does.
        if err := _base64_error(value):
            out.append(errors.cause(at_key("data", key), f"Invalid value: {err}"))
    if sum(len(k) + len(v) * 3 // 4 for k, v in data.items()) > MAX_DATA_SIZE:
        out.append(too_long("data", MAX_DATA_SIZE))
    return out


def _update_data(new: Obj, old: Obj) -> Causes:
    """ConfigMaps and Secrets marked immutable keep their data, and stay immutable."""
    if not old.get("immutable"):
        return []
    detail = "field is immutable when `immutable` is set"
    out: Causes = []
    if not new.get("immutable"):
        out.append(forbidden("immutable", detail))
    for field in ("data", "binaryData"):
        if not same(new.get(field), old.get(field)):
            out.append(forbidden(field, detail))
    return out


def _update_secret(new: Obj, old: Obj) -> Causes:
    out = _update_data(new, old)
    if (new.get("type") or "Opaque") != (old.get("type") or "Opaque"):
        out.append(invalid("type", new.get("type"), IMMUTABLE_MSG))
    return out


def validate_configmap(obj: Obj, old: Obj | None = None) -> Causes:
    """A ConfigMap (upstream's ValidateConfigMap/ValidateConfigMapUpdate)."""
    return validate_object(SCHEMAS["ConfigMap"], obj, old, namespaced=True, rules=_validate_configmap,
                           update_rules=_update_data)


def validate_secret(obj: Obj, old: Obj | None = None) -> Causes:
    """A Secret (upstream's ValidateSecret/ValidateSecretUpdate)."""
    return validate_object(SCHEMAS["Secret"], obj, old, namespaced=True, rules=_validate_secret,
                           update_rules=_update_secret)


# --------------------------------------------------------------------------------------------------------------
# Nodes, events, namespaces, service accounts

def _validate_node(obj: Obj) -> Causes:
    spec = as_dict(obj.get("spec"))
    out: Causes = []
    if (cidr := spec.get("podCIDR")) and not is_cidr(cidr):
        out.append(invalid("spec.podCIDR", cidr, CIDR_MSG))
    for i, cidr in enumerate(as_list(spec.get("podCIDRs"))):
        if not is_cidr(cidr):
            out.append(invalid(at_index("spec.podCIDRs", i), cidr, CIDR_MSG))
    for i, taint in enumerate(as_list(spec.get("taints"))):
        taint, tpath = as_dict(taint), at_index("spec.taints", i)
        key = taint.get("key") or ""
        if not key:
            out.append(required(child(tpath, "key")))
        else:
            out += each(child(tpath, "key"), key, qualified_name(key))
        if not taint.get("effect"):
            out.append(required(child(tpath, "effect")))
        out += one_of(taint, "effect", tpath, TAINT_EFFECTS)
    return out


def _validate_event(obj: Obj) -> Causes:
    involved = obj.get("involvedObject")
    if not isinstance(involved, dict) or not involved:
        return [required("involvedObject")]
    if obj.get("eventTime"):
        return []
    # Old-style events live in their object's namespace (or default, for cluster-scoped objects).
    event_ns = as_dict(obj.get("metadata")).get("namespace") or ""
    object_ns = involved.get("namespace") or ""
    if (object_ns and object_ns != event_ns) or (not object_ns and event_ns not in ("", "default")):
        return [invalid("involvedObject.namespace", object_ns, "does not match event.namespace")]
    return []


def _validate_namespace(obj: Obj) -> Causes:
    out: Causes = []
    for finalizer in as_list(as_dict(obj.get("spec")).get("finalizers")):
        out += each("spec.finalizers", finalizer, qualified_name(finalizer))
        if "/" not in finalizer and finalizer != "kubernetes":
            out.append(invalid("spec.finalizers", finalizer,
                               "name is neither a standard finalizer name nor is it fully qualified"))
    return out


def validate_node(obj: Obj, old: Obj | None = None) -> Causes:
    """A Node (upstream's ValidateNode)."""
    return validate_object(SCHEMAS["Node"], obj, old, namespaced=False, rules=_validate_node)


def validate_event(obj: Obj, old: Obj | None = None) -> Causes:
    """A core/v1 Event (upstream's ValidateEventCreate)."""
    return validate_object(SCHEMAS["Event"], obj, old, namespaced=True, rules=_validate_event)


def validate_namespace_name(name: str) -> list[str]:
    """Namespace names are DNS-1123 labels: they appear in DNS names (`svc.<namespace>.svc.cluster.local`)."""
    return dns1123_label(name)


def validate_namespace(obj: Obj, old: Obj | None = None) -> Causes:
    """A Namespace (upstream's ValidateNamespace)."""
    return validate_object(SCHEMAS["Namespace"], obj, old, namespaced=False, name_check=validate_namespace_name,
                           rules=_validate_namespace)


def validate_serviceaccount(obj: Obj, old: Obj | None = None) -> Causes:
    """A ServiceAccount: its metadata and field types (upstream's ValidateServiceAccount)."""
    return validate_object(SCHEMAS["ServiceAccount"], obj, old, namespaced=True)


# kind → its validation, and the kinds whose names follow a rule of their own; the package registry collects these.
def _validate_podtemplate(obj: Obj) -> Causes:
    template = as_dict(obj.get("template"))
    out = validate_template_meta(as_dict(template.get("metadata")), "template.metadata")
    return out + validate_pod_spec(as_dict(template.get("spec")), "template.spec")


def validate_podtemplate(obj: Obj, old: Obj | None = None) -> Causes:
    """A PodTemplate (upstream's ValidatePodTemplate): its metadata and the pod spec it holds."""
    return validate_object(SCHEMAS["PodTemplate"], obj, old, namespaced=True, rules=_validate_podtemplate)


def _validate_replicationcontroller(obj: Obj) -> Causes:
    spec = as_dict(obj.get("spec"))
    selector = as_dict(spec.get("selector"))
    out: Causes = [] if selector else [required("spec.selector")]
    out += validate_labels(selector, "spec.selector")
    for field in ("replicas", "minReadySeconds"):
        out += nonnegative(spec, field, "spec")
    # The template check reads a LabelSelector: an RC's selector is its matchLabels.
    return out + validate_pod_template({**spec, "selector": {"matchLabels": selector}}, "spec", ("Always",))


def validate_replicationcontroller(obj: Obj, old: Obj | None = None) -> Causes:
    """A ReplicationController (upstream's ValidateReplicationController): a non-empty selector map that the
    template's labels match."""
    return validate_object(SCHEMAS["ReplicationController"], obj, old, namespaced=True,
                           rules=_validate_replicationcontroller)


QUOTA_SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                "CrossNamespacePodAffinity")
LIMIT_TYPES = ("Pod", "Container", "PersistentVolumeClaim")


def _quantities(amounts: Obj, path: str) -> tuple[Causes, dict[str, decimal.Decimal]]:
    """Each amount a valid, non-negative quantity; returns the causes and the parsed amounts."""
    out: Causes = []
    parsed: dict[str, decimal.Decimal] = {}
    for name, amount in amounts.items():
        try:
            parsed[name] = parse_quantity(amount)
        except ValueError as exc:
            out.append(invalid(at_key(path, name), amount, str(exc)))
            continue
        if parsed[name] < 0:
            out.append(invalid(at_key(path, name), amount, NONNEGATIVE_MSG))
    return out, parsed


def _validate_resourcequota(obj: Obj) -> Causes:
    spec = as_dict(obj.get("spec"))
    out, _ = _quantities(as_dict(spec.get("hard")), "spec.hard")
    for i, scope in enumerate(as_list(spec.get("scopes"))):
        if scope not in QUOTA_SCOPES:
            out.append(not_supported(at_index("spec.scopes", i), scope, QUOTA_SCOPES))
    return out


def validate_resourcequota(obj: Obj, old: Obj | None = None) -> Causes:
    """A ResourceQuota (upstream's ValidateResourceQuota): quantities and scopes."""
    return validate_object(SCHEMAS["ResourceQuota"], obj, old, namespaced=True, rules=_validate_resourcequota)


def _validate_limitrange(obj: Obj) -> Causes:
    out: Causes = []
    for i, item in enumerate(as_list(as_dict(obj.get("spec")).get("limits"))):
        path = at_index("spec.limits", i)
        if item.get("type") not in LIMIT_TYPES:
            out.append(not_supported(child(path, "type"), item.get("type"), LIMIT_TYPES))
        parsed = {}
        for field in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            causes, parsed[field] = _quantities(as_dict(item.get(field)), child(path, field))
            out += causes
        for low, high, what in (("min", "max", "min value {} is greater than max value {}"),
                                ("defaultRequest", "default", "default request value {} is greater than default "
                                                              "limit value {}"),
                                ("default", "max", "default value {} is greater than max value {}"),
                                ("min", "defaultRequest", "min value {} is greater than default request value {}")):
            for name, amount in parsed[low].items():
                if name in parsed[high] and amount > parsed[high][name]:
                    out.append(invalid(at_key(child(path, low), name), item[low][name],
                                       what.format(item[low][name], item[high][name])))
    return out


def validate_limitrange(obj: Obj, old: Obj | None = None) -> Causes:
    """A LimitRange (upstream's ValidateLimitRange): known types, quantities, and min ≤ request ≤ limit ≤ max."""
    return validate_object(SCHEMAS["LimitRange"], obj, old, namespaced=True, rules=_validate_limitrange)


VALIDATORS = {
    "Pod": validate_pod,
    "ReplicationController": validate_replicationcontroller,
    "ResourceQuota": validate_resourcequota,
    "LimitRange": validate_limitrange,
    "PodTemplate": validate_podtemplate,
    "Service": validate_service,
    "Endpoints": validate_endpoints,
    "ConfigMap": validate_configmap,
    "Secret": validate_secret,
    "Node": validate_node,
    "Event": validate_event,
    "Namespace": validate_namespace,
    "ServiceAccount": validate_serviceaccount,
}
NAME_CHECKS: dict[str, NameCheck] = {
    "Namespace": validate_namespace_name,
    "Service": validate_service_name,
}
