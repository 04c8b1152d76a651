"""What clients read before anything else: version, API discovery, OpenAPI, and health endpoints."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from kubeling import KUBERNETES_VERSION
from kubeling.api import errors
from kubeling.api.resources import SUBRESOURCE_VERBS, ResourceType, group_versions, version_priority
from kubeling.apiserver import aggregated
from kubeling.apiserver.protobuf import openapiv2

blueprint = Blueprint("discovery", __name__)

# Kind and group of what a subresource returns, where it is not the parent's own kind.
SUBRESOURCE_KINDS = {
    "scale": ("autoscaling", "v1", "Scale"),
    "binding": ("", "v1", "Binding"),
    "eviction": ("policy", "v1", "Eviction"),
    "token": ("authentication.k8s.io", "v1", "TokenRequest"),
    "exec": ("", "v1", "PodExecOptions"),
    "attach": ("", "v1", "PodAttachOptions"),
    "portforward": ("", "v1", "PodPortForwardOptions"),
}


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, mimetype="application/json")


# kube-apiserver answers each discovery path with and without a trailing slash (kr8s asks for `/version/`).
@blueprint.route("/version")
@blueprint.route("/version/")
def version() -> Response:
    major, minor, _ = KUBERNETES_VERSION.lstrip("v").split(".")
    return _json({
        "major": major, "minor": minor, "gitVersion": KUBERNETES_VERSION, "gitCommit": "kubeling",
        "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "python",
        "compiler": "cpython", "platform": "linux/amd64",
    })


@blueprint.route("/api")
@blueprint.route("/api/")
def core_versions() -> Response:
    if version := aggregated.wanted_version(request.headers.get("Accept", "")):
        return aggregated.respond(True, resource_list, version)
    return _json({
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}],
    })


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def group_version_names() -> dict[str, list[str]]:
    """Group → its versions, the preferred one first."""
    out: dict[str, list[str]] = {}
    for gv in group_versions():
        if "/" in gv:
            name, version = gv.split("/")
            out.setdefault(name, []).append(version)
    return {name: sorted(versions, key=version_priority) for name, versions in out.items()}


@blueprint.route("/apis")
@blueprint.route("/apis/")
def groups() -> Response:
    if version := aggregated.wanted_version(request.headers.get("Accept", "")):
        return aggregated.respond(False, resource_list, version)
    listed = [_group(name, versions) for name, versions in group_version_names().items()]
    return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": listed})


@blueprint.route("/apis/<group>")
@blueprint.route("/apis/<group>/")
def group(group: str) -> Response:
    versions = group_version_names().get(group)
    if versions:
        return _json({"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)})
    raise errors.StatusError(404, "the server could not find the requested resource", "NotFound")


def _can_issue_tokens() -> bool:
    tokens = current_app.extensions.get("kubeling.tokens")
    return tokens is not None and tokens.can_issue


def resource_list(group_version: str, rtypes: list[ResourceType]) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for rtype in rtypes:
        entry: dict[str, Any] = {
            "name": rtype.plural, "singularName": rtype.singular, "namespaced": rtype.namespaced,
            "kind": rtype.kind, "verbs": list(rtype.verbs),
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.categories:
            entry["categories"] = list(rtype.categories)
        resources.append(entry)
        for sub in rtype.subresources:
            if sub == "token" and not _can_issue_tokens():
                continue  # as upstream, serviceaccounts/token exists only with a signing key
            sub_entry: dict[str, Any] = {
                "name": f"{rtype.plural}/{sub}", "singularName": "", "namespaced": rtype.namespaced,
                "kind": rtype.kind, "verbs": list(SUBRESOURCE_VERBS[sub]),
            }
            if sub in SUBRESOURCE_KINDS:
                sub_group, sub_version, sub_entry["kind"] = SUBRESOURCE_KINDS[sub]
                if sub_group:
                    sub_entry["group"], sub_entry["version"] = sub_group, sub_version
            if sub == "proxy":
                sub_entry["kind"] = f"{rtype.kind}ProxyOptions"  # PodProxyOptions, ServiceProxyOptions
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


@blueprint.route("/api/v1")
@blueprint.route("/api/v1/")
def core_resources() -> Response:
    return _json(resource_list("v1", group_versions()["v1"]))


@blueprint.route("/apis/<group>/<version>")
@blueprint.route("/apis/<group>/<version>/")
def group_resources(group: str, version: str) -> Response:
    gv = f"{group}/{version}"
    rtypes = group_versions().get(gv)
    if rtypes is None:
        raise errors.StatusError(404, "the server could not find the requested resource", "NotFound")
    return _json(resource_list(gv, rtypes))


# OpenAPI. v2: the custom resources' definitions in protobuf, else an empty document, which every kubectl reads as
# "no schemas", so it validates nothing on the client. v3: one PATCH operation per kind declaring `fieldValidation`,
# which tells kubectl 1.2x that the server validates, so it sends fieldValidation=Strict and lets us answer with a
# Status; and the custom resources' schemas, which `kubectl explain` reads.


@blueprint.route("/openapi/v2")
def openapi_v2() -> Response:
    # Custom resources' definitions only (protobuf/openapiv2.py): with none, the empty document.
    definitions = {}
    for rtypes in group_versions().values():
        for rtype in rtypes:
            published = _published_schema(rtype)
            if published is not None:
                gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
                definitions[_schema_name(rtype)] = (published, gvk)
    body = openapiv2.document(definitions, KUBERNETES_VERSION) if definitions else b""
    return Response(body, mimetype="application/octet-stream")


def _v3_path(gv: str) -> str:
    return "api/v1" if gv == "v1" else f"apis/{gv}"


@blueprint.route("/openapi/v3")
def openapi_v3_index() -> Response:
    paths = {}
    for gv, rtypes in group_versions().items():
        # A group's document changes only with its custom resources' schemas: clients cache it by this hash.
        custom = [schema for schema in map(_custom_schema, rtypes) if schema is not None]
        digest = hashlib.sha256(json.dumps(custom, sort_keys=True).encode()).hexdigest()[:16] if custom else "1"
        paths[_v3_path(gv)] = {"serverRelativeURL": f"/openapi/v3/{_v3_path(gv)}?hash=kubeling-{digest}"}
    return _json({"paths": paths})


def _custom_schema(rtype: ResourceType) -> dict[str, Any] | None:
    """The schema of a custom resource's version, as its CRD gives it (None for built-in resources)."""
    strategy = current_app.extensions["kubeling.registry"].strategies.get((rtype.group, rtype.plural))
    versions = getattr(strategy, "versions", None)
    if not versions or rtype.version not in versions:
        return None
    return versions[rtype.version].schema


def _published_schema(rtype: ResourceType) -> dict[str, Any] | None:
    """What `kubectl explain` reads for a custom resource: its CRD's schema with the fields every kind has."""
    schema = _custom_schema(rtype)
    if schema is None:
        return None
    properties = {
        "apiVersion": {"type": "string", "description": API_VERSION_DOC},
        "kind": {"type": "string", "description": KIND_DOC},
        "metadata": {"type": "object", "description": METADATA_DOC},
        **{k: v for k, v in (schema.get("properties") or {}).items() if k != "metadata"},
    }
    return {**schema, "properties": properties}


def _schema_name(rtype: ResourceType) -> str:
    """Upstream's definition name: the group reversed, then version and kind (`com.example.stable.v1.CronTab`)."""
    return ".".join([*reversed(rtype.group.split(".")), rtype.version, rtype.kind])


@blueprint.route("/openapi/v3/<path:gv_path>")
def openapi_v3(gv_path: str) -> Response:
    for gv, rtypes in group_versions().items():
        if _v3_path(gv) != gv_path:
            continue
        paths: dict[str, Any] = {}
        schemas: dict[str, Any] = {}
        for rtype in rtypes:
            base = f"/{gv_path}/namespaces/{{namespace}}/{rtype.plural}" if rtype.namespaced else \
                f"/{gv_path}/{rtype.plural}"
            gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
            paths[f"{base}/{{name}}"] = {"patch": {
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}},
            }}
            published = _published_schema(rtype)
            if published is not None:
                schemas[_schema_name(rtype)] = {**published, "x-kubernetes-group-version-kind": [gvk]}
        document: dict[str, Any] = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
                                    "paths": paths}
        if schemas:
            document["components"] = {"schemas": schemas}
        return _json(document)
    raise errors.StatusError(404, "the server could not find the requested resource", "NotFound")


# The descriptions upstream gives the fields every object has (from ObjectMeta's and TypeMeta's SwaggerDoc).
API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources")
KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this from "
    "the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")
METADATA_DOC = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")


# Health: /livez says the process serves; /readyz and /healthz also need etcd to answer.


@blueprint.route("/livez")
def livez() -> Response:
    return Response("ok", mimetype="text/plain")


@blueprint.route("/healthz")
@blueprint.route("/readyz")
def readyz() -> Response:
    store = current_app.extensions["kubeling.store"]
    try:
        store.etcd.revision()
    except Exception as exc:
        return Response(f"[-]etcd failed: {exc}\nreadyz check failed", status=500, mimetype="text/plain")
    return Response("ok", mimetype="text/plain")
