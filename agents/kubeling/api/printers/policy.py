"""Printers for the `policy` group: pod disruption budgets.

Upstream (v1.32): pkg/printers/internalversion/printers.go, printPodDisruptionBudget.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import AGE, NAME, Printer, column, dig, object_age, object_name

_DOC = {
    "minAvailable": "An eviction is allowed if at least \"minAvailable\" pods selected by \"selector\" will still "
                    "be available after the eviction, i.e. even in the absence of the evicted pod.  So for example "
                    "you can prevent all voluntary evictions by specifying \"100%\".",
    "maxUnavailable": "An eviction is allowed if at most \"maxUnavailable\" pods selected by \"selector\" are "
                      "unavailable after the eviction, i.e. even in absence of the evicted pod. For example, one can "
                      "prevent all voluntary evictions by specifying 0. This is a mutually exclusive setting with "
                      "\"minAvailable\".",
    "disruptionsAllowed": "Number of pod disruptions that are currently allowed.",
}

_PDB_COLUMNS = [
    NAME,
    column("Min Available", _DOC["minAvailable"]),
    column("Max Unavailable", _DOC["maxUnavailable"]),
    column("Allowed Disruptions", _DOC["disruptionsAllowed"], type_="integer"),
    AGE,
]


def _pdb_cells(pdb: dict[str, Any], now: datetime) -> list[Any]:
    spec = pdb.get("spec") or {}
    shown = [str(spec[k]) if spec.get(k) is not None else "N/A" for k in ("minAvailable", "maxUnavailable")]
    return [object_name(pdb), *shown, dig(pdb, "status", "disruptionsAllowed") or 0, object_age(pdb, now)]


GROUP = "policy"

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "PodDisruptionBudget": Printer(_PDB_COLUMNS, _pdb_cells),
}
