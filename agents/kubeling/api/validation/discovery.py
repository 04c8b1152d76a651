"""Validation of the `discovery.k8s.io` group: EndpointSlices.

Upstream: pkg/apis/discovery/validation/validation.go (ValidateEndpointSlice, validateEndpoints, validatePorts,
ValidateEndpointSliceUpdate: the address type never changes).
"""

from __future__ import annotations

import ipaddress

from kubeling.api.types import Obj
from kubeling.api.validation.common import (
    as_dict,
    as_list,
    at_index,
    dns1123_label,
    duplicate,
    each,
    immutable,
    not_supported,
    port_name,
    port_number,
    required,
    too_long,
)
from kubeling.api.validation.meta import validate_object
from kubeling.api.validation.schema import BOOL, INT, STR, STRING_MAP, STRINGS, Arr, S, Struct, root

Causes = list[dict[str, str]]

ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")
PROTOCOLS = ("TCP", "UDP", "SCTP")
MAX_ENDPOINTS = 1000
MAX_PORTS = 20000
MAX_ADDRESSES = 100

_REFERENCE = S(kind=STR, namespace=STR, name=STR, uid=STR, apiVersion=STR, resourceVersion=STR, fieldPath=STR)
SCHEMAS: dict[str, Struct] = {
    "EndpointSlice": root(
        addressType=STR,
        endpoints=Arr(S(addresses=STRINGS, conditions=S(ready=BOOL, serving=BOOL, terminating=BOOL),
                        hostname=STR, targetRef=_REFERENCE, nodeName=STR, zone=STR, deprecatedTopology=STRING_MAP,
                        hints=S(forZones=Arr(S(name=STR))))),
        ports=Arr(S(name=STR, protocol=STR, port=INT, appProtocol=STR)),
    ),
}


def _address_errors(address: str, address_type: str) -> list[str]:
    if address_type == "FQDN":
        return [] if address and len(address) <= 253 else ["must be a valid FQDN"]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return ["must be a valid IP address"]
    if (parsed.version == 4) != (address_type == "IPv4"):
        return [f"must be a valid {address_type} address"]
    return []


def _validate_endpoint_slice(obj: Obj) -> Causes:
    address_type = obj.get("addressType")
    if not address_type:
        return [required("addressType")]
    if address_type not in ADDRESS_TYPES:
        return [not_supported("addressType", address_type, ADDRESS_TYPES)]
    out: Causes = []
    endpoints = as_list(obj.get("endpoints"))
    if len(endpoints) > MAX_ENDPOINTS:
        out.append(too_long("endpoints", MAX_ENDPOINTS))
    for i, endpoint in enumerate(endpoints):
        path = at_index("endpoints", i)
        addresses = as_list(as_dict(endpoint).get("addresses"))
        if not addresses:
            out.append(required(f"{path}.addresses", "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            out.append(too_long(f"{path}.addresses", MAX_ADDRESSES))
        for j, address in enumerate(addresses):
            out += each(at_index(f"{path}.addresses", j), address, _address_errors(address, address_type))
        hostname = as_dict(endpoint).get("hostname")
        if hostname is not None:
            out += each(f"{path}.hostname", hostname, dns1123_label(hostname))
    ports = as_list(obj.get("ports"))
    if len(ports) > MAX_PORTS:
        out.append(too_long("ports", MAX_PORTS))
    names: set[str] = set()
    for i, port in enumerate(ports):
        path, port = at_index("ports", i), as_dict(port)
        name = port.get("name") or ""
        if name:
            out += each(f"{path}.name", name, port_name(name))
        if name in names:
            out.append(duplicate(f"{path}.name", name))
        names.add(name)
        if port.get("protocol") is not None and port["protocol"] not in PROTOCOLS:
            out.append(not_supported(f"{path}.protocol", port["protocol"], PROTOCOLS))
        if port.get("port") is not None:
            out += each(f"{path}.port", port["port"], port_number(port["port"]))
    return out


def _validate_endpoint_slice_update(new: Obj, old: Obj) -> Causes:
    return immutable(new, old, "addressType", "")


def validate_endpointslice(obj: Obj, old: Obj | None = None) -> Causes:
    """An EndpointSlice (upstream's ValidateEndpointSlice, ValidateEndpointSliceUpdate)."""
    return validate_object(SCHEMAS["EndpointSlice"], obj, old, namespaced=True, rules=_validate_endpoint_slice,
                           update_rules=_validate_endpoint_slice_update)


# kind → its validation; the package registry collects these.
VALIDATORS = {
    "EndpointSlice": validate_endpointslice,
}
