"""Validation of objects on create and update, with upstream's field paths, reasons and messages.

`validate` returns `details.causes` entries; the API server turns a non-empty list into a 422 Invalid Status.
Run it after defaulting, as upstream does: a field left out means its default, not "changed".

Two passes. First a declarative type check (`SCHEMAS`): a wrong JSON type stops validation there, as upstream's
decoder does (it answers 400; we answer 422 with one cause per field). Then the rules, which may trust that
every field they read has the type its schema says.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from kubeling.api import errors
from kubeling.api.resources import ResourceType

Obj = dict[str, Any]
Causes = list[dict[str, str]]

# --------------------------------------------------------------------------------------------------------------
# Cause builders: the bodies of upstream's field.Error (the field itself is prefixed by errors.cause).


def _show(value: Any) -> str:
    """A bad value as upstream prints it: strings quoted, numbers and bools bare, anything else as JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _with_detail(head: str, detail: str) -> str:
    return f"{head}: {detail}" if detail else head


def invalid(field: str, value: Any, detail: str = "") -> dict[str, str]:
    return errors.cause(field, _with_detail(f"Invalid value: {_show(value)}", detail), "FieldValueInvalid")


def required(field: str, detail: str = "") -> dict[str, str]:
    return errors.cause(field, _with_detail("Required value", detail), "FieldValueRequired")


def not_supported(field: str, value: Any, supported: list[str] | tuple[str, ...]) -> dict[str, str]:
    detail = "supported values: " + ", ".join(json.dumps(v) for v in supported)
    return errors.cause(field, f"Unsupported value: {_show(value)}: {detail}", "FieldValueNotSupported")


def forbidden(field: str, detail: str) -> dict[str, str]:
    return errors.cause(field, f"Forbidden: {detail}", "FieldValueForbidden")


def duplicate(field: str, value: Any) -> dict[str, str]:
    return errors.cause(field, f"Duplicate value: {_show(value)}", "FieldValueDuplicate")


def not_found(field: str, value: Any) -> dict[str, str]:
    return errors.cause(field, f"Not found: {_show(value)}", "FieldValueNotFound")


def too_long(field: str, max_bytes: int) -> dict[str, str]:
    return errors.cause(field, f"Too long: may not be more than {max_bytes} bytes", "FieldValueTooLong")


def type_invalid(field: str, value: Any, expected: str) -> dict[str, str]:
    # Worded like the CRD schema validator, the only upstream path that reports type errors as causes.
    actual = _json_type(value)
    return errors.cause(
        field,
        f'Invalid value: "{actual}": {field} in body must be of type {expected}: "{actual}"',
        "FieldValueTypeInvalid",
    )


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _key(path: str, key: str) -> str:
    return f"{path}[{key}]"


# --------------------------------------------------------------------------------------------------------------
# Format checks, as k8s.io/apimachinery/pkg/util/validation words them. Each returns a list of messages.


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = "".join(f"{' or ' if i else ''}'{e}', " for i, e in enumerate(examples))
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"

_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
DNS1123_LABEL_MSG = _regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character", _DNS1123_LABEL_FMT, "my-name", "123-abc",
)
DNS1123_SUBDOMAIN_MSG = _regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character", _DNS1123_SUBDOMAIN_FMT, "example.com",
)
DNS1035_LABEL_MSG = _regex_error(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character", _DNS1035_LABEL_FMT, "my-name", "abc-123",
)
_QUALIFIED_NAME_REGEX_MSG = _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
LABEL_VALUE_MSG = _regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character", _LABEL_VALUE_FMT, "MyValue", "my_value", "12345",
)
CONFIG_KEY_MSG = _regex_error(
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'", _CONFIG_KEY_FMT,
    "key.name", "KEY_NAME", "key-name",
)
IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"
NONNEGATIVE_MSG = "must be greater than or equal to 0"
IMMUTABLE_MSG = "field is immutable"
SELECTOR_MISMATCH_MSG = "`selector` does not match template `labels`"
ENV_NAME_MSG = "a valid environment variable name must consist only of printable ASCII characters other than '='"

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_CONFIG_KEY_RE = re.compile(_CONFIG_KEY_FMT)


def _format_errors(value: str, regex: re.Pattern[str], max_len: int, message: str) -> list[str]:
    out = [_max_len(max_len)] if len(value) > max_len else []
    if not regex.fullmatch(value):
        out.append(message)
    return out


def dns1123_label(value: str) -> list[str]:
    return _format_errors(value, _DNS1123_LABEL_RE, 63, DNS1123_LABEL_MSG)


def dns1123_subdomain(value: str) -> list[str]:
    return _format_errors(value, _DNS1123_SUBDOMAIN_RE, 253, DNS1123_SUBDOMAIN_MSG)


def dns1035_label(value: str) -> list[str]:
    return _format_errors(value, _DNS1035_LABEL_RE, 63, DNS1035_LABEL_MSG)


def qualified_name(value: str) -> list[str]:
    """Label and annotation keys, finalizers: an optional DNS subdomain prefix and `/`, then a name ≤63."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name " + _QUALIFIED_NAME_REGEX_MSG
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    out: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            out.append("prefix part must be non-empty")
        else:
            out += ["prefix part " + msg for msg in dns1123_subdomain(prefix)]
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > 63:
        out.append("name part " + _max_len(63))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        out.append("name part " + _QUALIFIED_NAME_REGEX_MSG)
    return out


def label_value(value: str) -> list[str]:
    return _format_errors(value, _LABEL_VALUE_RE, 63, LABEL_VALUE_MSG)


def config_key(value: str) -> list[str]:
    out = _format_errors(value, _CONFIG_KEY_RE, 253, CONFIG_KEY_MSG)
    if value == ".":
        out.append("must not be '.'")
    elif value == "..":
        out.append("must not be '..'")
    elif value.startswith(".."):
        out.append("must not start with '..'")
    return out


def port_name(value: str) -> list[str]:
    """IANA service names, as container port names must be."""
    out = []
    if len(value) > 15:
        out.append(_max_len(15))
    if not re.fullmatch("[-a-z0-9]+", value):
        out.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        out.append("must contain at least one letter (a-z)")
    if "--" in value:
        out.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


def _port_number(value: int) -> list[str]:
    return [] if 1 <= value <= 65535 else [PORT_RANGE_MSG]


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


# --------------------------------------------------------------------------------------------------------------
# Declarative type schemas. Only the fields the rules below read (plus a few neighbours kubectl users mistype);
# anything not listed passes through unchecked, as this is not a full OpenAPI schema.


@dataclasses.dataclass(frozen=True)
class Struct:
    fields: dict[str, Schema]


@dataclasses.dataclass(frozen=True)
class Arr:
    items: Schema


@dataclasses.dataclass(frozen=True)
class Map:
    values: Schema


Schema = str | Struct | Arr | Map

STR, INT, BOOL, NUM, ANY_OBJ = "string", "integer", "boolean", "number", "object"
INT_OR_STR = "integer or string"
QUANTITY = "string or number"

_SCALAR_CHECKS: dict[str, Callable[[Any], bool]] = {
    STR: lambda v: isinstance(v, str),
    INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
    BOOL: lambda v: isinstance(v, bool),
    NUM: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    ANY_OBJ: lambda v: isinstance(v, dict),
    INT_OR_STR: lambda v: isinstance(v, str | int) and not isinstance(v, bool),
    QUANTITY: lambda v: isinstance(v, str | int | float) and not isinstance(v, bool),
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def S(**fields: Schema) -> Struct:
    """A struct schema; short because the tables below are full of them."""
    return Struct(fields)


STRINGS = Arr(STR)
STRING_MAP = Map(STR)

OBJECT_META = S(
    name=STR, generateName=STR, namespace=STR, uid=STR, resourceVersion=STR, generation=INT,
    creationTimestamp=STR, deletionTimestamp=STR, deletionGracePeriodSeconds=INT,
    labels=STRING_MAP, annotations=STRING_MAP, finalizers=STRINGS,
    ownerReferences=Arr(S(apiVersion=STR, kind=STR, name=STR, uid=STR, controller=BOOL, blockOwnerDeletion=BOOL)),
)
TEMPLATE_META = S(name=STR, labels=STRING_MAP, annotations=STRING_MAP)
LABEL_SELECTOR = S(
    matchLabels=STRING_MAP,
    matchExpressions=Arr(S(key=STR, operator=STR, values=STRINGS)),
)
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
_ROLLING = S(maxSurge=INT_OR_STR, maxUnavailable=INT_OR_STR, partition=INT)
_WORKLOAD = dict(replicas=INT, selector=LABEL_SELECTOR, template=POD_TEMPLATE, minReadySeconds=INT,
                 revisionHistoryLimit=INT)
JOB_SPEC = S(
    parallelism=INT, completions=INT, backoffLimit=INT, activeDeadlineSeconds=INT, ttlSecondsAfterFinished=INT,
    completionMode=STR, suspend=BOOL, manualSelector=BOOL, selector=LABEL_SELECTOR, template=POD_TEMPLATE,
)
_SERVICE_PORT = S(name=STR, port=INT, targetPort=INT_OR_STR, nodePort=INT, protocol=STR, appProtocol=STR)
_ENDPOINT_ADDRESS = S(ip=STR, hostname=STR, nodeName=STR, targetRef=ANY_OBJ)

POLICY_RULE = S(verbs=STRINGS, apiGroups=STRINGS, resources=STRINGS, resourceNames=STRINGS, nonResourceURLs=STRINGS)
SUBJECT = S(kind=STR, apiGroup=STR, name=STR, namespace=STR)
ROLE_REF = S(apiGroup=STR, kind=STR, name=STR)


def _root(**fields: Schema) -> Struct:
    return S(apiVersion=STR, kind=STR, metadata=OBJECT_META, **fields)


SCHEMAS: dict[str, Struct] = {
    "Namespace": _root(spec=S(finalizers=STRINGS)),
    "Node": _root(spec=S(
        podCIDR=STR, podCIDRs=STRINGS, unschedulable=BOOL, providerID=STR,
        taints=Arr(S(key=STR, value=STR, effect=STR, timeAdded=STR)),
    )),
    "Pod": _root(spec=POD_SPEC),
    "Service": _root(spec=S(
        type=STR, clusterIP=STR, clusterIPs=STRINGS, ports=Arr(_SERVICE_PORT), selector=STRING_MAP,
        externalName=STR, externalIPs=STRINGS, sessionAffinity=STR, loadBalancerIP=STR,
        externalTrafficPolicy=STR, internalTrafficPolicy=STR, ipFamilies=STRINGS, ipFamilyPolicy=STR,
        publishNotReadyAddresses=BOOL,
    )),
    "Endpoints": _root(subsets=Arr(S(
        addresses=Arr(_ENDPOINT_ADDRESS), notReadyAddresses=Arr(_ENDPOINT_ADDRESS),
        ports=Arr(S(name=STR, port=INT, protocol=STR, appProtocol=STR)),
    ))),
    "ConfigMap": _root(data=STRING_MAP, binaryData=STRING_MAP, immutable=BOOL),
    "Secret": _root(data=STRING_MAP, stringData=STRING_MAP, type=STR, immutable=BOOL),
    "Event": _root(
        involvedObject=S(kind=STR, namespace=STR, name=STR, uid=STR, apiVersion=STR, resourceVersion=STR,
                         fieldPath=STR),
        reason=STR, message=STR, type=STR, count=INT, source=S(component=STR, host=STR),
        firstTimestamp=STR, lastTimestamp=STR, eventTime=STR, reportingComponent=STR, reportingInstance=STR,
    ),
    "ServiceAccount": _root(secrets=Arr(ANY_OBJ), imagePullSecrets=Arr(S(name=STR)),
                            automountServiceAccountToken=BOOL),
    "Lease": _root(spec=S(holderIdentity=STR, leaseDurationSeconds=INT, acquireTime=STR, renewTime=STR,
                          leaseTransitions=INT)),
    "Deployment": _root(spec=S(
        **_WORKLOAD, paused=BOOL, progressDeadlineSeconds=INT,
        strategy=S(type=STR, rollingUpdate=_ROLLING),
    )),
    "ReplicaSet": _root(spec=S(**_WORKLOAD)),
    "DaemonSet": _root(spec=S(**_WORKLOAD, updateStrategy=S(type=STR, rollingUpdate=_ROLLING))),
    "StatefulSet": _root(spec=S(
        **_WORKLOAD, serviceName=STR, podManagementPolicy=STR, updateStrategy=S(type=STR, rollingUpdate=_ROLLING),
        volumeClaimTemplates=Arr(ANY_OBJ), persistentVolumeClaimRetentionPolicy=ANY_OBJ, ordinals=S(start=INT),
    )),
    "Role": _root(rules=Arr(POLICY_RULE)),
    "ClusterRole": _root(rules=Arr(POLICY_RULE), aggregationRule=ANY_OBJ),
    "RoleBinding": _root(subjects=Arr(SUBJECT), roleRef=ROLE_REF),
    "ClusterRoleBinding": _root(subjects=Arr(SUBJECT), roleRef=ROLE_REF),
    "Job": _root(spec=JOB_SPEC),
    "CronJob": _root(spec=S(
        schedule=STR, timeZone=STR, concurrencyPolicy=STR, suspend=BOOL, startingDeadlineSeconds=INT,
        successfulJobsHistoryLimit=INT, failedJobsHistoryLimit=INT,
        jobTemplate=S(metadata=TEMPLATE_META, spec=JOB_SPEC),
    )),
}


def conforms(schema: Schema, value: Any) -> bool:
    """Whether `value` has the types `schema` asks for: `type_errors` without the paths and causes, for the
    common case of a well-typed object (it walks the object's fields, not the schema's)."""
    if value is None:
        return True
    if isinstance(schema, str):
        return _SCALAR_CHECKS[schema](value)
    if isinstance(schema, Arr):
        if not isinstance(value, list):
            return False
        return all(conforms(schema.items, item) for item in value)
    if not isinstance(value, dict):
        return False
    if isinstance(schema, Map):
        return all(conforms(schema.values, item) for item in value.values())
    fields = schema.fields
    for name, item in value.items():
        sub = fields.get(name)
        if sub is None or item is None:
            continue
        # Scalars checked here rather than by a call per field: most fields are scalars.
        if not (_SCALAR_CHECKS[sub](item) if isinstance(sub, str) else conforms(sub, item)):
            return False
    return True


def type_errors(schema: Schema, value: Any, path: str = "") -> Causes:
    """Walk `value` along `schema`; a null anywhere means "unset", as the Go decoder reads it."""
    if value is None:
        return []
    if isinstance(schema, str):
        return [] if _SCALAR_CHECKS[schema](value) else [type_invalid(path or "<root>", value, schema)]
    if isinstance(schema, Arr):
        if not isinstance(value, list):
            return [type_invalid(path, value, "array")]
        return [c for i, item in enumerate(value) for c in type_errors(schema.items, item, _index(path, i))]
    if not isinstance(value, dict):
        return [type_invalid(path or "<root>", value, "object")]
    if isinstance(schema, Map):
        return [c for k, v in value.items() for c in type_errors(schema.values, v, _key(path, k))]
    return [
        c for name, sub in schema.fields.items() if name in value
        for c in type_errors(sub, value[name], _child(path, name))
    ]


# --------------------------------------------------------------------------------------------------------------
# Small readers. After the type pass these never see a wrong type for a schema'd field; `or` maps null to empty.


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _nonnegative(obj: Obj, name: str, path: str) -> Causes:
    value = obj.get(name)
    return [invalid(_child(path, name), value, NONNEGATIVE_MSG)] if isinstance(value, int) and value < 0 else []


def _enum(obj: Obj, name: str, path: str, supported: tuple[str, ...]) -> Causes:
    """An enumerated field; absent or empty means its default, which defaulting fills in."""
    value = obj.get(name)
    return [not_supported(_child(path, name), value, supported)] if value and value not in supported else []


def _each(field: str, value: str, messages: list[str]) -> Causes:
    return [invalid(field, value, msg) for msg in messages]


# --------------------------------------------------------------------------------------------------------------
# Object metadata


def validate_name(rtype: ResourceType, name: str) -> list[str]:
    """Messages for a bad object name of this type (empty when fine); also for names taken from URL paths."""
    if rtype.kind == "Namespace":
        return dns1123_label(name)
    if rtype.kind == "Service":
        return dns1035_label(name)  # upstream: Service names must be DNS-1035 labels (start with a letter)
    if rtype.group == RBAC_GROUP:
        return path_segment_name(name)  # RBAC names are `system:...`: anything that fits in one URL segment
    return dns1123_subdomain(name)


def path_segment_name(name: str) -> list[str]:
    """Upstream's path.IsValidPathSegmentName."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _labels(labels: Obj, path: str) -> Causes:
    out: Causes = []
    for key, value in labels.items():
        out += _each(path, key, qualified_name(key))
        if isinstance(value, str):
            out += _each(path, value, label_value(value))
    return out


TOTAL_ANNOTATION_SIZE = 256 * 1024


def _annotations(annotations: Obj, path: str) -> Causes:
    out: Causes = []
    total = 0
    for key, value in annotations.items():
        out += _each(path, key, qualified_name(key.lower()))
        total += len(key.encode()) + len(str(value).encode())
    if total > TOTAL_ANNOTATION_SIZE:
        out.append(too_long(path, TOTAL_ANNOTATION_SIZE))
    return out


def _owner_references(refs: list[Any], path: str) -> Causes:
    out: Causes = []
    controllers = []
    for ref in refs:
        ref = _d(ref)
        api_version = ref.get("apiVersion") or ""
        if not api_version.rpartition("/")[2]:
            out.append(invalid(_child(path, "apiVersion"), api_version, "version must not be empty"))
        for name in ("kind", "name", "uid"):
            if not ref.get(name):
                out.append(invalid(_child(path, name), ref.get(name) or "", "must not be empty"))
        if ref.get("controller"):
            controllers.append(f"{ref.get('kind')}/{ref.get('name')}")
    if len(controllers) > 1:
        out.append(invalid(path, refs, "Only one reference can have Controller set to true. Found \"true\" in "
                                       f"references for {' and '.join(controllers[:2])}"))
    return out


def _template_meta(meta: Obj, path: str) -> Causes:
    return _labels(_d(meta.get("labels")), _child(path, "labels")) + _annotations(
        _d(meta.get("annotations")), _child(path, "annotations"))


def _object_meta(rtype: ResourceType, meta: Obj) -> Causes:
    out: Causes = []
    name = meta.get("name") or ""
    if not name:
        out.append(required("metadata.name", "name or generateName is required"))
    else:
        out += _each("metadata.name", name, validate_name(rtype, name))
    namespace = meta.get("namespace") or ""
    if rtype.namespaced:
        if not namespace:
            out.append(required("metadata.namespace"))
        else:
            out += _each("metadata.namespace", namespace, dns1123_label(namespace))
    elif namespace:
        out.append(forbidden("metadata.namespace", "not allowed on this type"))
    out += _template_meta(meta, "metadata")
    out += _owner_references(_l(meta.get("ownerReferences")), "metadata.ownerReferences")
    for finalizer in _l(meta.get("finalizers")):
        out += _each("metadata.finalizers", finalizer, qualified_name(finalizer))
    return out


# --------------------------------------------------------------------------------------------------------------
# Pods and pod templates

PROTOCOLS = ("SCTP", "TCP", "UDP")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _container(c: Obj, path: str, volumes: set[str]) -> Causes:
    out: Causes = []
    if not c.get("image"):
        out.append(required(_child(path, "image")))
    out += _enum(c, "imagePullPolicy", path, PULL_POLICIES)
    port_names: set[str] = set()
    for i, port in enumerate(_l(c.get("ports"))):
        port, ppath = _d(port), _index(_child(path, "ports"), i)
        if name := port.get("name"):
            out += _each(_child(ppath, "name"), name, port_name(name))
            if name in port_names:
                out.append(duplicate(_child(ppath, "name"), name))
            port_names.add(name)
        number = port.get("containerPort") or 0
        if not number:
            out.append(required(_child(ppath, "containerPort")))
        else:
            out += _each(_child(ppath, "containerPort"), number, _port_number(number))
        if host_port := port.get("hostPort"):
            out += _each(_child(ppath, "hostPort"), host_port, _port_number(host_port))
        out += _enum(port, "protocol", ppath, PROTOCOLS)
    for i, env in enumerate(_l(c.get("env"))):
        epath = _child(_index(_child(path, "env"), i), "name")
        name = _d(env).get("name") or ""
        if not name:
            out.append(required(epath))
        elif "=" in name or not all(" " <= ch <= "~" for ch in name):
            out.append(invalid(epath, name, ENV_NAME_MSG))
    mount_paths: set[str] = set()
    for i, mount in enumerate(_l(c.get("volumeMounts"))):
        mount, mpath = _d(mount), _index(_child(path, "volumeMounts"), i)
        name = mount.get("name") or ""
        if not name:
            out.append(required(_child(mpath, "name")))
        elif name not in volumes:
            out.append(not_found(_child(mpath, "name"), name))
        mount_path = mount.get("mountPath") or ""
        if not mount_path:
            out.append(required(_child(mpath, "mountPath")))
        elif mount_path in mount_paths:
            out.append(invalid(_child(mpath, "mountPath"), mount_path, "must be unique"))
        mount_paths.add(mount_path)
    return out


def validate_pod_spec(spec: Obj, path: str) -> Causes:
    out: Causes = []
    volumes: set[str] = set()
    for i, volume in enumerate(_l(spec.get("volumes"))):
        vpath = _child(_index(_child(path, "volumes"), i), "name")
        name = _d(volume).get("name") or ""
        if not name:
            out.append(required(vpath))
            continue
        out += _each(vpath, name, dns1123_label(name))
        if name in volumes:
            out.append(duplicate(vpath, name))
        volumes.add(name)
    if not _l(spec.get("containers")):
        out.append(required(_child(path, "containers")))
    # Init containers and containers share one namespace of names.
    names: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, container in enumerate(_l(spec.get(group))):
            container, cpath = _d(container), _index(_child(path, group), i)
            name = container.get("name") or ""
            if not name:
                out.append(required(_child(cpath, "name")))
            else:
                out += _each(_child(cpath, "name"), name, dns1123_label(name))
                if name in names:
                    out.append(duplicate(_child(cpath, "name"), name))
                names.add(name)
            out += _container(container, cpath, volumes)
    out += _enum(spec, "restartPolicy", path, RESTART_POLICIES)
    out += _enum(spec, "dnsPolicy", path, DNS_POLICIES)
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        out.append(invalid(_child(path, "activeDeadlineSeconds"), deadline,
                           "must be between 1 and 2147483647, inclusive"))
    for field in ("nodeName", "serviceAccountName"):
        if value := spec.get(field):
            out += _each(_child(path, field), value, dns1123_subdomain(value))
    for i, toleration in enumerate(_l(spec.get("tolerations"))):
        toleration, tpath = _d(toleration), _index(_child(path, "tolerations"), i)
        out += _enum(toleration, "operator", tpath, ("Equal", "Exists"))
        out += _enum(toleration, "effect", tpath, TAINT_EFFECTS)
        if toleration.get("operator") == "Exists" and toleration.get("value"):
            out.append(invalid(_child(tpath, "operator"), "Exists", "value must be empty when `operator` is 'Exists'"))
    return out


def _validate_pod(obj: Obj) -> Causes:
    return validate_pod_spec(_d(obj.get("spec")), "spec")


# --------------------------------------------------------------------------------------------------------------
# Label selectors and the workload controllers that own pods through them

SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _label_selector(selector: Obj, path: str) -> Causes:
    out = _labels(_d(selector.get("matchLabels")), _child(path, "matchLabels"))
    for i, req in enumerate(_l(selector.get("matchExpressions"))):
        req, rpath = _d(req), _index(_child(path, "matchExpressions"), i)
        key, op, values = req.get("key") or "", req.get("operator") or "", _l(req.get("values"))
        out += _each(_child(rpath, "key"), key, qualified_name(key))
        if op not in SELECTOR_OPERATORS:
            out.append(invalid(_child(rpath, "operator"), op, "not a valid selector operator"))
        elif op in ("In", "NotIn") and not values:
            out.append(required(_child(rpath, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            out.append(forbidden(_child(rpath, "values"),
                                 "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    return out


def selector_matches(selector: Obj, labels: Obj) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) selects these labels."""
    for key, value in _d(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for req in _l(selector.get("matchExpressions")):
        req = _d(req)
        key, op, values = req.get("key"), req.get("operator"), _l(req.get("values"))
        present = key in labels
        if ((op == "In" and (not present or labels[key] not in values))
                or (op == "NotIn" and present and labels[key] in values)
                or (op == "Exists" and not present) or (op == "DoesNotExist" and present)):
            return False
    return True


def _is_empty_selector(selector: Obj) -> bool:
    return not _d(selector.get("matchLabels")) and not _l(selector.get("matchExpressions"))


def _template(spec: Obj, path: str, restart_policies: tuple[str, ...]) -> Causes:
    """The pod template of a workload: labels must match the selector, restartPolicy from an allowed set."""
    tpath = _child(path, "template")
    if not isinstance(spec.get("template"), dict):
        return [required(tpath)]
    template = spec["template"]
    meta, pod_spec = _d(template.get("metadata")), _d(template.get("spec"))
    out = _template_meta(meta, _child(tpath, "metadata"))
    selector = spec.get("selector")
    # A malformed selector is reported on its own; matching it against the labels would only add noise.
    if isinstance(selector, dict) and not _is_empty_selector(selector) and not _label_selector(selector, ""):
        labels = _d(meta.get("labels"))
        if not selector_matches(selector, labels):
            out.append(invalid(_child(tpath, "metadata.labels"), labels, SELECTOR_MISMATCH_MSG))
    out += validate_pod_spec(pod_spec, _child(tpath, "spec"))
    policy = pod_spec.get("restartPolicy") or "Always"  # the default, had defaulting not run
    if policy in RESTART_POLICIES and policy not in restart_policies:
        out.append(not_supported(_child(tpath, "spec.restartPolicy"), policy, restart_policies))
    return out


def _replicated(spec: Obj, empty_selector_msg: str) -> Causes:
    """What Deployments, ReplicaSets, DaemonSets and StatefulSets share."""
    out: Causes = []
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        out.append(required("spec.selector"))
    else:
        out += _label_selector(selector, "spec.selector")
        if _is_empty_selector(selector):
            out.append(invalid("spec.selector", selector, empty_selector_msg))
    for field in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        out += _nonnegative(spec, field, "spec")
    return out + _template(spec, "spec", ("Always",))


def _is_zero(value: Any) -> bool:
    return value == 0 or value == "0%"


def _int_or_percent(value: Any, path: str, max_percent: int | None = None) -> Causes:
    if isinstance(value, str):
        if not re.fullmatch("[0-9]+%", value):
            return [invalid(path, value, "a valid percent string must be a numeric string followed by an ending "
                                         "'%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]
        if max_percent is not None and int(value[:-1]) > max_percent:
            return [invalid(path, value, f"must not be greater than {max_percent}%")]
    elif isinstance(value, int) and value < 0:
        return [invalid(path, value, NONNEGATIVE_MSG)]
    return []


def _validate_deployment(obj: Obj) -> Causes:
    spec = _d(obj.get("spec"))
    out = _replicated(spec, "empty selector is invalid for deployment")
    strategy, spath = _d(spec.get("strategy")), "spec.strategy"
    kind = strategy.get("type") or "RollingUpdate"
    rolling = strategy.get("rollingUpdate")
    if kind not in ("Recreate", "RollingUpdate"):
        out.append(not_supported(_child(spath, "type"), kind, ("Recreate", "RollingUpdate")))
    elif kind == "Recreate" and rolling is not None:
        out.append(forbidden(_child(spath, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
    elif isinstance(rolling, dict):
        rpath = _child(spath, "rollingUpdate")
        surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
        out += _int_or_percent(surge, _child(rpath, "maxSurge"))
        out += _int_or_percent(unavailable, _child(rpath, "maxUnavailable"), max_percent=100)
        if _is_zero(surge) and _is_zero(unavailable):
            out.append(invalid(_child(rpath, "maxUnavailable"), unavailable, "may not be 0 when `maxSurge` is 0"))
    out += _nonnegative(spec, "progressDeadlineSeconds", "spec")
    deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if isinstance(deadline, int) and deadline >= 0 and deadline <= min_ready:
        out.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return out


def _validate_replicaset(obj: Obj) -> Causes:
    return _replicated(_d(obj.get("spec")), "empty selector is invalid for deployment")  # sic, upstream


def _validate_daemonset(obj: Obj) -> Causes:
    spec = _d(obj.get("spec"))
    out = _replicated(spec, "empty selector is not valid for daemonset.")
    return out + _enum(_d(spec.get("updateStrategy")), "type", "spec.updateStrategy", ("RollingUpdate", "OnDelete"))


def _validate_statefulset(obj: Obj) -> Causes:
    spec = _d(obj.get("spec"))
    out = _replicated(spec, "empty selector is not valid for statefulset.")
    policy = spec.get("podManagementPolicy")
    if policy and policy not in ("OrderedReady", "Parallel"):
        out.append(invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
    strategy = _d(spec.get("updateStrategy"))
    if strategy.get("type") and strategy["type"] not in ("RollingUpdate", "OnDelete"):
        out.append(invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'"))
    return out + _nonnegative(_d(strategy.get("rollingUpdate")), "partition", "spec.updateStrategy.rollingUpdate")


# --------------------------------------------------------------------------------------------------------------
# Jobs and CronJobs


def validate_job_spec(spec: Obj, path: str) -> Causes:
    out: Causes = []
    for field in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        out += _nonnegative(spec, field, path)
    out += _enum(spec, "completionMode", path, ("NonIndexed", "Indexed"))
    # The selector is usually generated by the server; if one is given it must still be well formed.
    if isinstance(spec.get("selector"), dict):
        out += _label_selector(spec["selector"], _child(path, "selector"))
    return out + _template(spec, path, ("OnFailure", "Never"))


def _validate_job(obj: Obj) -> Causes:
    return validate_job_spec(_d(obj.get("spec")), "spec")


CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# (minimum, maximum, names) per field: minute, hour, day of month, month, day of week.
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                          "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_CRON_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _DAYS),
)


def _cron_number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(f"failed to parse int from {text}: strconv.Atoi: parsing {json.dumps(text)}: invalid syntax")
    return int(text)


def _cron_field_error(expr: str, low: int, high: int, names: dict[str, int]) -> str | None:
    try:
        for part in expr.split(","):
            span, _, step = part.partition("/")
            if "/" in step:
                return f"too many slashes: {part}"
            if step and (not step.isdigit() or int(step) == 0):
                return f"step of range should be a positive number: {part}"
            if span in ("*", "?"):
                continue
            bounds = span.split("-")
            if len(bounds) > 2:
                return f"too many hyphens: {part}"
            start = _cron_number(bounds[0], names)
            end = _cron_number(bounds[-1], names)
            if start < low:
                return f"beginning of range ({start}) below minimum ({low}): {part}"
            if end > high:
                return f"end of range ({end}) above maximum ({high}): {part}"
            if start > end:
                return f"beginning of range ({start}) beyond end of range ({end}): {part}"
    except ValueError as err:
        return str(err)
    return None


def cron_schedule_error(schedule: str) -> str | None:
    """A light check of a standard 5-field cron expression or @descriptor; None when it parses."""
    text = schedule.strip()
    if text.startswith("@"):
        if text in CRON_DESCRIPTORS:
            return None
        if text.startswith("@every ") and re.fullmatch(r"([0-9.]+(ns|us|µs|ms|s|m|h))+", text[7:].strip()):
            return None
        return f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for expr, (low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        if err := _cron_field_error(expr, low, high, names):
            return err
    return None


def _validate_cronjob(obj: Obj) -> Causes:
    out: Causes = []
    name = _d(obj.get("metadata")).get("name") or ""
    if len(name) > 52:  # Job names get an 11-character suffix and must stay a DNS-1035 label
        out.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    spec = _d(obj.get("spec"))
    schedule = spec.get("schedule") or ""
    if not schedule:
        out.append(required("spec.schedule"))
    elif err := cron_schedule_error(schedule):
        out.append(invalid("spec.schedule", schedule, err))
    out += _enum(spec, "concurrencyPolicy", "spec", ("Allow", "Forbid", "Replace"))
    for field in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        out += _nonnegative(spec, field, "spec")
    job_template = _d(spec.get("jobTemplate"))
    out += _template_meta(_d(job_template.get("metadata")), "spec.jobTemplate.metadata")
    return out + validate_job_spec(_d(job_template.get("spec")), "spec.jobTemplate.spec")


# --------------------------------------------------------------------------------------------------------------
# Services and Endpoints

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _service_ports(ports: list[Any], stype: str) -> Causes:
    out: Causes = []
    names: set[str] = set()
    seen: set[tuple[int, str]] = set()
    for i, port in enumerate(ports):
        port, ppath = _d(port), _index("spec.ports", i)
        name = port.get("name") or ""
        if not name and len(ports) > 1:
            out.append(required(_child(ppath, "name")))
        elif name:
            out += _each(_child(ppath, "name"), name, dns1123_label(name))
            if name in names:
                out.append(duplicate(_child(ppath, "name"), name))
            names.add(name)
        number = port.get("port") or 0
        out += _each(_child(ppath, "port"), number, _port_number(number))
        out += _enum(port, "protocol", ppath, PROTOCOLS)
        target = port.get("targetPort")
        if isinstance(target, int) and target != 0:
            out += _each(_child(ppath, "targetPort"), target, _port_number(target))
        elif isinstance(target, str) and target:
            out += _each(_child(ppath, "targetPort"), target, port_name(target))
        node_port = port.get("nodePort") or 0
        if node_port:
            if stype == "ClusterIP":
                out.append(forbidden(_child(ppath, "nodePort"), "may not be used when `type` is 'ClusterIP'"))
            out += _each(_child(ppath, "nodePort"), node_port, _port_number(node_port))
        key = (number, port.get("protocol") or "TCP")
        if key in seen:
            out.append(duplicate(ppath, f"{key[0]}/{key[1]}"))
        seen.add(key)
    return out


def _validate_service(obj: Obj) -> Causes:
    out: Causes = []
    spec = _d(obj.get("spec"))
    stype = spec.get("type") or "ClusterIP"
    if stype not in SERVICE_TYPES:
        out.append(not_supported("spec.type", stype, SERVICE_TYPES))
    cluster_ip = spec.get("clusterIP") or ""
    headless = cluster_ip == "None"
    ports = _l(spec.get("ports"))
    if stype == "ExternalName":
        external = spec.get("externalName") or ""
        if not external:
            out.append(required("spec.externalName"))
        else:
            out += _each("spec.externalName", external, dns1123_subdomain(external.removesuffix(".")))
        if cluster_ip:
            out.append(forbidden("spec.clusterIP", "may not be set for ExternalName services"))
    elif not ports and not headless:
        out.append(required("spec.ports"))
    if cluster_ip and not headless and not _is_ip(cluster_ip):
        out.append(invalid("spec.clusterIP", cluster_ip, IP_MSG))
    for i, ip in enumerate(_l(spec.get("clusterIPs"))):
        if not (i == 0 and ip == "None") and not _is_ip(ip):
            out.append(invalid(_index("spec.clusterIPs", i), ip, IP_MSG))
    if headless and stype in ("NodePort", "LoadBalancer"):
        out.append(invalid("spec.clusterIP", cluster_ip, f"may not be set to 'None' for {stype} services"))
    return out + _service_ports(ports, stype)


def _validate_endpoints(obj: Obj) -> Causes:
    out: Causes = []
    for i, subset in enumerate(_l(obj.get("subsets"))):
        subset, spath = _d(subset), _index("subsets", i)
        for group in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(_l(subset.get(group))):
                ip = _d(address).get("ip") or ""
                if not _is_ip(ip):
                    out.append(invalid(_child(_index(_child(spath, group), j), "ip"), ip, IP_MSG))
        ports = _l(subset.get("ports"))
        for j, port in enumerate(ports):
            port, ppath = _d(port), _index(_child(spath, "ports"), j)
            name = port.get("name") or ""
            if not name and len(ports) > 1:
                out.append(required(_child(ppath, "name")))
            elif name:
                out += _each(_child(ppath, "name"), name, dns1123_label(name))
            number = port.get("port") or 0
            out += _each(_child(ppath, "port"), number, _port_number(number))
            out += _enum(port, "protocol", ppath, PROTOCOLS)
    return out


# --------------------------------------------------------------------------------------------------------------
# ConfigMaps and Secrets

MAX_DATA_SIZE = 1024 * 1024


def _data_keys(data: Obj, path: str) -> Causes:
    return [c for key in data for c in _each(_key(path, key), key, config_key(key))]


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
    data, binary = _d(obj.get("data")), _d(obj.get("binaryData"))
    out = _data_keys(data, "data") + _data_keys(binary, "binaryData")
    for key in binary:
        if key in data:
            out.append(invalid(_key("binaryData", key), key, "duplicate of key present in data"))
        elif err := _base64_error(binary[key]):
            out.append(errors.cause(_key("binaryData", key), f"Invalid value: {err}"))
    size = sum(len(k) + len(str(v)) for k, v in [*data.items(), *binary.items()])
    if size > MAX_DATA_SIZE:
        out.append(too_long("", MAX_DATA_SIZE))
    return out


def _validate_secret(obj: Obj) -> Causes:
    data, string_data = _d(obj.get("data")), _d(obj.get("stringData"))
    out = _data_keys(data, "data") + _data_keys(string_data, "stringData")
    for key, value in data.items():
        # The value is secret, so the message leaves it out, as upstream's decoder error does.
        if err := _base64_error(value):
            out.append(errors.cause(_key("data", key), f"Invalid value: {err}"))
    if sum(len(k) + len(v) * 3 // 4 for k, v in data.items()) > MAX_DATA_SIZE:
        out.append(too_long("data", MAX_DATA_SIZE))
    return out


# --------------------------------------------------------------------------------------------------------------
# The rest


def _validate_node(obj: Obj) -> Causes:
    spec = _d(obj.get("spec"))
    out: Causes = []
    if (cidr := spec.get("podCIDR")) and not _is_cidr(cidr):
        out.append(invalid("spec.podCIDR", cidr, CIDR_MSG))
    for i, cidr in enumerate(_l(spec.get("podCIDRs"))):
        if not _is_cidr(cidr):
            out.append(invalid(_index("spec.podCIDRs", i), cidr, CIDR_MSG))
    for i, taint in enumerate(_l(spec.get("taints"))):
        taint, tpath = _d(taint), _index("spec.taints", i)
        key = taint.get("key") or ""
        if not key:
            out.append(required(_child(tpath, "key")))
        else:
            out += _each(_child(tpath, "key"), key, qualified_name(key))
        if not taint.get("effect"):
            out.append(required(_child(tpath, "effect")))
        out += _enum(taint, "effect", tpath, TAINT_EFFECTS)
    return out


def _validate_event(obj: Obj) -> Causes:
    involved = obj.get("involvedObject")
    if not isinstance(involved, dict) or not involved:
        return [required("involvedObject")]
    if obj.get("eventTime"):
        return []
    # Old-style events live in their object's namespace (or default, for cluster-scoped objects).
    event_ns = _d(obj.get("metadata")).get("namespace") or ""
    object_ns = involved.get("namespace") or ""
    if (object_ns and object_ns != event_ns) or (not object_ns and event_ns not in ("", "default")):
        return [invalid("involvedObject.namespace", object_ns, "does not match event.namespace")]
    return []


def _validate_lease(obj: Obj) -> Causes:
    spec = _d(obj.get("spec"))
    duration = spec.get("leaseDurationSeconds")
    out = [invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")] if (
        duration is not None and duration <= 0) else []
    return out + _nonnegative(spec, "leaseTransitions", "spec")


def _validate_namespace(obj: Obj) -> Causes:
    out: Causes = []
    for finalizer in _l(_d(obj.get("spec")).get("finalizers")):
        out += _each("spec.finalizers", finalizer, qualified_name(finalizer))
        if "/" not in finalizer and finalizer != "kubernetes":
            out.append(invalid("spec.finalizers", finalizer,
                               "name is neither a standard finalizer name nor is it fully qualified"))
    return out


# --------------------------------------------------------------------------------------------------------------
# RBAC (upstream's pkg/apis/rbac/validation)

RBAC_GROUP = "rbac.authorization.k8s.io"


def _policy_rules(obj: Obj, namespaced: bool) -> Causes:
    out: Causes = []
    for i, rule in enumerate(_l(obj.get("rules"))):
        rule, path = _d(rule), _index("rules", i)
        if not _l(rule.get("verbs")):
            out.append(required(_child(path, "verbs"), "verbs must contain at least one value"))
        urls = _l(rule.get("nonResourceURLs"))
        if urls:
            if namespaced:
                out.append(invalid(_child(path, "nonResourceURLs"), urls,
                                   "namespaced rules cannot apply to non-resource URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                out.append(invalid(_child(path, "nonResourceURLs"), urls,
                                   "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not _l(rule.get("apiGroups")):
            out.append(required(_child(path, "apiGroups"), "resource rules must supply at least one api group"))
        if not _l(rule.get("resources")):
            out.append(required(_child(path, "resources"), "resource rules must supply at least one resource"))
    return out


def _role_binding(obj: Obj, namespaced: bool) -> Causes:
    out: Causes = []
    ref = _d(obj.get("roleRef"))
    if (ref.get("apiGroup") or "") != RBAC_GROUP:
        out.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [RBAC_GROUP]))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("kind") not in kinds:
        out.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    if not ref.get("name"):
        out.append(required("roleRef.name"))
    for i, subject in enumerate(_l(obj.get("subjects"))):
        subject, path = _d(subject), _index("subjects", i)
        if not subject.get("name"):
            out.append(required(_child(path, "name")))
        kind, group = subject.get("kind"), subject.get("apiGroup") or ""
        if kind == "ServiceAccount":
            if group:
                out.append(not_supported(_child(path, "apiGroup"), group, [""]))
            if not namespaced and not subject.get("namespace"):
                out.append(required(_child(path, "namespace")))
        elif kind in ("User", "Group"):
            if group != RBAC_GROUP:
                out.append(not_supported(_child(path, "apiGroup"), group, [RBAC_GROUP]))
        else:
            out.append(not_supported(_child(path, "kind"), kind or "", ("ServiceAccount", "User", "Group")))
    return out


def _update_role_binding(new: Obj, old: Obj) -> Causes:
    if _same(new.get("roleRef"), old.get("roleRef")):
        return []
    return [invalid("roleRef", new.get("roleRef"), "cannot change roleRef")]


_CREATE: dict[str, Callable[[Obj], Causes]] = {
    "Pod": _validate_pod,
    "Deployment": _validate_deployment,
    "ReplicaSet": _validate_replicaset,
    "DaemonSet": _validate_daemonset,
    "StatefulSet": _validate_statefulset,
    "Job": _validate_job,
    "CronJob": _validate_cronjob,
    "Service": _validate_service,
    "Endpoints": _validate_endpoints,
    "ConfigMap": _validate_configmap,
    "Secret": _validate_secret,
    "Node": _validate_node,
    "Event": _validate_event,
    "Lease": _validate_lease,
    "Namespace": _validate_namespace,
    "Role": lambda obj: _policy_rules(obj, namespaced=True),
    "ClusterRole": lambda obj: _policy_rules(obj, namespaced=False),
    "RoleBinding": lambda obj: _role_binding(obj, namespaced=True),
    "ClusterRoleBinding": lambda obj: _role_binding(obj, namespaced=False),
}

# --------------------------------------------------------------------------------------------------------------
# Updates: fields that may not change. metadata.name/namespace/uid/creationTimestamp are the server's business.


def _pruned(value: Any) -> Any:
    """`value` without nulls and empty lists or objects, which upstream's semantic equality treats as unset."""
    if isinstance(value, dict):
        pairs = ((k, _pruned(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v not in (None, [], {})}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    return _pruned(a) == _pruned(b)


def _immutable(new: Obj, old: Obj, name: str, path: str) -> Causes:
    value = new.get(name)
    return [] if _same(value, old.get(name)) else [invalid(_child(path, name), value, IMMUTABLE_MSG)]


def _update_selector(new: Obj, old: Obj) -> Causes:
    return _immutable(_d(new.get("spec")), _d(old.get("spec")), "selector", "spec")


STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds")


def _update_statefulset(new: Obj, old: Obj) -> Causes:
    def frozen(obj: Obj) -> Obj:
        return {k: v for k, v in _d(obj.get("spec")).items() if k not in STATEFULSET_MUTABLE}

    if _same(frozen(new), frozen(old)):
        return []
    names = ", ".join(f"'{n}'" for n in STATEFULSET_MUTABLE[:-1])
    return [forbidden("spec", f"updates to statefulset spec for fields other than {names} and "
                              f"'{STATEFULSET_MUTABLE[-1]}' are forbidden")]


def _update_job(new: Obj, old: Obj) -> Causes:
    spec, old_spec = _d(new.get("spec")), _d(old.get("spec"))
    out: Causes = []
    for name in ("selector", "template", "completions"):
        out += _immutable(spec, old_spec, name, "spec")
    return out


def _primary_ip(spec: Obj) -> str:
    ips = _l(spec.get("clusterIPs"))
    return spec.get("clusterIP") or (ips[0] if ips else "")


def _update_service(new: Obj, old: Obj) -> Causes:
    spec, old_spec = _d(new.get("spec")), _d(old.get("spec"))
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []  # switching to or from ExternalName releases or allocates the address
    ip, old_ip = _primary_ip(spec), _primary_ip(old_spec)
    # An empty clusterIP in the update means "keep it": the server copies the allocated one over.
    if ip and old_ip and ip != old_ip:
        return [invalid("spec.clusterIPs[0]", _l(spec.get("clusterIPs")) or [ip], "may not change once set")]
    return []


POD_UPDATABLE = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
    "was previously negative)"
)


def _masked_pod_spec(spec: Obj, old: Obj) -> Obj:
    """`spec` with every field a pod update may change copied from `old`, so what remains must be equal."""
    masked = dict(spec)
    for group in ("containers", "initContainers"):
        new_list, old_list = _l(spec.get(group)), _l(old.get(group))
        if new_list and len(new_list) == len(old_list):
            masked[group] = [
                {**_d(c), "image": _d(o).get("image")} for c, o in zip(new_list, old_list, strict=True)
            ]
    for field in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
        masked[field] = old.get(field)
    old_tolerations = _l(old.get("tolerations"))
    if all(t in _l(spec.get("tolerations")) for t in old_tolerations):
        masked["tolerations"] = old.get("tolerations")
    # Binding sets nodeName once; kubeling also lets an update do it, but never move a pod.
    if not old.get("nodeName"):
        masked["nodeName"] = old.get("nodeName")
    return _pruned(masked)


def _update_pod(new: Obj, old: Obj) -> Causes:
    spec, old_spec = _d(new.get("spec")), _d(old.get("spec"))
    out: Causes = []
    if old_spec.get("nodeName") and spec.get("nodeName") != old_spec.get("nodeName"):
        out.append(invalid("spec.nodeName", spec.get("nodeName"), IMMUTABLE_MSG))
    masked = _masked_pod_spec(spec, old_spec)
    old_clean = _pruned(old_spec)
    changed = sorted(k for k in masked.keys() | old_clean.keys() if masked.get(k) != old_clean.get(k))
    changed = [k for k in changed if k != "nodeName"] if out else changed
    if changed:
        diff = "\n".join(f"  spec.{k}: {_show(old_clean.get(k))} -> {_show(masked.get(k))}" for k in changed)
        out.append(forbidden("spec", f"pod updates may not change fields other than {POD_UPDATABLE}\n{diff}"))
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
        if not _same(new.get(field), old.get(field)):
            out.append(forbidden(field, detail))
    return out


def _update_secret(new: Obj, old: Obj) -> Causes:
    out = _update_data(new, old)
    if (new.get("type") or "Opaque") != (old.get("type") or "Opaque"):
        out.append(invalid("type", new.get("type"), IMMUTABLE_MSG))
    return out


_UPDATE: dict[str, Callable[[Obj, Obj], Causes]] = {
    "Deployment": _update_selector,
    "ReplicaSet": _update_selector,
    "DaemonSet": _update_selector,
    "StatefulSet": _update_statefulset,  # its selector is covered by the one rule for the whole spec
    "Job": _update_job,
    "Service": _update_service,
    "Pod": _update_pod,
    "ConfigMap": _update_data,
    "Secret": _update_secret,
    "RoleBinding": _update_role_binding,
    "ClusterRoleBinding": _update_role_binding,
}


def validate(rtype: ResourceType, obj: dict, old: dict | None = None) -> list[dict]:
    """Causes (`details.causes` entries) for what is wrong with `obj`; `old` is the stored object on update."""
    if not isinstance(obj, dict):
        return [type_invalid("<root>", obj, "object")]
    schema = SCHEMAS.get(rtype.kind, _root())
    if not conforms(schema, obj) and (causes := type_errors(schema, obj)):
        return causes
    causes = _object_meta(rtype, _d(obj.get("metadata")))
    causes += _CREATE.get(rtype.kind, lambda _obj: [])(obj)
    if old is not None and rtype.kind in _UPDATE:
        causes += _UPDATE[rtype.kind](obj, _d(old))
    return causes
