"""An event recorder: `Event` objects about an object, with repeats folded into one event's count and series.

Each Event carries both generations of fields, so every reader finds what it looks for: the core/v1 ones that
`kubectl get events` (any version) prints (`involvedObject`, `message`, `source`, `first/lastTimestamp`,
`count`), and the ones `events.k8s.io/v1` names (the API server converts: api/eventsconversion.py), as upstream's
events library fills them (k8s.io/client-go/tools/events): `eventTime`, `reportingController` (stored as
`reportingComponent`: `replicaset-controller`, `default-scheduler`, `kubelet`), `reportingInstance`
(`<controller>-<hostname>`; a kubelet's is its node), `action` (what the controller did: Create, Delete,
Scale, Binding...), `reason` (why: SuccessfulCreate...), `regarding` (the object acted for), `related` (the
object acted on: the pod created, the node bound to) and `series` once an event repeats.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from datetime import UTC, datetime

from kubeling.api import meta
from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client

log = logging.getLogger(__name__)

EVENTS = must_lookup("", "events")

# The action of a reason when the caller names none: upstream's, where its components name one (the scheduler's
# Binding and Scheduling), else the verb the reason reports.
ACTIONS = {
    "SuccessfulCreate": "Create", "FailedCreate": "Create", "SuccessfulDelete": "Delete", "FailedDelete": "Delete",
    "ScalingReplicaSet": "Scale", "Scheduled": "Binding", "FailedScheduling": "Scheduling",
    "Pulling": "Pull", "Pulled": "Pull", "ErrImageNeverPull": "Pull", "Created": "Create", "Started": "Start",
    "Killing": "Kill", "BackOff": "BackOff", "Unhealthy": "Probe", "TaintManagerEviction": "Evict",
    "NodeNotReady": "Update", "Completed": "Update", "Suspended": "Update", "Resumed": "Update",
    "SuccessfulRescale": "Scale", "DeploymentRollback": "Rollback", "SawCompletedJob": "Update",
}


def object_reference(obj: Obj) -> dict[str, str]:
    metadata = obj.get("metadata", {})
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": metadata.get("name", ""),
           "uid": metadata.get("uid", ""), "resourceVersion": metadata.get("resourceVersion", "")}
    if metadata.get("namespace"):
        ref["namespace"] = metadata["namespace"]
    if obj.get("fieldPath"):  # a reference already (the kubelet's to a container: spec.containers{name})
        ref["fieldPath"] = obj["fieldPath"]
    return {key: value for key, value in ref.items() if value}


def micro_time() -> str:
    """Now as a MicroTime (RFC 3339 with microseconds), the type of eventTime and series.lastObservedTime."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_Item = tuple[Obj, str, str, str, str, Obj | None, "EventRecorder"]


class EventRecorder:
    """Records events from a background thread, so a controller never waits on (or fails because of) an event.

    `component` is the reportingController; `host` the node (kubelets), which is then the reportingInstance.
    `for_controller(name)` gives each controller of a controller-manager its own name, sharing this one's thread.
    """

    def __init__(self, client: Client, component: str, host: str = "", *, _shared: EventRecorder | None = None
                 ) -> None:
        self.client, self.component, self.host = client, component, host
        self.instance = host or f"{component}-{socket.gethostname()}"
        self._queue: queue.Queue[_Item]
        # (reporting controller, uid, type, reason, message) → (namespace, name, count)
        self._recent: dict[tuple[str, str, str, str, str], tuple[str, str, int]]
        if _shared is not None:
            self._queue, self._recent = _shared._queue, _shared._recent
            return
        self._queue, self._recent = queue.Queue(maxsize=1000), {}
        threading.Thread(target=self._run, name=f"events {component}", daemon=True).start()

    def for_controller(self, component: str) -> EventRecorder:
        """A recorder reporting as `component` (e.g. replicaset-controller), sharing this one's queue and thread."""
        return EventRecorder(self.client, component, self.host, _shared=self)

    def event(self, obj: Obj, event_type: str, reason: str, message: str, *, action: str = "",
              related: Obj | None = None) -> None:
        """`event_type` is Normal or Warning; `reason` a CamelCase word such as FailedScheduling; `action` what was
        done (Create, Delete, Scale, Binding...; by default the reason's, from ACTIONS); `related` the object it
        was done to, when not `obj` itself (the pod a ReplicaSet created, the node a pod was bound to)."""
        try:
            self._queue.put_nowait((obj, event_type, reason, message, action or ACTIONS.get(reason, reason),
                                    related, self))
        except queue.Full:
            log.warning("event queue full; dropping %s %s", reason, message)

    def flush(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _run(self) -> None:
        while True:
            obj, event_type, reason, message, action, related, recorder = self._queue.get()
            try:
                recorder._record(obj, event_type, reason, message, action, related)
            except errors.ApiError as exc:
                log.info("could not record event %s: %s", reason, exc)
            except Exception:
                log.exception("could not record event %s", reason)

    def _record(self, obj: Obj, event_type: str, reason: str, message: str, action: str, related: Obj | None
                ) -> None:
        ref = object_reference(obj)
        namespace = ref.get("namespace") or "default"
        key = (self.component, ref.get("uid", ""), event_type, reason, message)
        now, observed = meta.now(), micro_time()
        if key in self._recent:
            ns, name, count = self._recent[key]
            try:
                self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": now,
                                                 "series": {"count": count + 1, "lastObservedTime": observed}}, ns)
                self._recent[key] = (ns, name, count + 1)
                return
            except errors.NotFound:
                del self._recent[key]
        name = f"{ref.get('name', 'unknown')}.{time.time_ns():x}"
        event: Obj = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref, "reason": reason, "message": message, "type": event_type,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "eventTime": observed, "action": action,
            "reportingComponent": self.component, "reportingInstance": self.instance,
        }
        if related is not None:
            event["related"] = object_reference(related)
        self.client.create(EVENTS, event, namespace)
        if len(self._recent) > 4096:
            self._recent.clear()
        self._recent[key] = (namespace, name, 1)
