"""Printers for the `apiextensions.k8s.io` group: CustomResourceDefinitions.

Upstream has no printer of its own for them: the apiextensions server uses the generic store's default
TableConvertor (staging/src/k8s.io/apiserver/pkg/registry/rest/table.go), NAME and CREATED AT (the creation time
itself, not an age). Custom resources print with their CRD's columns (kubeling/api/apiextensions/table.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import CREATED_DOC, NAME, Printer, column, dig, object_name

_CRD_COLUMNS = [NAME, column("Created At", CREATED_DOC, "date")]


def _crd_cells(crd: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(crd), dig(crd, "metadata", "creationTimestamp") or ""]


GROUP = "apiextensions.k8s.io"

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "CustomResourceDefinition": Printer(_CRD_COLUMNS, _crd_cells),
}
