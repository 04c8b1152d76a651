"""The controller pattern: shared informers feed handlers that enqueue keys; workers call `sync(key)`.

`sync` is level-triggered: it reads desired and actual state from the informer caches, converges, and is safe to
call any number of times. Errors requeue the key with per-key exponential backoff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from prometheus_client import Counter

from kubeling.api.meta import namespace_of
from kubeling.api.resources import ResourceType
from kubeling.api.selectors import LabelSelector, selector_from_label_selector
from kubeling.api.types import Obj, OwnerReference
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.client.informer import Informer, Store
from kubeling.client.keys import key, key_of
from kubeling.client.keys import split_key as split_key  # re-exported for controllers/deployment.py
from kubeling.client.workqueue import WorkQueue
from kubeling.component import when_stopped
from kubeling.controllers.expectations import Expectations

log = logging.getLogger(__name__)

SYNCS = Counter("kubeling_controller_syncs_total", "Controller sync calls", ["controller", "result"])


class InformerFactory:
    """One informer per resource, shared by every controller that needs it (one list+watch per resource)."""

    def __init__(self, client: Client, resync_period: float = 300.0) -> None:
        self.client = client
        self.resync_period = resync_period
        self._informers: dict[str, Informer] = {}
        self._lock = threading.Lock()

    def informer(self, rtype: ResourceType) -> Informer:
        with self._lock:
            informer = self._informers.get(rtype.qualified)
            if informer is None:
                informer = Informer(self.client, rtype, resync_period=self.resync_period)
                self._informers[rtype.qualified] = informer
            return informer

    def forget(self, rtype: ResourceType) -> None:
        """Stop and drop the informer of a resource that is gone (a custom resource whose CRD was deleted)."""
        with self._lock:
            informer = self._informers.pop(rtype.qualified, None)
        if informer is not None:
            informer.stop()

    def start(self) -> None:
        with self._lock:
            for informer in self._informers.values():
                if not informer._threads:
                    informer.start()

    def wait_for_sync(self, timeout: float = 60.0) -> bool:
        return all(inf.wait_for_sync(timeout) for inf in list(self._informers.values()))


class Controller:
    """Base class: subclasses set `name`, register handlers in `__init__`, and implement `sync(key)`.

    Every controller is built the same way: `Controller(client, informers, recorder, options)`, where `options` is
    the controller's own dataclass from `controllers/options.py` (None: its defaults), or None for the controllers
    that have no settings.
    """

    name = "controller"
    workers = 2

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: object = None) -> None:
        # `options` belongs to the subclass, which reads it before calling here; the base class keeps none.
        self.client = client
        self.informers = informers
        self.recorder = recorder
        self.queue = WorkQueue(name=self.name)

    def sync(self, key: str) -> None:
        raise NotImplementedError

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    def enqueue_after(self, obj: Obj, delay: float) -> None:
        self.queue.add_after(key_of(obj), delay)

    def track_owned_pods(self, pods: Informer, kind: str, owners: Store, expectations: Expectations) -> None:
        """Handle the events of the pods this controller creates: each queues the owning `kind` object (when
        `owners` has that very object) and counts down its expectations, with deletions tracked by pod uid."""

        def added(pod: Obj) -> None:
            if (owner := owner_of(pod, kind, owners)) is not None:
                expectations.creation_observed(key_of(owner))
                self.enqueue(owner)

        def updated(old: Obj, new: Obj) -> None:
            if (owner := owner_of(new, kind, owners)) is None:
                return
            if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
                expectations.deletion_observed(key_of(owner), new["metadata"].get("uid", ""))
            self.enqueue(owner)

        def deleted(pod: Obj) -> None:
            if (owner := owner_of(pod, kind, owners)) is not None:
                expectations.deletion_observed(key_of(owner), pod["metadata"].get("uid", ""))
                self.enqueue(owner)

        pods.add_handler(added, updated, deleted)

    def run(self, stop: threading.Event) -> None:
        """Start the workers; they stop when `stop` is set."""
        for index in range(self.workers):
            threading.Thread(target=self._worker, name=f"{self.name}-{index}", daemon=True).start()
        when_stopped(stop, self.queue.shutdown)

    def _worker(self) -> None:
        while (key := self.queue.get()) is not None:
            try:
                self.sync(key)
            except Exception as exc:
                log.warning("%s: sync %s failed (%s); requeueing with backoff", self.name, key, exc)
                log.debug("sync failure", exc_info=True)
                SYNCS.labels(self.name, "error").inc()
                self.queue.add_rate_limited(key)
            else:
                SYNCS.labels(self.name, "success").inc()
                self.queue.forget(key)
            finally:
                self.queue.done(key)


def controller_of(obj: Obj) -> OwnerReference | None:
    """The ownerReference with `controller: true`, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_of(obj: Obj, kind: str, owners: Store, ref: OwnerReference | None = None) -> Obj | None:
    """The cached object of `kind` that controls `obj` (through `ref`, by default its controller reference), or
    None when there is none or the cache holds a different object of that name (same name, other uid)."""
    ref = ref or controller_of(obj)
    if not ref or ref.get("kind") != kind:
        return None
    owner = owners.get(key(namespace_of(obj), ref.get("name") or ""))
    return owner if owner is not None and owner["metadata"].get("uid") == ref.get("uid") else None


def controller_uid_index(kind: str | None = None) -> Callable[[Obj], list[str]]:
    """An informer index function: the uid of an object's controller (only a controller of `kind`, when given)."""

    def index(obj: Obj) -> list[str]:
        ref = controller_of(obj)
        if not ref or not ref.get("uid") or (kind is not None and ref.get("kind") != kind):
            return []
        return [ref["uid"]]

    return index


def _spec_selector(obj: Obj) -> Obj | None:
    selector: Obj | None = (obj.get("spec") or {}).get("selector")
    return selector


def selecting(candidates: list[Obj], labels: dict[str, str] | None,
              selector_of: Callable[[Obj], Obj | None] = _spec_selector) -> list[Obj]:
    """The `candidates` whose label selector (`spec.selector`, or what `selector_of` makes of it) is valid, not
    empty, and matches `labels`: the controllers that may adopt an orphan with these labels."""
    found = []
    for candidate in candidates:
        try:
            selector = selector_from_label_selector(selector_of(candidate))
        except ValueError:
            continue
        if not selector.empty and selector.matches(labels or {}):
            found.append(candidate)
    return found


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """An IntOrString such as `1` or `"25%"` against `total` (upstream's GetScaledValueFromIntOrPercent): ints as
    they are, `N%` rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%") or not value[:-1].isdigit():
        raise ValueError(f"invalid value for IntOrString: invalid value {value!r}: must be an int or a percentage")
    product = int(value[:-1]) * total
    return -(-product // 100) if round_up else product // 100


def owner_reference(owner: Obj, block: bool = True) -> OwnerReference:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}


Handler = Callable[[Obj], None]


def claim(owner: Obj, selector: LabelSelector, candidates: Iterable[Obj], *, adopt: Callable[[Obj], Obj | None],
          release: Callable[[Obj], object], can_adopt: Callable[[], None]) -> list[Obj]:
    """The candidates `owner` controls, after adopting matching orphans and releasing what stopped matching
    (upstream's ControllerRefManager.ClaimObject, `pkg/controller/controller_ref_manager.go`).

    An object another controller owns is left alone. One we own is kept while it matches, and released (its
    controller reference removed) when it stops matching, unless we are being deleted. An orphan that matches is
    adopted (`adopt` returns it adopted, or None when it is gone), unless it or we are being deleted; `can_adopt`
    first checks, once, that we still exist in the API (not a deleted namesake) and raises if not."""
    uid, deleting = owner["metadata"]["uid"], bool(owner["metadata"].get("deletionTimestamp"))
    claimed: list[Obj] = []
    checked = False
    for obj in candidates:
        matches = selector.matches(obj["metadata"].get("labels") or {})
        ref = controller_of(obj)
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches:
                claimed.append(obj)
            elif not deleting:
                release(obj)
            continue
        if deleting or obj["metadata"].get("deletionTimestamp") or not matches:
            continue
        if not checked:
            can_adopt()
            checked = True
        adopted = adopt(obj)
        if adopted is not None:
            claimed.append(adopted)
    return claimed
