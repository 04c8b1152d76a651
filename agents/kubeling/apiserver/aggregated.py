"""Aggregated discovery (`apidiscovery.k8s.io/v2`): the whole API in two documents, `/api` and `/apis`, served when
the client's Accept header asks for them first (kubectl ≥ 1.30 and client-go do; 1.27 to 1.29 ask for `v2beta1`, whose
shape is the same). Older clients get the legacy documents, one request per group version.

The documents are built from the legacy resource lists (discovery.py's `resource_list`), so both forms always list
the same resources. Each carries an ETag; a client that sends it back in If-None-Match gets 304 Not Modified.

Upstream: staging/src/k8s.io/apiserver/pkg/endpoints/discovery/aggregated/handler.go and the types of
staging/src/k8s.io/api/apidiscovery/v2/types.go.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import Response, request

from kubeling.api.resources import group_versions, version_priority

GROUP = "apidiscovery.k8s.io"
VERSIONS = ("v2", "v2beta1")


def wanted_version(accept: str) -> str | None:
    """The aggregated version the client asks for before any legacy JSON, or None (serve the legacy document).
    Accept entries are tried in order; protobuf ones are skipped, since JSON is what we serve."""
    for entry in accept.split(","):
        media, *params = [part.strip() for part in entry.split(";")]
        options = dict(p.split("=", 1) for p in params if "=" in p)
        if media not in ("application/json", "*/*"):
            continue
        if options.get("g") == GROUP and options.get("as") == "APIGroupDiscoveryList":
            if options.get("v") in VERSIONS:
                return options["v"]
            continue
        if "g" not in options:
            return None  # plain JSON comes first: the legacy document
    return None


def _resource(entry: dict[str, Any], group: str, version: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": entry["name"],
        "responseKind": {"group": group, "version": version, "kind": entry["kind"]},
        "scope": "Namespaced" if entry["namespaced"] else "Cluster",
        "singularResource": entry["singularName"],
        "verbs": entry["verbs"],
    }
    for field in ("shortNames", "categories"):
        if entry.get(field):
            out[field] = entry[field]
    return out


def _subresource(entry: dict[str, Any], group: str, version: str) -> dict[str, Any]:
    kind = {"group": entry.get("group", group), "version": entry.get("version", version), "kind": entry["kind"]}
    return {"subresource": entry["name"].split("/", 1)[1], "responseKind": kind, "verbs": entry["verbs"]}


def version_entry(group_version: str, resource_list: dict[str, Any]) -> dict[str, Any]:
    """One APIVersionDiscovery from a legacy APIResourceList."""
    group, _, version = group_version.rpartition("/")
    resources: list[dict[str, Any]] = []
    by_name: dict[str, dict[str, Any]] = {}
    for entry in resource_list["resources"]:
        if "/" in entry["name"]:
            parent = by_name[entry["name"].split("/", 1)[0]]
            parent.setdefault("subresources", []).append(_subresource(entry, group, version))
        else:
            by_name[entry["name"]] = _resource(entry, group, version)
            resources.append(by_name[entry["name"]])
    return {"version": version, "resources": resources, "freshness": "Current"}


def document(core: bool, listing: Callable[[str, list[Any]], dict[str, Any]], version: str) -> dict[str, Any]:
    """The APIGroupDiscoveryList of `/api` (core) or `/apis` (every named group)."""
    items: dict[str, dict[str, Any]] = {}
    for group_version, rtypes in group_versions().items():
        group = group_version.rpartition("/")[0]
        if bool(group) == core:
            continue
        item = items.setdefault(group, {"metadata": {"name": group, "creationTimestamp": None} if group else
                                        {"creationTimestamp": None}, "versions": []})
        item["versions"].append(version_entry(group_version, listing(group_version, rtypes)))
    for item in items.values():  # the preferred version first, as in the legacy APIGroup
        item["versions"].sort(key=lambda entry: version_priority(entry["version"]))
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"{GROUP}/{version}", "metadata": {},
            "items": list(items.values())}


def respond(core: bool, listing: Callable[[str, list[Any]], dict[str, Any]], version: str) -> Response:
    body = json.dumps(document(core, listing, version), separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32].upper() + '"'
    content_type = f"application/json;g={GROUP};v={version};as=APIGroupDiscoveryList"
    if request.headers.get("If-None-Match") == etag:
        response = Response(status=304)
    else:
        response = Response(body, mimetype=None, content_type=content_type)
    response.headers["ETag"] = etag
    response.headers["Vary"] = "Accept"
    return response
