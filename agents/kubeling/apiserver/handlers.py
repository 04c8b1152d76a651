"""HTTP routes for every resource: `/api/v1/...` and `/apis/<group>/<version>/...`.

One catch-all route per API prefix parses the path into (resource, namespace, name, subresource) the way
upstream's request-info resolver does, then hands the verb to the registry.
"""

from __future__ import annotations

import dataclasses
import json
import select
import socket
from collections.abc import Callable, Iterator
from typing import Any

import yaml
from flask import Blueprint, Response, after_this_request, current_app, request

from kubeling.api import errors, selectors
from kubeling.api.fieldmanager import Writer, manager_name
from kubeling.api.patch import APPLY_PATCH, media_type
from kubeling.api.resources import ResourceType, lookup
from kubeling.apiserver import access, componentstatus, logs, protobuf, proxy, streaming, views, watch, watch_websocket
from kubeling.apiserver.eviction import evict
from kubeling.apiserver.registry import Registry
from kubeling.apiserver.strategies.core.namespace import finalize as finalize_namespace
from kubeling.apiserver.strategies.core.pod import bind as bind_pod
from kubeling.apiserver.watchcache import ListCache
from kubeling.fastpath import fastjson
from kubeling.storage.store import Predicate

Convert = Callable[[dict[str, Any]], dict[str, Any]]

blueprint = Blueprint("resources", __name__)

STRATEGIC_MERGE = "application/strategic-merge-patch+json"
# Upstream's request body limit.
MAX_BODY_BYTES = 3 * 1024 * 1024


@dataclasses.dataclass
class Target:
    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str


def registry() -> Registry:
    return current_app.extensions["kubeling.registry"]


def resolve(group: str, version: str, path: str) -> tuple[Target, bool]:
    """Turn the path after the group/version into a Target; the bool says it was a legacy `/watch/` path."""
    parts = [p for p in path.split("/") if p]
    legacy_watch = bool(parts) and parts[0] == "watch"
    if legacy_watch:
        parts = parts[1:]
    namespace: str | None = None
    if len(parts) >= 3 and parts[0] == "namespaces":
        candidate = lookup(group, parts[2], version)
        if candidate is not None and candidate.namespaced:
            namespace, parts = parts[1], parts[2:]
    if not parts:
        raise errors.StatusError(404, "the server could not find the requested resource", "NotFound")
    rtype = lookup(group, parts[0], version)
    if rtype is None or rtype.version != version or len(parts) > 3:
        raise errors.StatusError(404, "the server could not find the requested resource", "NotFound")
    name = parts[1] if len(parts) > 1 else None
    subresource = parts[2] if len(parts) > 2 else ""
    if subresource and subresource not in rtype.subresources:
        raise errors.StatusError(404, "the server could not find the requested resource", "NotFound")
    if rtype.namespaced and name and namespace is None:
        raise errors.StatusError(404, "the server could not find the requested resource", "NotFound")
    return Target(rtype, namespace, name, subresource), legacy_watch


@blueprint.route("/api/v1/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def core(path: str) -> Response:
    return dispatch("", "v1", path)


# Werkzeug routes a WebSocket upgrade (GET with `Upgrade: websocket`) only to rules marked for WebSockets: pod
# streams (apiserver/streaming.py) and watches (apiserver/watch_websocket.py).
@blueprint.route("/api/v1/<path:path>", methods=["GET"], websocket=True)
def core_websocket(path: str) -> Response:
    return dispatch("", "v1", path)


@blueprint.route("/apis/<group>/<version>/<path:path>", methods=["GET"], websocket=True)
def grouped_websocket(group: str, version: str, path: str) -> Response:
    return dispatch(group, version, path)


@blueprint.route("/api/v1/namespaces/<namespace>/pods/<name>/<any(exec, attach, portforward):subresource>",
                 methods=["GET"], websocket=True)
def pod_stream(namespace: str, name: str, subresource: str) -> Response:
    return dispatch("", "v1", f"namespaces/{namespace}/pods/{name}/{subresource}")


# `services/proxy` and `pods/proxy` carry a path of their own after `proxy`, which the catch-all cannot resolve.
@blueprint.route("/api/v1/namespaces/<namespace>/<any(services, pods):resource>/<name>/proxy", methods=proxy.METHODS)
@blueprint.route("/api/v1/namespaces/<namespace>/<any(services, pods):resource>/<name>/proxy/",
                 methods=proxy.METHODS, defaults={"rest": ""})
@blueprint.route("/api/v1/namespaces/<namespace>/<any(services, pods):resource>/<name>/proxy/<path:rest>",
                 methods=proxy.METHODS)
def proxied(namespace: str, resource: str, name: str, rest: str | None = None) -> Response:
    return proxy.forward(registry(), resource, namespace, name, rest)


@blueprint.route("/apis/<group>/<version>/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def grouped(group: str, version: str, path: str) -> Response:
    return dispatch(group, version, path)


def dispatch(group: str, version: str, path: str) -> Response:
    target, legacy_watch = resolve(group, version, path)
    method = request.method
    if target.rtype.stores_as:
        return views.dispatch(target, legacy_watch)
    if target.rtype.computed:
        if method != "GET" or legacy_watch or flag("watch"):
            raise errors.StatusError(405, f"{method} is not supported on {target.rtype.plural}", "MethodNotAllowed")
        return componentstatus.serve(target.rtype, target.name)
    if target.rtype.create_only:
        if method != "POST" or target.name is not None:
            raise errors.StatusError(405, "the server does not allow this method on the requested resource",
                                     "MethodNotAllowed")
        return _json(access.create_review(target.rtype, target.namespace, read_body()), 201)
    if target.subresource in streaming.CONNECT_SUBRESOURCES:
        if method not in ("GET", "POST"):
            raise errors.StatusError(405, f"{method} is not supported on {target.subresource}", "MethodNotAllowed")
        return streaming.connect(registry(), target.namespace or "", target.name or "", target.subresource)
    if method == "GET":
        if target.subresource == "log":
            return logs.pod_log(registry(), target.namespace or "", target.name or "")
        if target.name is None:
            if legacy_watch or flag("watch"):
                return watch_collection(target)
            return list_collection(target)
        if legacy_watch:
            return watch_collection(target)
        return get_object(target)
    if method == "POST":
        if target.subresource == "binding":
            bind_pod(registry(), target.namespace or "", target.name or "", read_body())
            return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)
        if target.subresource == "eviction":
            eviction = read_body()
            return _json(evict(registry(), target.namespace or "", target.name or "", eviction,
                               dry_run(eviction.get("deleteOptions") or {})), 201)
        if target.subresource == "token":
            return _json(access.token_request(registry(), target.namespace or "", target.name or "", read_body()), 201)
        if target.name is not None:
            raise errors.StatusError(405, f"POST is not supported on {target.rtype.plural}/{target.name}")
        if target.namespace is None and target.rtype.namespaced:
            raise errors.StatusError(405, f"the server does not allow this method on {target.rtype.plural}")
        body = read_body()
        check_unknown_fields(target.rtype, body)
        access.admit_create(target.rtype, target.namespace, body)
        created = registry().create(target.rtype, target.namespace, body, dry_run=dry_run(), owned=True,
                                    writer=_writer("CreateOptions"))
        return render(target.rtype, created, 201)
    if target.name is None:
        if method == "DELETE":
            return delete_collection(target)
        raise errors.StatusError(405, f"{method} is not supported on a collection", "MethodNotAllowed")
    if method == "PUT":
        return put_object(target)
    if method == "PATCH":
        return patch_object(target)
    return delete_object(target)


# Request helpers


def read_raw_body() -> bytes:
    environ = request.environ
    declared = environ.get("CONTENT_LENGTH", "")
    if declared.isdigit():
        # The usual case. The server's input stream already ends at the declared length, so werkzeug's guard
        # around it (several layers of Python per read) has nothing to add.
        if int(declared) > MAX_BODY_BYTES:
            raise too_large()
        return environ["wsgi.input"].read(int(declared))
    data = request.stream.read(MAX_BODY_BYTES + 1)  # chunked: no length to trust, so read one byte past the limit
    if len(data) > MAX_BODY_BYTES:
        raise too_large()
    return data


def too_large() -> errors.StatusError:
    return errors.StatusError(413, f"Request entity too large: limit is {MAX_BODY_BYTES}", "RequestEntityTooLarge")


def read_body(raw: bytes | None = None) -> Any:
    """Parse a JSON (or YAML) body; the Python client sends JSON with no Content-Type at all."""
    data = read_raw_body() if raw is None else raw
    if not data.strip():
        raise errors.bad_request("the request body is empty")
    content_type = request.environ.get("CONTENT_TYPE", "").split(";")[0].strip()
    if protobuf.is_protobuf(content_type):
        return protobuf.decode(data)  # kubectl's typed commands (create namespace, …) send protobuf
    try:
        if content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
            parsed = yaml.safe_load(data)
        else:
            parsed = fastjson.loads(data)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"the body of the request could not be decoded: {_first_line(exc)}") from exc
    if not isinstance(parsed, dict):
        raise errors.bad_request("the body of the request must be a JSON object")
    return parsed


def unsupported_protobuf() -> errors.StatusError:
    return errors.StatusError(
        415, 'the body of the request was in an unknown format - accepted media types include: application/json, '
        'application/yaml', "UnsupportedMediaType")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("true", "1")


def dry_run(options: dict[str, Any] | None = None) -> bool:
    values = list((options or {}).get("dryRun") or [])
    if request.environ.get("QUERY_STRING"):  # most requests have none, and parsing an empty one still costs
        values = request.args.getlist("dryRun") + values
    if any(value != "All" for value in values):
        # Upstream validates the verb's options (CreateOptions, ...) before reading the body: 422, not 400.
        kind = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}.get(
            request.method, "DeleteOptions")
        shown = "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"
        raise errors.invalid(kind, "meta.k8s.io", "", [errors.cause(
            "dryRun", f'Unsupported value: {shown}: supported values: "All"', "FieldValueNotSupported")])
    return bool(values)


def check_unknown_fields(rtype: ResourceType, body: Any) -> None:
    """The `fieldValidation` query parameter, for fields a write would drop: Strict refuses the request (400),
    Warn (the default) answers with a Warning header per field, Ignore says nothing (upstream: the decoder's
    strict mode, apiserver/pkg/endpoints/handlers/rest.go)."""
    mode = request.args.get("fieldValidation", "Warn") if request.environ.get("QUERY_STRING") else "Warn"
    if mode == "Ignore" or not isinstance(body, dict):
        return
    unknown = registry().strategy(rtype).unknown_fields(body)
    if not unknown:
        return
    if mode == "Strict":
        version = rtype.api_version.rsplit("/", 1)[-1]
        fields = ", ".join(f'unknown field "{field}"' for field in unknown)
        raise errors.bad_request(f'{rtype.kind} in version "{version}" cannot be handled as a {rtype.kind}: '
                                 f"strict decoding error: {fields}")

    @after_this_request
    def warn(response: Response) -> Response:
        for field in unknown:
            response.headers.add("Warning", f'299 - "unknown field \\"{field}\\""')
        return response


def _writer(options_kind: str, subresource: str = "") -> Writer:
    """Who writes: the request's fieldManager, else the program its User-Agent names (upstream's
    managerOrUserAgent), checked as upstream's ValidateFieldManager."""
    asked = request.args.get("fieldManager", "") if request.environ.get("QUERY_STRING") else ""
    problem = None
    if len(asked.encode()) > 128:
        problem = "Too long: may not be more than 128 bytes"
    elif not asked.isprintable():
        problem = f"Invalid value: {json.dumps(asked)}: invalid characters"
    if problem:
        raise errors.invalid(options_kind, "meta.k8s.io", "", [errors.cause(
            "fieldManager", problem, "FieldValueTooLong" if problem.startswith("Too") else "FieldValueInvalid")])
    name = manager_name(asked, request.environ.get("HTTP_USER_AGENT", ""))
    return Writer(name, _tracked(subresource))


def _patch_options(content_type: str) -> tuple[Writer, bool]:
    """The writer and `force` of a PATCH, refused as upstream's ValidatePatchOptions: an apply must name its
    fieldManager, and only an apply may force."""
    applying = media_type(content_type) == APPLY_PATCH
    has_force = "force" in request.args
    if applying and not request.args.get("fieldManager"):
        raise errors.invalid("PatchOptions", "meta.k8s.io", "", [errors.cause(
            "fieldManager", "Required value: is required for apply patch", "FieldValueRequired")])
    if not applying and has_force:
        raise errors.invalid("PatchOptions", "meta.k8s.io", "", [errors.cause(
            "force", "Forbidden: may not be specified for non-apply patch", "FieldValueForbidden")])
    return _writer("PatchOptions"), applying and flag("force")


def _int_arg(name: str) -> int:
    text = request.args.get(name, "")
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError as exc:
        raise errors.bad_request(f"invalid value for {name}: {text!r} is not an integer") from exc
    if value < 0:
        raise errors.bad_request(f"invalid value for {name}: must not be negative")
    return value


def wants_table() -> str | None:
    """The Table version asked for in Accept (`v1` or `v1beta1`), or None for plain objects."""
    accept = request.environ.get("HTTP_ACCEPT", "")
    if "Table" not in accept:
        return None  # nearly every request: no need to parse the header
    for part in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return params.get("v", "v1")
    return None


def _json(obj: Any, status: int = 200) -> Response:
    return Response(fastjson.dumps(obj), status=status, mimetype="application/json")


def render(rtype: ResourceType, obj: dict[str, Any], status: int = 200) -> Response:
    table_version = wants_table()
    if table_version and obj.get("kind") == rtype.kind:
        table = registry().strategy(rtype).table(
            [obj], include_object=request.args.get("includeObject", "Metadata"),
            resource_version=obj["metadata"].get("resourceVersion", ""))
        table["apiVersion"] = f"meta.k8s.io/{table_version}"
        return _json(table, status)
    return _json(obj, status)


def make_predicate(rtype: ResourceType, field_selector: str | None = None) -> Predicate | None:
    """The request's label and field selectors as a test of stored objects (`field_selector`: the field selector
    to use instead of the request's, a view's rewritten into the stored form's names)."""
    label = selectors.parse_label_selector(request.args.get("labelSelector"))
    allowed = registry().strategy(rtype).field_selectors
    field = selectors.parse_field_selector(field_selector or request.args.get("fieldSelector"), allowed)
    if label.empty and field.empty:
        return None

    def predicate(obj: dict[str, Any]) -> bool:
        return label.matches(obj.get("metadata", {}).get("labels")) and field.matches(obj)

    return predicate


# Verbs


def get_object(target: Target) -> Response:
    obj = registry().get(target.rtype, target.namespace, target.name or "")
    if target.subresource == "scale":
        return _json(scale_of(target.rtype, obj))
    shown = registry().strategy(target.rtype).reader(target.rtype)
    return render(target.rtype, shown(obj) if shown else obj)


def list_collection(target: Target, predicate: Predicate | None = None, convert: Convert | None = None) -> Response:
    """`convert`: how a view shows stored objects (views.py), with its `predicate` on the stored form."""
    rtype = target.rtype
    predicate = predicate if convert else make_predicate(rtype)
    limit, continue_token = _int_arg("limit"), request.args.get("continue", "")
    resource_version, match = list_version(continue_token)
    cache: ListCache = current_app.extensions["kubeling.list_cache"]
    result = cache.list(rtype, target.namespace, predicate=predicate, limit=limit, continue_token=continue_token,
                        resource_version=resource_version, match=match)
    if result is None:
        exact = int(resource_version) if match == "Exact" else 0
        result = registry().list(rtype, target.namespace, predicate=predicate, limit=limit,
                                 continue_token=continue_token, revision=exact)
    if convert:
        result.items = [convert(obj) for obj in result.items]
    shown = registry().strategy(rtype).reader(rtype)
    if shown is not None:
        result.items = [shown(obj) for obj in result.items]
    table_version = wants_table()
    if table_version:
        table = registry().strategy(rtype).table(
            result.items, include_object=request.args.get("includeObject", "Metadata"),
            resource_version=str(result.revision), continue_token=result.continue_token, remaining=result.remaining,
        )
        table["apiVersion"] = f"meta.k8s.io/{table_version}"
        return _json(table)
    metadata: dict[str, Any] = {"resourceVersion": str(result.revision)}
    if result.continue_token:
        metadata["continue"] = result.continue_token
    if result.remaining is not None:
        metadata["remainingItemCount"] = result.remaining
    body = {"kind": rtype.list_kind, "apiVersion": rtype.api_version, "metadata": metadata, "items": result.items}
    return _json(body)


def list_version(continue_token: str) -> tuple[str, str]:
    """A list's resourceVersion and resourceVersionMatch, checked as upstream's ValidateListOptions."""
    resource_version = request.args.get("resourceVersion", "")
    match = request.args.get("resourceVersionMatch", "")
    problem = ""
    if match and match not in ("Exact", "NotOlderThan"):
        problem = f'resourceVersionMatch: Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"'
    elif match and not resource_version:
        problem = ("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                   "provided")
    elif match and continue_token:
        problem = "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"
    elif match == "Exact" and resource_version == "0":
        problem = ('resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion '
                   '"0"')
    elif resource_version and not resource_version.isdigit():
        raise errors.bad_request(f"invalid resource version: {resource_version}")
    if problem:
        raise errors.invalid("ListOptions", "meta.k8s.io", "", [errors.cause(
            problem.split(":", 1)[0], problem.split(": ", 1)[1],
            "FieldValueNotSupported" if "Unsupported" in problem else "FieldValueForbidden")])
    return resource_version, match


def watch_collection(target: Target, predicate: Predicate | None = None, convert: Convert | None = None) -> Response:
    if watch_websocket.is_upgrade():
        return watch_websocket.serve(lambda gone: open_watch(target, gone, predicate, convert))
    stream = open_watch(target, hung_up_probe(request.environ), predicate, convert)
    request.environ["kubeling.stream"] = True  # send the headers now, not with the first event
    return Response(stream, mimetype="application/json", direct_passthrough=True)


def open_watch(target: Target, gone: Callable[[], bool] | None, predicate: Predicate | None = None,
               convert: Convert | None = None) -> Iterator[bytes]:
    """The watch's encoded events (`convert` turns stored objects into another API's view, with its own
    `predicate`); a resourceVersion too old (410 Expired) is raised here, before any answer."""
    rtype = target.rtype
    strategy = registry().strategy(rtype)
    if convert is None:
        predicate = make_predicate(rtype)
    if target.name is not None:
        field = selectors.parse_field_selector(f"metadata.name={target.name}", strategy.field_selectors)
        previous = predicate
        predicate = (lambda o: field.matches(o) and previous(o)) if previous else field.matches
    options = watch.WatchOptions(
        resource_version=request.args.get("resourceVersion", ""),
        timeout_seconds=_int_arg("timeoutSeconds"),
        bookmarks=flag("allowWatchBookmarks"),
        table_version=wants_table(),
        include_object=request.args.get("includeObject", "Metadata"),
        table=strategy.table,
        shown=strategy.reader(rtype),
        gone=gone,
        convert=convert,
    )
    stream = current_app.extensions["kubeling.watcher"].stream(rtype, target.namespace, predicate, options)
    first = next(stream)  # raises 410 Expired before the response starts, as a plain Status reply
    return _chain(first, stream)


def hung_up_probe(environ: dict[str, Any]) -> Callable[[], bool] | None:
    """A check for a closed client connection: its socket reads as end-of-file.

    Watches write nothing while nothing changes, so without this a dead client would hold a thread until
    timeoutSeconds.
    """
    sock = environ.get("gunicorn.socket") or environ.get("kubeling.socket")
    if sock is None:
        return None

    def gone() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    return gone


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def put_object(target: Target) -> Response:
    body = read_body()
    reg = registry()
    if target.subresource == "scale":
        return _json(write_scale(target, lambda scale: body, _writer("UpdateOptions", "scale")))
    if target.subresource == "finalize":
        return render(target.rtype, finalize_namespace(reg, target.name or "", body))
    if not target.subresource:
        check_unknown_fields(target.rtype, body)
    obj = reg.update(target.rtype, target.namespace, target.name or "", body, subresource=target.subresource,
                     dry_run=dry_run(), writer=_writer("UpdateOptions", target.subresource))
    return render(target.rtype, obj)


def patch_object(target: Target) -> Response:
    raw = read_raw_body()
    content_type = request.content_type or ""
    if content_type.split(";")[0].strip() == STRATEGIC_MERGE and not registry().strategy(target.rtype).strategic_merge:
        # Upstream's answer for custom resources, whose fields carry no patch strategies.
        raise errors.StatusError(415, "the body of the request was in an unknown format - accepted media types "
                                 "include: application/json-patch+json, application/merge-patch+json, "
                                 "application/apply-patch+yaml", "UnsupportedMediaType")
    writer, force = _patch_options(content_type)
    if target.subresource == "scale":
        from kubeling.api.patch import apply_patch

        def patched(scale: dict[str, Any]) -> Any:
            # The patch is applied to a Scale without the parent's resourceVersion, so that only a version the
            # patch itself names is a precondition: without one the patch is retried on a conflict, as
            # upstream's patcher retries patches that set no resourceVersion.
            unversioned = dict(scale, metadata={**scale["metadata"], "resourceVersion": ""})
            return apply_patch(content_type, unversioned, raw, "Scale")

        return _json(write_scale(target, patched, Writer(writer.manager, "scale")))

    def check(patched: Any) -> None:
        check_unknown_fields(target.rtype, patched)

    checked = not target.subresource and not registry().strategy(target.rtype).typed  # custom resources only
    obj, created = registry().patch(target.rtype, target.namespace, target.name or "", content_type, raw,
                                    subresource=target.subresource, dry_run=dry_run(),
                                    check_fields=check if checked else None,
                                    writer=Writer(writer.manager, _tracked(target.subresource)), force=force)
    return render(target.rtype, obj, 201 if created else 200)


def delete_options() -> dict[str, Any]:
    raw = read_raw_body()
    options: dict[str, Any] = read_body(raw) if raw.strip() else {}
    for name in ("gracePeriodSeconds",):
        if name in request.args:
            options[name] = _int_arg(name)
    if "propagationPolicy" in request.args:
        options["propagationPolicy"] = request.args["propagationPolicy"]
    if request.args.get("orphanDependents") in ("true", "false"):
        options["orphanDependents"] = request.args["orphanDependents"] == "true"
    policy = options.get("propagationPolicy")
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise errors.bad_request(f'Unsupported value: "{policy}": supported values: "Foreground", "Background", '
                                 '"Orphan"')
    return options


def delete_object(target: Target) -> Response:
    if target.subresource:
        raise errors.StatusError(405, f"DELETE is not supported on {target.subresource}", "MethodNotAllowed")
    options = delete_options()
    obj, _ = registry().delete(target.rtype, target.namespace, target.name or "", options,
                                  dry_run=dry_run(options))
    return _json(obj)


def delete_collection(target: Target, predicate: Predicate | None = None, convert: Convert | None = None,
                      stored: ResourceType | None = None) -> Response:
    """`convert`, `stored`: for a view (views.py), how it shows objects of the `stored` resource."""
    rtype = target.rtype
    options = delete_options()
    dry = dry_run(options)
    reg = registry()
    writes = stored or rtype
    result = reg.list(writes, target.namespace, predicate=predicate if convert else make_predicate(rtype))
    deleted = []
    for obj in result.items:
        try:
            gone_obj, _ = reg.delete(writes, obj["metadata"].get("namespace"), obj["metadata"]["name"], options,
                                     dry_run=dry)
        except errors.StatusError as exc:
            if exc.code == 404:
                continue
            raise
        deleted.append(convert(gone_obj) if convert else gone_obj)
    body = {"kind": rtype.list_kind, "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": str(result.revision)}, "items": deleted}
    return _json(body)


# Scale subresource


def scale_of(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    return registry().strategy(rtype).scale(obj)


def _tracked(subresource: str) -> str:
    """The subresource a managedFields entry names (writes through others count as the object's)."""
    return subresource if subresource in ("status", "scale") else ""


def write_scale(target: Target, change: Any, writer: Writer | None = None) -> dict[str, Any]:
    """Apply `change(scale) -> scale` and write the replicas back to the parent, as one conditional update."""
    rtype, reg = target.rtype, registry()
    for _ in range(16):
        parent = reg.get(rtype, target.namespace, target.name or "")
        scale = change(scale_of(rtype, parent))
        if not isinstance(scale, dict):
            raise errors.bad_request("a Scale must be a JSON object")
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", "autoscaling", target.name or "", [errors.cause(
                "spec.replicas", f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0")])
        sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != parent["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, target.name or "")
        reg.strategy(rtype).set_replicas(parent, replicas)
        try:
            updated = reg.update(rtype, target.namespace, target.name or "", parent, writer=writer)
        except errors.StatusError as exc:
            if exc.reason == "Conflict" and not sent_rv:
                continue
            raise
        return scale_of(rtype, updated)
    raise errors.conflict(rtype.plural, rtype.group, target.name or "", "too many concurrent updates; try again")
