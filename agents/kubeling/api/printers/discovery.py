"""Printers for the `discovery.k8s.io` group: EndpointSlices.

Upstream (v1.32): pkg/printers/internalversion/printers.go, printEndpointSlice (formatDiscoveryPorts,
formatDiscoveryEndpoints: the first three addresses, then "+ N more...").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import AGE, NAME, Printer, column, object_age, object_name

_COLUMNS = [
    NAME,
    column("AddressType", "addressType specifies the type of address carried by this EndpointSlice."),
    column("Ports", "ports specifies the list of network ports exposed by each endpoint in this slice."),
    column("Endpoints", "endpoints is a list of unique endpoints in this slice."),
    AGE,
]
SHOWN_ADDRESSES = 3


def _ports(ports: list[dict[str, Any]] | None) -> str:
    if not ports:
        return "<unset>"
    return ",".join(str(p["port"]) if p.get("port") is not None else "<unset>" for p in ports)


def _endpoints(endpoints: list[dict[str, Any]] | None) -> str:
    addresses = [a for endpoint in endpoints or [] for a in endpoint.get("addresses") or []]
    if not addresses:
        return "<unset>"
    shown = ",".join(addresses[:SHOWN_ADDRESSES])
    more = len(addresses) - SHOWN_ADDRESSES
    return f"{shown} + {more} more..." if more > 0 else shown


def _endpoint_slice_cells(endpoint_slice: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(endpoint_slice), endpoint_slice.get("addressType", ""), _ports(endpoint_slice.get("ports")),
            _endpoints(endpoint_slice.get("endpoints")), object_age(endpoint_slice, now)]


GROUP = "discovery.k8s.io"

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "EndpointSlice": Printer(_COLUMNS, _endpoint_slice_cells),
}
