"""Server-side `meta.k8s.io/v1` Tables: what `kubectl get` prints.

kubectl stopped carrying per-type column printers, so without a Table from the server it can only show NAME and
AGE. The columns, cell formats and descriptions follow upstream's pkg/printers/internalversion/printers.go
(v1.32), one module per API group here as upstream registers them per type in `AddHandlers`. The API server
renders with `Wide: true`, so every row carries the priority-1 cells too and kubectl drops them unless asked for
`-o wide`.

Printers read stored objects. Where upstream reads a field that API defaulting always fills (a Service's
type, a Deployment's replicas), a missing value is read as its default so an undefaulted object still prints
the way upstream would print it after defaulting.

Adding a printer means adding its columns and cells to its group's module and an entry in that module's
`PRINTERS`; `to_table` finds it by (group, kind).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubeling.api.errors import bad_request
from kubeling.api.printers import (
    apiextensions,
    apps,
    batch,
    coordination,
    core,
    discovery,
    events,
    policy,
    rbac,
    scheduling,
    storage,
    volumes,
)
from kubeling.api.printers.common import (
    CREATED_DOC,
    NAME,
    Column,
    Printer,
    column,
    human_duration,
    object_age,
    object_name,
)
from kubeling.api.resources import ResourceType
from kubeling.api.selectors import label_selector_string

__all__ = ["INCLUDE_OBJECT_VALUES", "column_definitions", "human_duration", "label_selector_string", "printer_for",
           "to_table"]

INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")

PRINTERS: dict[tuple[str, str], Printer] = {
    (module.GROUP, kind): printer
    for module in (core, volumes, apps, batch, coordination, discovery, events, policy, rbac, scheduling, storage,
                   apiextensions)
    for kind, printer in module.PRINTERS.items()
}


def _generic_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(obj), object_age(obj, now)]


# Resources with no printer of their own get what upstream gives a CRD without printer columns.
GENERIC = Printer([NAME, column("Age", CREATED_DOC, "date")], _generic_cells)


def printer_for(rtype: ResourceType) -> Printer:
    """The printer registered for this resource's kind, or the generic NAME/AGE one."""
    return PRINTERS.get((rtype.group, rtype.kind), GENERIC)


def column_definitions(rtype: ResourceType) -> list[Column]:
    """The Table columns for a resource type (a fresh copy the caller may change)."""
    return copy.deepcopy(printer_for(rtype).columns)


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "Object":
        return obj
    if include_object == "Metadata":
        metadata = copy.deepcopy(obj.get("metadata") or {})
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
    return None  # includeObject=None: upstream still sends the key, as null


def to_table(
    rtype: ResourceType,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    now: datetime | None = None,
    resource_version: str = "",
    continue_token: str = "",
    remaining: int | None = None,
    printer: Printer | None = None,
) -> dict[str, Any]:
    """Render objects of one type as a `meta.k8s.io/v1` Table, one row per object, in the given order.

    `include_object` is the `includeObject` query parameter (None, Metadata or Object); an empty value means
    Metadata, as upstream. Raises a 400 StatusError for anything else. `now` fixes the clock for AGE cells.
    `printer` replaces the registered one (a custom resource's columns come from its CRD).
    """
    include_object = include_object or "Metadata"
    if include_object not in INCLUDE_OBJECT_VALUES:
        raise bad_request(f'unrecognized includeObject value: "{include_object}"')
    now = now or datetime.now(UTC)
    printer = printer or printer_for(rtype)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer.cells(obj, now)}
        if printer.conditions and (conditions := printer.conditions(obj)):
            row["conditions"] = conditions
        row["object"] = _row_object(obj, include_object)
        rows.append(row)
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None:
        metadata["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": copy.deepcopy(printer.columns),
        "rows": rows,
    }
