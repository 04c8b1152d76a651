"""Printers for the `coordination.k8s.io` group: leases.

Upstream (v1.32): pkg/printers/internalversion/printers.go, printLease.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import (
    AGE,
    NAME,
    Printer,
    column,
    dig,
    object_age,
    object_name,
)

# Field descriptions, as upstream takes them from the API types' SwaggerDoc().
_DOC = {
    "lease.holderIdentity": "holderIdentity contains the identity of the holder of a current lease.",
}


_LEASE_COLUMNS = [NAME, column("Holder", _DOC["lease.holderIdentity"]), AGE]


def _lease_cells(lease: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(lease), dig(lease, "spec", "holderIdentity") or "", object_age(lease, now)]


GROUP = "coordination.k8s.io"

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "Lease": Printer(_LEASE_COLUMNS, _lease_cells),
}
