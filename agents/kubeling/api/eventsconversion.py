"""One Event, two APIs: core/v1 `events` (what is stored) and `events.k8s.io/v1` `events` (the newer view).

As upstream, both are the same stored object (pkg/registry/core/event serves both groups from one storage) and
the conversion is field for field (pkg/apis/events/v1/conversion.go):

    events.k8s.io/v1              core/v1
    regarding                <->  involvedObject
    note                     <->  message
    reportingController      <->  reportingComponent
    deprecatedSource         <->  source
    deprecatedFirstTimestamp <->  firstTimestamp
    deprecatedLastTimestamp  <->  lastTimestamp
    deprecatedCount          <->  count
    (same name in both: eventTime, series, related, action, reason, type, reportingInstance, metadata)

A field one side leaves out stays out on the other, so a round trip gives back the object it started from.
"""

from __future__ import annotations

from kubeling.api.types import Obj

EVENTS_API_VERSION = "events.k8s.io/v1"
CORE_API_VERSION = "v1"

# events.k8s.io/v1 name → core/v1 name
RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
SAME = ("metadata", "eventTime", "series", "related", "action", "reason", "type", "reportingInstance")


def _convert(obj: Obj, names: dict[str, str], api_version: str) -> Obj:
    out: Obj = {"apiVersion": api_version, "kind": "Event"}
    for field in SAME:
        if field in obj:
            out[field] = obj[field]
    for source, target in names.items():
        if source in obj:
            out[target] = obj[source]
    return out


def to_core(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event as the core/v1 Event it is stored as."""
    return _convert(event, RENAMED, CORE_API_VERSION)


def from_core(event: Obj) -> Obj:
    """A stored core/v1 Event as events.k8s.io/v1 shows it."""
    return _convert(event, {core: new for new, core in RENAMED.items()}, EVENTS_API_VERSION)
