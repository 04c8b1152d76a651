"""Printers for the `events.k8s.io` group: Events.

Upstream prints both Event APIs with one printer (pkg/printers/internalversion/printers.go, printEvent, over the
internal type both convert to), so this one converts to the core form and prints it as core.py does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api import eventsconversion
from kubeling.api.printers import core
from kubeling.api.printers.common import Printer


def _event_cells(event: dict[str, Any], now: datetime) -> list[Any]:
    return core.PRINTERS["Event"].cells(eventsconversion.to_core(event), now)


GROUP = "events.k8s.io"

PRINTERS: dict[str, Printer] = {
    "Event": Printer(core.PRINTERS["Event"].columns, _event_cells),
}
