"""Printers for the `scheduling.k8s.io` group: priority classes.

Upstream (v1.32): pkg/printers/internalversion/printers.go, printPriorityClass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import AGE, NAME, Printer, column, object_age, object_name

# Field descriptions, as upstream takes them from the API types' SwaggerDoc().
_DOC = {
    "value": "value represents the integer value of this priority class. This is the actual priority that pods "
             "receive when they have the name of this class in their pod spec.",
    "globalDefault": "globalDefault specifies whether this PriorityClass should be considered as the default "
                     "priority for pods that do not have any priority class. Only one PriorityClass can be marked "
                     "as `globalDefault`. However, if more than one PriorityClasses exists with their "
                     "`globalDefault` field set to true, the smallest value of such global default PriorityClasses "
                     "will be used as the default priority.",
    "preemptionPolicy": "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, "
                        "PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
}

_PRIORITYCLASS_COLUMNS = [
    NAME,
    column("Value", _DOC["value"], type_="integer"),
    column("Global-Default", _DOC["globalDefault"], type_="boolean"),
    AGE,
    column("PreemptionPolicy", _DOC["preemptionPolicy"]),
]


def _priorityclass_cells(pc: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(pc), pc.get("value", 0), bool(pc.get("globalDefault")), object_age(pc, now),
            pc.get("preemptionPolicy") or ""]


GROUP = "scheduling.k8s.io"

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "PriorityClass": Printer(_PRIORITYCLASS_COLUMNS, _priorityclass_cells),
}
