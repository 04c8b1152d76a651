"""Resources that are another API's view of stored objects: `events.k8s.io/v1` events are core/v1 events.

Upstream keeps one storage per resource and converts at the edges: a request's body is decoded into the stored
form, a reply is encoded in the version asked for (k8s.io/apiserver's codecs; the events storage is
pkg/registry/core/event, served for both groups). Here the same: reads take the stored objects and convert them
out; writes convert the body in and go through the stored resource's registry (its validation, its strategy),
so both APIs see one object with one resourceVersion. A patch is applied to the object as this API shows it,
as upstream patches the versioned object.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Response, request

from kubeling.api import errors, eventsconversion
from kubeling.api.patch import apply_patch
from kubeling.api.resources import ResourceType, must_lookup
from kubeling.api.types import Obj
from kubeling.apiserver import handlers

Convert = Callable[[Obj], Obj]

# (group, plural) of the view → (stored form → view, view → stored form)
CONVERSIONS: dict[tuple[str, str], tuple[Convert, Convert]] = {
    ("events.k8s.io", "events"): (eventsconversion.from_core, eventsconversion.to_core),
}
# A field selector in the view's names, rewritten to the stored form's (upstream's field label conversions).
FIELD_NAMES: dict[tuple[str, str], dict[str, str]] = {
    ("events.k8s.io", "events"): {"regarding": "involvedObject", "reportingController": "reportingComponent",
                                  "deprecatedSource": "source"},
}
PATCH_ATTEMPTS = 16


def conversions(view: ResourceType) -> tuple[Convert, Convert]:
    return CONVERSIONS[(view.group, view.plural)]


def stored_field_selector(view: ResourceType, text: str | None) -> str | None:
    renames = FIELD_NAMES.get((view.group, view.plural)) or {}
    if not text or not renames:
        return text
    pattern = re.compile(r"(^|,)(" + "|".join(map(re.escape, renames)) + r")(?=[.=!])")
    return pattern.sub(lambda m: m.group(1) + renames[m.group(2)], text)


def dispatch(target: handlers.Target, legacy_watch: bool) -> Response:
    view = target.rtype
    if view.stores_as is None:
        raise LookupError(f"{view.qualified} is not a view")
    group, plural = view.stores_as
    stored = must_lookup(group, plural)
    out, into = conversions(view)
    reg = handlers.registry()
    namespace, name = target.namespace, target.name or ""
    method = request.method
    predicate = handlers.make_predicate(stored, stored_field_selector(view, request.args.get("fieldSelector")))
    if target.subresource:
        raise errors.StatusError(404, "the server could not find the requested resource", "NotFound")
    if method == "GET":
        if legacy_watch or (target.name is None and handlers.flag("watch")):
            return handlers.watch_collection(target, predicate=predicate, convert=out)
        if target.name is None:
            return handlers.list_collection(target, predicate=predicate, convert=out)
        return handlers.render(view, out(reg.get(stored, namespace, name)))
    if method == "POST":
        if target.name is not None or (namespace is None and view.namespaced):
            raise errors.StatusError(405, f"the server does not allow this method on {view.plural}")
        body = _checked(view, handlers.read_body())
        created = reg.create(stored, namespace, into(body), dry_run=handlers.dry_run(), owned=True)
        return handlers.render(view, out(created), 201)
    if target.name is None:
        if method == "DELETE":
            return handlers.delete_collection(target, predicate=predicate, convert=out, stored=stored)
        raise errors.StatusError(405, f"{method} is not supported on a collection", "MethodNotAllowed")
    if method == "PUT":
        body = _checked(view, handlers.read_body())
        return handlers.render(view, out(reg.update(stored, namespace, name, into(body), dry_run=handlers.dry_run())))
    if method == "PATCH":
        return handlers.render(view, out(_patch(view, stored, namespace, name)))
    options = handlers.delete_options()
    deleted, _ = reg.delete(stored, namespace, name, options, dry_run=handlers.dry_run(options))
    return handlers.render(view, out(deleted))


def _checked(view: ResourceType, body: Obj) -> Obj:
    """The body must be of this API's kind and version (the stored one's would be converted wrongly)."""
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if kind not in (None, "", view.kind) or api_version not in (None, "", view.api_version):
        raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                                 f"version ({view.api_version})")
    return {**body, "apiVersion": view.api_version, "kind": view.kind}


def _patch(view: ResourceType, stored: ResourceType, namespace: str | None, name: str) -> Obj:
    """Apply the patch to the object as this API shows it, write it back in the stored form (retried on a
    conflict unless the patch names a resourceVersion)."""
    out, into = conversions(view)
    raw = handlers.read_raw_body()
    content_type = request.content_type or ""
    reg = handlers.registry()
    for _ in range(PATCH_ATTEMPTS):
        current = out(reg.get(stored, namespace, name))
        patched = apply_patch(content_type, current, raw, view.kind)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce a JSON object")
        sent_rv = (patched.get("metadata") or {}).get("resourceVersion")
        body = into(_checked(view, patched))
        body.setdefault("metadata", {})["resourceVersion"] = sent_rv or current["metadata"]["resourceVersion"]
        try:
            return reg.update(stored, namespace, name, body, dry_run=handlers.dry_run())
        except errors.StatusError as exc:
            if exc.reason != "Conflict" or sent_rv:
                raise
    raise errors.conflict(view.plural, view.group, name, "too many concurrent updates; try again")
