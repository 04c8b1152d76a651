"""`pods/log`: find the pod's node and stream the container log from that node's kubelet."""

from __future__ import annotations

from collections.abc import Iterator

import requests
from flask import Response, current_app, request

from kubeling.api import errors
from kubeling.api.resources import lookup
from kubeling.apiserver.registry import Registry

LOG_PARAMS = ("follow", "tailLines", "previous", "timestamps", "sinceSeconds", "sinceTime", "limitBytes")
DEFAULT_KUBELET_PORT = 10250


def pod_log(registry: Registry, namespace: str, name: str) -> Response:
    pod = registry.get(lookup("", "pods"), namespace, name)
    containers = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
    init_containers = [c["name"] for c in pod.get("spec", {}).get("initContainers") or []]
    container = request.args.get("container") or ""
    if not container:
        if len(containers) != 1:
            raise errors.bad_request(
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
            )
        container = containers[0]
    if container not in containers + init_containers:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    node_name = pod.get("spec", {}).get("nodeName")
    if not node_name:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    node = registry.get(lookup("", "nodes"), None, node_name)
    url = kubelet_url(node) + f"/containerLogs/{namespace}/{name}/{container}"
    params = {key: request.args[key] for key in LOG_PARAMS if key in request.args}
    session: requests.Session = current_app.extensions["kubeling.kubelet_session"]
    try:
        upstream = session.get(url, params=params, stream=True, timeout=(5, None))
    except requests.RequestException as exc:
        raise errors.StatusError(500, f"Get \"{url}\": {exc}", "InternalError") from exc
    if upstream.status_code != 200:
        message = upstream.text.strip() or upstream.reason
        upstream.close()
        raise errors.StatusError(upstream.status_code if upstream.status_code < 500 else 500, message)
    return Response(_relay(upstream), mimetype="text/plain", direct_passthrough=True)


def kubelet_url(node: dict) -> str:
    status = node.get("status", {})
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname") or node["metadata"]["name"]
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
    scheme = current_app.config.get("KUBELET_SCHEME", "http")
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def _relay(upstream: requests.Response) -> Iterator[bytes]:
    try:
        yield from upstream.iter_content(chunk_size=None)
    finally:
        upstream.close()
