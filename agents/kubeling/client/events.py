"""An event recorder: `Event` objects about an object, with repeats folded into one event's `count`."""

from __future__ import annotations

import logging
import queue
import threading
import time

from kubeling.api import meta
from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client

log = logging.getLogger(__name__)

EVENTS = must_lookup("", "events")

def object_reference(obj: Obj) -> dict[str, str]:
    metadata = obj.get("metadata", {})
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": metadata.get("name", ""),
           "uid": metadata.get("uid", ""), "resourceVersion": metadata.get("resourceVersion", "")}
    if metadata.get("namespace"):
        ref["namespace"] = metadata["namespace"]
    return ref


class EventRecorder:
    """Records events from a background thread, so a controller never waits on (or fails because of) an event."""

    def __init__(self, client: Client, component: str, host: str = "") -> None:
        self.client, self.component, self.host = client, component, host
        self._queue: queue.Queue[tuple[Obj, str, str, str]] = queue.Queue(maxsize=1000)
        self._recent: dict[tuple[str, str, str, str], tuple[str, str, int]] = {}  # key → (ns, name, count)
        threading.Thread(target=self._run, name=f"events {component}", daemon=True).start()

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        """`event_type` is Normal or Warning; `reason` a CamelCase word such as FailedScheduling."""
        try:
            self._queue.put_nowait((obj, event_type, reason, message))
        except queue.Full:
            log.warning("event queue full; dropping %s %s", reason, message)

    def flush(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _run(self) -> None:
        while True:
            obj, event_type, reason, message = self._queue.get()
            try:
                self._record(obj, event_type, reason, message)
            except errors.ApiError as exc:
                log.info("could not record event %s: %s", reason, exc)
            except Exception:
                log.exception("could not record event %s", reason)

    def _record(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        ref = object_reference(obj)
        namespace = ref.get("namespace") or "default"
        key = (ref["uid"], event_type, reason, message)
        now = meta.now()
        if key in self._recent:
            ns, name, count = self._recent[key]
            try:
                self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": now}, ns)
                self._recent[key] = (ns, name, count + 1)
                return
            except errors.NotFound:
                del self._recent[key]
        name = f"{ref['name']}.{time.time_ns():x}"
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref, "reason": reason, "message": message, "type": event_type,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": self.component, "reportingInstance": self.host,
        }
        self.client.create(EVENTS, event, namespace)
        if len(self._recent) > 4096:
            self._recent.clear()
        self._recent[key] = (namespace, name, 1)
