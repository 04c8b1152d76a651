"""What every printer shares: the Table column and row types, the NAME/AGE/CONTAINERS/IMAGES columns, and the
cell formats upstream's printers use (`HumanDuration`, `translateTimestampSince`, `FormatLabels`,
`FormatLabelSelector`).

Upstream: pkg/printers/internalversion/printers.go, k8s.io/apimachinery/pkg/util/duration/duration.go.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubeling.api.selectors import label_selector_string

Column = dict[str, Any]  # a meta.k8s.io/v1 TableColumnDefinition
Cells = Callable[[dict[str, Any], datetime], list[Any]]
Conditions = Callable[[dict[str, Any]], list[dict[str, str]] | None]


@dataclasses.dataclass(frozen=True)
class Printer:
    """How one resource prints: its columns, a row's cells (given the clock for AGE), and optional row conditions.

    Upstream registers the same pair per type with `h.TableHandler(columns, printFunc)`.
    """

    columns: list[Column]
    cells: Cells
    conditions: Conditions | None = None


def column(name: str, description: str, type_: str = "string", priority: int = 0, fmt: str = "") -> Column:
    """A column definition; priority 1 columns are the ones kubectl shows only with `-o wide`."""
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


# Field descriptions, as upstream takes them from the API types' SwaggerDoc().
NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources may "
    "allow a client to request the generation of an appropriate name automatically. Name is primarily intended "
    "for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
CREATED_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)

NAME = column("Name", NAME_DOC, fmt="name")
AGE = column("Age", CREATED_DOC)
CONTAINERS = column("Containers", "Names of each container in the template.", priority=1)
IMAGES = column("Images", "Images referenced by each container in the template.", priority=1)


def human_duration(seconds: float) -> str:
    """Upstream's duration.HumanDuration: about two significant figures, e.g. `5s`, `3m20s`, `5h`, `2d3h`, `2y3d`."""
    whole = int(seconds)  # truncates toward zero, as Go's int() does
    if whole < -1:
        return "<invalid>"  # more than a second in the future: clocks disagree too much to say
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        secs = whole % 60
        return f"{minutes}m" if secs == 0 else f"{minutes}m{secs}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        mins = minutes % 60
        return f"{hours}h" if mins == 0 else f"{hours}h{mins}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """RFC3339 (`2025-01-01T00:00:00Z`) or MicroTime (`...00.000000Z`); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def since(value: Any, now: datetime) -> str:
    """Upstream's translateTimestampSince: `<unknown>` for a zero time, else the human age."""
    when = parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: sorted `k=v` pairs, `<none>` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_label_selector(sel: dict[str, Any] | None) -> str:
    """metav1.FormatLabelSelector: `<none>` for an empty selector, `<error>` for a malformed one."""
    try:
        text = label_selector_string(sel)
    except ValueError:
        return "<error>"
    return text or "<none>"


def container_cells(pod_spec: dict[str, Any] | None) -> list[str]:
    """The CONTAINERS and IMAGES cells of a pod template: names and images, comma-separated."""
    containers = (pod_spec or {}).get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


def dig(obj: dict[str, Any], *path: str) -> Any:
    """The value at `path` in nested dicts, or None where a step is missing or not a dict."""
    value: Any = obj
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def object_name(obj: dict[str, Any]) -> str:
    """metadata.name, "" when unset."""
    return dig(obj, "metadata", "name") or ""


def object_age(obj: dict[str, Any], now: datetime) -> str:
    """The AGE cell: how long ago the object was created."""
    return since(dig(obj, "metadata", "creationTimestamp"), now)
