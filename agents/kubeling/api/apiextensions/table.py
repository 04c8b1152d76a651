"""A custom resource's server-side Table: NAME, then the CRD version's additionalPrinterColumns.

Upstream: apiextensions-apiserver/pkg/registry/customresource/tableconvertor/tableconvertor.go. A column's
`jsonPath` is a client-go JSONPath (`.spec.replicas`, `.status.conditions[?(@.type=="Ready")].status`), evaluated
with the `jsonpath-ng` library; a `date` column shows how long ago its timestamp was, as AGE does.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse

from kubeling.api.printers.common import CREATED_DOC, NAME, Column, Printer, column, object_name, since

# What upstream's CRD defaulting gives a version without printer columns.
DEFAULT_COLUMNS = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                    "description": CREATED_DOC}]


@lru_cache(maxsize=256)
def _compiled(json_path: str) -> JSONPath | None:
    text = json_path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    try:
        return parse("$" + text if text.startswith((".", "[")) else text)
    except (JsonPathParserError, Exception):
        return None


def evaluate(json_path: str, obj: Any) -> list[Any]:
    """The values `json_path` finds in `obj` (empty when none, or when the path does not parse)."""
    compiled = _compiled(json_path)
    return [match.value for match in compiled.find(obj)] if compiled is not None else []


def _cell(spec: dict[str, Any], obj: dict[str, Any], now: datetime) -> Any:
    values = evaluate(spec.get("jsonPath", ""), obj)
    if not values:
        return None
    if spec.get("type") == "date":
        return since(values[0], now) if isinstance(values[0], str) else None
    if len(values) == 1 and not isinstance(values[0], dict | list):
        return values[0]
    return ",".join(str(v) for v in values)


def printer(columns: list[dict[str, Any]] | None) -> Printer:
    """The printer of a CRD version with these additionalPrinterColumns."""
    specs = columns or DEFAULT_COLUMNS
    definitions: list[Column] = [NAME] + [
        column(spec.get("name", ""), spec.get("description", ""), spec.get("type", "string"),
               int(spec.get("priority") or 0), spec.get("format", "")) for spec in specs]

    def cells(obj: dict[str, Any], now: datetime) -> list[Any]:
        return [object_name(obj)] + [_cell(spec, obj, now) for spec in specs]

    return Printer(definitions, cells)
