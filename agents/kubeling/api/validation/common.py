"""What every group's validation shares: field errors, field paths, format checks for names and labels.

Upstream: k8s.io/apimachinery/pkg/util/validation/field (errors.go, path.go) for the causes and paths, and
k8s.io/apimachinery/pkg/util/validation/validation.go for the format checks and their messages, which clients
show verbatim.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from kubeling.api import errors, selectors
from kubeling.api.types import Obj

Causes = list[dict[str, str]]

# --------------------------------------------------------------------------------------------------------------
# Cause builders: the bodies of upstream's field.Error (the field itself is prefixed by errors.cause).


def show(value: Any) -> str:
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
    """field.Invalid: the value is wrong, and `detail` says why."""
    return errors.cause(field, _with_detail(f"Invalid value: {show(value)}", detail), "FieldValueInvalid")


def required(field: str, detail: str = "") -> dict[str, str]:
    """field.Required: the field must be set."""
    return errors.cause(field, _with_detail("Required value", detail), "FieldValueRequired")


def not_supported(field: str, value: Any, supported: list[str] | tuple[str, ...]) -> dict[str, str]:
    """field.NotSupported: the value is not one of the listed ones."""
    detail = "supported values: " + ", ".join(json.dumps(v) for v in supported)
    return errors.cause(field, f"Unsupported value: {show(value)}: {detail}", "FieldValueNotSupported")


def forbidden(field: str, detail: str) -> dict[str, str]:
    """field.Forbidden: the field may not be set (or changed) here."""
    return errors.cause(field, f"Forbidden: {detail}", "FieldValueForbidden")


def duplicate(field: str, value: Any) -> dict[str, str]:
    """field.Duplicate: the value is already used by another item of the list."""
    return errors.cause(field, f"Duplicate value: {show(value)}", "FieldValueDuplicate")


def not_found(field: str, value: Any) -> dict[str, str]:
    """field.NotFound: the value names something that does not exist (a volume, say)."""
    return errors.cause(field, f"Not found: {show(value)}", "FieldValueNotFound")


def too_long(field: str, max_bytes: int) -> dict[str, str]:
    """field.TooLong, for sizes in bytes."""
    return errors.cause(field, f"Too long: may not be more than {max_bytes} bytes", "FieldValueTooLong")


def type_invalid(field: str, value: Any, expected: str) -> dict[str, str]:
    # Worded like the CRD schema validator, the only upstream path that reports type errors as causes.
    actual = json_type(value)
    return errors.cause(
        field,
        f'Invalid value: "{actual}": {field} in body must be of type {expected}: "{actual}"',
        "FieldValueTypeInvalid",
    )


def child(path: str, name: str) -> str:
    """field.Path.Child: `spec` + `replicas` is `spec.replicas`."""
    return f"{path}.{name}" if path else name


def at_index(path: str, i: int) -> str:
    """field.Path.Index: `spec.containers[0]`."""
    return f"{path}[{i}]"


def at_key(path: str, key: str) -> str:
    """field.Path.Key: `data[config.yaml]`."""
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
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"

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
_CONFIG_KEY_RE = re.compile(_CONFIG_KEY_FMT)


def _format_errors(value: str, regex: re.Pattern[str], max_len: int, message: str) -> list[str]:
    out = [_max_len(max_len)] if len(value) > max_len else []
    if not regex.fullmatch(value):
        out.append(message)
    return out


def dns1123_label(value: str) -> list[str]:
    """IsDNS1123Label: namespace, container, port and volume names."""
    return _format_errors(value, _DNS1123_LABEL_RE, 63, DNS1123_LABEL_MSG)


def dns1123_subdomain(value: str) -> list[str]:
    """IsDNS1123Subdomain: the names of most objects."""
    return _format_errors(value, _DNS1123_SUBDOMAIN_RE, 253, DNS1123_SUBDOMAIN_MSG)


def dns1035_label(value: str) -> list[str]:
    """IsDNS1035Label: a DNS-1123 label that starts with a letter (Service names)."""
    return _format_errors(value, _DNS1035_LABEL_RE, 63, DNS1035_LABEL_MSG)


# Label keys (and annotation keys, finalizers: IsQualifiedName) and label values are checked where label selectors
# are parsed, since a selector must reject what validation rejects; one copy of each rule.
qualified_name = selectors.label_key_errors
label_value = selectors.label_value_errors


def config_key(value: str) -> list[str]:
    """IsConfigMapKey: the keys of ConfigMap and Secret data, which become file names."""
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


def port_number(value: int) -> list[str]:
    """IsValidPortNum."""
    return [] if 1 <= value <= 65535 else [PORT_RANGE_MSG]


def is_ip(value: str) -> bool:
    """Whether `value` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_cidr(value: str) -> bool:
    """Whether `value` is a network in CIDR notation (`10.0.0.0/8`)."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


# --------------------------------------------------------------------------------------------------------------
# Small readers. After the type pass these never see a wrong type for a schema'd field; `or` maps null to empty.


def as_dict(value: Any) -> Obj:
    """`value` if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def nonnegative(obj: Obj, name: str, path: str) -> Causes:
    """An integer field that may not be negative."""
    value = obj.get(name)
    return [invalid(child(path, name), value, NONNEGATIVE_MSG)] if isinstance(value, int) and value < 0 else []


def one_of(obj: Obj, name: str, path: str, supported: tuple[str, ...]) -> Causes:
    """An enumerated field; absent or empty means its default, which defaulting fills in."""
    value = obj.get(name)
    return [not_supported(child(path, name), value, supported)] if value and value not in supported else []


def each(field: str, value: Any, messages: list[str]) -> Causes:
    """One Invalid cause per message of a format check."""
    return [invalid(field, value, msg) for msg in messages]


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value, as the schema validator reports it."""
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


# --------------------------------------------------------------------------------------------------------------
# Updates: what "unchanged" means. metadata.name/namespace/uid/creationTimestamp are the server's business.


def pruned(value: Any) -> Any:
    """`value` without nulls and empty lists or objects, which upstream's semantic equality treats as unset."""
    if isinstance(value, dict):
        pairs = ((k, pruned(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v not in (None, [], {})}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    """Equal after pruning, as upstream's semantic equality compares."""
    return pruned(a) == pruned(b)


def immutable(new: Obj, old: Obj, name: str, path: str) -> Causes:
    """A field that may not change on update."""
    value = new.get(name)
    return [] if same(value, old.get(name)) else [invalid(child(path, name), value, IMMUTABLE_MSG)]
