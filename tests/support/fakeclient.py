"""A fake API client that records what a controller does, and controllers built on it with hand-fed caches.

The shape is client-go's fake clientset (`k8s.io/client-go/kubernetes/fake`, `testing/fixture.go`): an object
tracker answers the verbs, every call is recorded as an `Action`, and a test can make a verb fail. Controller
tests then read like upstream's `replica_set_test.go`: put objects in the informer caches, call `sync(key)` once,
and assert on the actions taken (a pod created, a status written), not on internals.

    fixture = controller_fixture(ReplicaSetController)
    fixture.add(replicaset("web", replicas=2, uid="rs-1"))
    fixture.sync("default/web")
    assert len(fixture.actions("create", "pods")) == 2

Every controller is built by `new_controller` alone: when constructors change, it is the one place to adapt.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

from kubeling.api import meta
from kubeling.api.errors import StatusError
from kubeling.api.patch import json_patch, merge_patch
from kubeling.api.resources import ResourceType, lookup, lookup_kind
from kubeling.api.strategic import strategic_merge
from kubeling.client import errors
from kubeling.client.api import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH
from kubeling.client.informer import Store
from kubeling.controllers.base import Controller, InformerFactory

Obj = dict[str, Any]

# Verbs that read: most tests look only at the others.
READS = frozenset({"get", "list"})


@dataclasses.dataclass(frozen=True)
class Action:
    """One call to the fake client. `object` is what was sent (an object, a patch, delete options)."""

    verb: str  # get, list, create, update, patch, delete, deletecollection
    resource: str  # the plural, as in `pods`
    namespace: str | None
    name: str | None
    subresource: str | None = None
    object: Any = None

    def __repr__(self) -> str:
        where = "/".join(p for p in (self.namespace, self.name) if p)
        sub = f"/{self.subresource}" if self.subresource else ""
        return f"<{self.verb} {self.resource}{sub} {where}>"


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: FakeClient, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    return call


class FakeClient:
    """Answers `kubeling.client.api.Client`'s verbs from an in-memory tracker, recording each call."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.actions: list[Action] = []
        self.config = None  # as Client.config: no server, no CA file
        self._revision = itertools.count(100)
        self._failures: list[tuple[str, str, Callable[[Action], Exception | None]]] = []
        # Controllers call from worker pools: one call at a time, as one API server would order them.
        self.lock = threading.RLock()

    # Test controls

    @_locked
    def seed(self, rtype: ResourceType, obj: Obj) -> Obj:
        """Put an object in the tracker without recording an action; server fields are filled in if missing."""
        stored = meta.deep_copy(obj)
        metadata = stored.setdefault("metadata", {})
        if not rtype.namespaced:
            metadata.pop("namespace", None)
        else:
            metadata.setdefault("namespace", "default")
        metadata.setdefault("uid", f"uid-{metadata['name']}")
        metadata.setdefault("creationTimestamp", "2025-01-01T00:00:00Z")
        metadata["resourceVersion"] = str(next(self._revision))
        stored.setdefault("apiVersion", rtype.api_version)
        stored.setdefault("kind", rtype.kind)
        self.objects[self._key(rtype, metadata.get("namespace"), metadata["name"])] = stored
        return meta.deep_copy(stored)

    def fail(self, verb: str, resource: str, error: Exception | Callable[[Action], Exception | None]) -> None:
        """Make calls of `verb` on `resource` raise `error` (or what a callable returns for the action, if any);
        `*` matches every verb or resource. Like client-go's PrependReactor."""
        self._failures.append((verb, resource, error if callable(error) and not isinstance(error, Exception)
                               else (lambda _action, e=error: e)))

    def writes(self) -> list[Action]:
        return [a for a in self.actions if a.verb not in READS]

    def clear(self) -> None:
        self.actions.clear()

    # The verbs of kubeling.client.api.Client

    @_locked
    def get(self, rtype: ResourceType, name: str, namespace: str | None = None,
            subresource: str | None = None) -> Obj:
        self._record(Action("get", rtype.plural, namespace, name, subresource))
        return meta.deep_copy(self._existing(rtype, namespace, name))

    @_locked
    def list(self, rtype: ResourceType, namespace: str | None = None, **_options: Any) -> Obj:
        self._record(Action("list", rtype.plural, namespace, None))
        items = [meta.deep_copy(obj) for (plural, ns, _), obj in sorted(self.objects.items())
                 if plural == rtype.plural and (not namespace or ns == namespace)]
        return {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version, "items": items,
                "metadata": {"resourceVersion": str(next(self._revision))}}

    def list_all(self, rtype: ResourceType, namespace: str | None = None, page: int = 500, **options: Any) -> Obj:
        return self.list(rtype, namespace, **options)

    def watch(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the fake client does not watch: feed the informer caches instead")

    @_locked
    def create(self, rtype: ResourceType, obj: Obj, namespace: str | None = None) -> Obj:
        namespace = (namespace or obj.get("metadata", {}).get("namespace")) if rtype.namespaced else None
        self._record(Action("create", rtype.plural, namespace, obj.get("metadata", {}).get("name"), None,
                            meta.deep_copy(obj)))
        new = meta.deep_copy(obj)
        metadata = new.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = meta.generate_name(metadata["generateName"])
        if namespace:
            metadata["namespace"] = namespace
        if self._key(rtype, namespace, metadata["name"]) in self.objects:
            raise errors.AlreadyExists(409, "AlreadyExists", f'{rtype.plural} "{metadata["name"]}" already exists')
        metadata["uid"] = meta.new_uid()
        metadata.pop("resourceVersion", None)
        return self.seed(rtype, new)

    @_locked
    def replace(self, rtype: ResourceType, obj: Obj, subresource: str | None = None) -> Obj:
        metadata = obj["metadata"]
        namespace = metadata.get("namespace") if rtype.namespaced else None
        self._record(Action("update", rtype.plural, namespace, metadata["name"], subresource, meta.deep_copy(obj)))
        current = self._existing(rtype, namespace, metadata["name"])
        if metadata.get("resourceVersion") and metadata["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise errors.Conflict(409, "Conflict", f'Operation cannot be fulfilled on {rtype.plural} '
                                  f'"{metadata["name"]}": the object has been modified')
        if subresource == "status":  # as the API server: a status write changes the status only
            return self._store(rtype, {**meta.deep_copy(current), "status": meta.deep_copy(obj.get("status") or {})})
        return self._store(rtype, {**meta.deep_copy(obj), "metadata": {**meta.deep_copy(metadata),
                                                                        "uid": current["metadata"]["uid"]}})

    def replace_status(self, rtype: ResourceType, obj: Obj) -> Obj:
        return self.replace(rtype, obj, "status")

    @_locked
    def patch(self, rtype: ResourceType, name: str, patch: Any, namespace: str | None = None, *,
              patch_type: str = MERGE_PATCH, subresource: str | None = None,
              field_manager: str | None = None) -> Obj:
        namespace = namespace if rtype.namespaced else None
        self._record(Action("patch", rtype.plural, namespace, name, subresource, meta.deep_copy(patch)))
        current = meta.deep_copy(self._existing(rtype, namespace, name))
        try:
            if patch_type == JSON_PATCH:
                patched = json_patch(current, patch)
            elif patch_type == STRATEGIC_PATCH:
                patched = strategic_merge(current, patch, rtype.kind)
            else:
                patched = merge_patch(current, patch)
        except StatusError as exc:
            raise errors.from_status(exc.to_status()) from exc
        return self._store(rtype, patched)

    @_locked
    def delete(self, rtype: ResourceType, name: str, namespace: str | None = None, *,
               propagation: str | None = None, grace_period: int | None = None,
               preconditions: dict[str, str] | None = None) -> Obj:
        namespace = namespace if rtype.namespaced else None
        options = {k: v for k, v in (("propagationPolicy", propagation), ("gracePeriodSeconds", grace_period),
                                     ("preconditions", preconditions)) if v is not None}
        self._record(Action("delete", rtype.plural, namespace, name, None, options))
        current = self._existing(rtype, namespace, name)
        if preconditions and preconditions.get("uid") not in (None, current["metadata"]["uid"]):
            raise errors.Conflict(409, "Conflict", "Precondition failed: UID in precondition does not match")
        return self._remove(rtype, current)

    @_locked
    def bind(self, namespace: str, pod: str, node: str, uid: str | None = None) -> None:
        pods = lookup("", "pods")
        binding = {"target": {"kind": "Node", "name": node}, "metadata": {"name": pod, "uid": uid}}
        self._record(Action("create", "pods", namespace, pod, "binding", binding))
        current = self._existing(pods, namespace, pod)
        self._store(pods, {**current, "spec": {**current["spec"], "nodeName": node}})

    @_locked
    def request(self, method: str, path: str, **kwargs: Any) -> FakeResponse:
        """A raw request: only DELETE of a collection (`deletecollection`) is understood."""
        rtype, namespace = _collection_of(path)
        if method != "DELETE" or rtype is None:
            raise NotImplementedError(f"fake client: {method} {path}")
        self._record(Action("deletecollection", rtype.plural, namespace, None, None, kwargs.get("body")))
        for key in [k for k in self.objects if k[0] == rtype.plural and (not namespace or k[1] == namespace)]:
            self._remove(rtype, self.objects[key])
        return FakeResponse({"kind": "Status", "status": "Success"})

    # Inside

    def _record(self, action: Action) -> None:
        self.actions.append(action)
        for verb, resource, make in self._failures:
            if verb in ("*", action.verb) and resource in ("*", action.resource):
                error = make(action)
                if error is not None:
                    raise error

    @staticmethod
    def _key(rtype: ResourceType, namespace: str | None, name: str) -> tuple[str, str, str]:
        return rtype.plural, (namespace or "") if rtype.namespaced else "", name

    def _existing(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        found = self.objects.get(self._key(rtype, namespace, name))
        if found is None:
            raise errors.NotFound(404, "NotFound", f'{rtype.plural} "{name}" not found')
        return found

    def _remove(self, rtype: ResourceType, current: Obj) -> Obj:
        """Delete as the API server does: an object with finalizers is only marked (deletionTimestamp)."""
        metadata = current["metadata"]
        if metadata.get("finalizers"):
            if metadata.get("deletionTimestamp"):
                return current
            marked = meta.deep_copy(current)
            marked["metadata"]["deletionTimestamp"] = meta.now()
            return self._store(rtype, marked)
        del self.objects[self._key(rtype, metadata.get("namespace"), metadata["name"])]
        return current

    def _store(self, rtype: ResourceType, obj: Obj) -> Obj:
        obj["metadata"].pop("resourceVersion", None)
        return self.seed(rtype, obj)


class FakeResponse:
    def __init__(self, body: Obj) -> None:
        self.body = body
        self.status_code = 200
        self.content = json.dumps(body).encode()

    def json(self) -> Obj:
        return self.body


def _collection_of(path: str) -> tuple[ResourceType | None, str | None]:
    """`/api/v1/namespaces/ns/pods` or `/apis/apps/v1/namespaces/ns/deployments` → (type, namespace)."""
    parts = path.split("?")[0].strip("/").split("/")
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    namespace = None
    if len(rest) == 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    return lookup(group, rest[0]) if rest else None, namespace


class FakeRecorder:
    """An event recorder that keeps events in a list, as client-go's record.FakeRecorder."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []  # (type, reason, message)
        self.details: list[dict[str, Any]] = []  # the events.k8s.io fields of each: action, related

    def event(self, obj: Obj, event_type: str, reason: str, message: str, *, action: str = "",
              related: Obj | None = None) -> None:
        self.events.append((event_type, reason, message))
        self.details.append({"regarding": obj, "action": action, "related": related})

    def for_controller(self, component: str) -> FakeRecorder:
        return self

    def flush(self, timeout: float = 5.0) -> None:
        return None

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]


def new_controller(cls: type[Controller], client: Any, informers: InformerFactory, recorder: Any,
                   options: Any = None) -> Controller:
    """The one place where tests construct controllers."""
    return cls(client, informers, recorder, options)


@dataclasses.dataclass
class ControllerFixture:
    """A controller on a fake client, with informer caches a test fills by hand (nothing is listed or watched)."""

    controller: Any
    client: FakeClient
    informers: InformerFactory
    recorder: FakeRecorder

    def add(self, *objects: Obj) -> list[Obj]:
        """Put objects where the controller finds them: in the client's tracker and in their informer's cache.
        Returns them as stored (uid, resourceVersion and creationTimestamp filled in when missing)."""
        stored = []
        for obj in objects:
            rtype = _type_of(obj)
            kept = self.client.seed(rtype, obj)
            self.cache(rtype).store._put(kept)
            stored.append(kept)
        return stored

    def remove(self, obj: Obj) -> None:
        """Take an object out of the informer cache only (as after a missed delete event)."""
        self.cache(_type_of(obj)).store._remove(obj)

    def cache(self, rtype: ResourceType) -> Any:
        return self.informers.informer(rtype)

    def store(self, rtype: ResourceType) -> Store:
        return self.informers.informer(rtype).store

    def sync(self, key: str) -> None:
        self.controller.sync(key)

    def actions(self, verb: str | None = None, resource: str | None = None,
                subresource: str | None = "*") -> list[Action]:
        """The writes recorded so far (reads too when `verb` is get or list), filtered by verb and resource."""
        return [a for a in self.client.actions
                if ((verb is None and a.verb not in READS) or a.verb == verb)
                and (resource is None or a.resource == resource)
                and (subresource == "*" or a.subresource == subresource)]

    def stored(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """The object in the fake API server, after the controller's writes."""
        return self.client.objects.get(FakeClient._key(rtype, namespace, name))


def controller_fixture(cls: type[Controller], options: Any = None) -> ControllerFixture:
    client, recorder = FakeClient(), FakeRecorder()
    informers = InformerFactory(client)  # type: ignore[arg-type]
    controller = new_controller(cls, client, informers, recorder, options)
    return ControllerFixture(controller, client, informers, recorder)


def _type_of(obj: Obj) -> ResourceType:
    rtype = lookup_kind(obj["apiVersion"], obj["kind"])
    assert rtype is not None, f"unknown kind {obj['apiVersion']} {obj['kind']}"
    return rtype
