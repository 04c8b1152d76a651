"""`services/proxy` and `pods/proxy`: the API server forwards an HTTP request to a Service's endpoint or a pod.

`GET /api/v1/namespaces/kube-system/services/https:kubeling-dashboard:https/proxy/index.html` reaches
`https://<a ready endpoint of kubeling-dashboard, port "https">/index.html`. This is how `kubectl proxy` users reach
add-ons such as the dashboard: the request is authenticated and authorized like any other (as `get`, `create`, …
on `services/proxy`, by its HTTP method: api/rbac.py), then forwarded without the caller's credential, and the
answer is streamed back as it arrives.

The name in the path is `name`, `name:port` or `scheme:name:port`; the port is the Service port's name, or its
number (which picks the port of that number). As upstream, an https backend's certificate is not verified: the
address comes from an Endpoints object, not from a name a certificate could be checked against.

Which addresses may be proxied to: as upstream, an Endpoints address must say what it belongs to (`targetRef`), and
that must be true: a Pod of the namespace whose IPs include it. kubeling's add-ons (the dashboard) run as host
processes, not pods, so a `targetRef` of kind Node is also accepted when the address is one of that Node's
addresses. Anything else is refused, so that whoever may write Endpoints cannot make the API server call arbitrary
addresses (its own loopback, a cloud metadata service) for them.

Upstream: `pkg/registry/core/service/storage/storage.go` (ResourceLocation, isValidAddress),
`pkg/registry/core/pod/strategy.go` (ResourceLocation), `pkg/registry/core/service/proxy.go` (ProxyREST) and
`staging/src/k8s.io/apimachinery/pkg/util/proxy/upgradeaware.go` (the redirect of `…/proxy` to `…/proxy/`).
Not here: upgrades (WebSocket) through the proxy, and `nodes/proxy`.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
from flask import Response, current_app, redirect, request

from kubeling.api import errors
from kubeling.api.resources import lookup
from kubeling.apiserver.listeners import STREAM
from kubeling.apiserver.registry import Registry

# Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and the caller's credential,
# which the API server consumed (upstream's authentication filter deletes it before any handler runs).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length"})
DROPPED = HOP_BY_HOP | {"authorization"}
CONNECT_TIMEOUT = 5.0
MAX_BODY_BYTES = 3 * 1024 * 1024  # a request body forwarded, at most (the API's own limit)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_SESSION_KEY = "kubeling.proxy_session"
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # unverified on purpose, see the docstring


def split_scheme_name_port(name: str) -> tuple[str, str, str]:
    """`name`, `name:port` or `scheme:name:port` → (scheme, name, port), as upstream's SplitSchemeNamePort."""
    parts = name.split(":")
    if len(parts) == 1:
        scheme, service, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, service, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, service, port = parts
    else:
        raise errors.bad_request(f'invalid service request "{name}"')
    if not service or scheme not in ("", "http", "https"):
        raise errors.bad_request(f'invalid service request "{name}"')
    return scheme or "http", service, port


def service_location(registry: Registry, namespace: str, name: str) -> str:
    """`scheme://ip:port` of a ready endpoint of the Service `name` (upstream's ResourceLocation)."""
    scheme, service_name, port = split_scheme_name_port(name)
    if port.isdigit():
        service = registry.get(lookup("", "services"), namespace, service_name)
        named = [p.get("name", "") for p in service.get("spec", {}).get("ports") or [] if p.get("port") == int(port)]
        if not named:
            raise errors.StatusError(503, f'no service port {port} found for service "{service_name}"',
                                     "ServiceUnavailable")
        port = named[0]
    endpoints = registry.get(lookup("", "endpoints"), namespace, service_name)
    subsets = list(endpoints.get("subsets") or [])
    random.shuffle(subsets)  # as upstream, start from a random subset and a random address: a little spreading
    for subset in subsets:
        numbers = [p.get("port") for p in subset.get("ports") or [] if p.get("name", "") == port]
        addresses = list(subset.get("addresses") or [])  # ready addresses only: notReadyAddresses are elsewhere
        random.shuffle(addresses)
        for address in addresses if numbers else []:
            if proxyable_address(registry, namespace, address):
                return f"{scheme}://{_host(address['ip'])}:{numbers[0]}"
    raise errors.StatusError(503, f'no endpoints available for service "{name}"', "ServiceUnavailable")


def proxyable_address(registry: Registry, namespace: str, address: dict[str, Any]) -> bool:
    """Whether an endpoint address is what its targetRef says (see the module docstring)."""
    ref, ip = address.get("targetRef") or {}, address.get("ip")
    if not ref or not ip:
        return False
    if ref.get("kind") == "Pod":
        if ref.get("namespace", namespace) != namespace:
            return False
        pod = registry.store.try_get(lookup("", "pods"), namespace, ref.get("name", ""))
        return bool(pod) and ip in pod_ips(pod)
    if ref.get("kind") == "Node":
        node = registry.store.try_get(lookup("", "nodes"), None, ref.get("name", ""))
        return bool(node) and ip in [a.get("address") for a in node.get("status", {}).get("addresses") or []]
    return False


def pod_ips(pod: dict[str, Any]) -> list[str]:
    status = pod.get("status", {})
    ips = [entry.get("ip") for entry in status.get("podIPs") or []]
    return ips or ([status["podIP"]] if status.get("podIP") else [])


def pod_location(registry: Registry, namespace: str, name: str) -> str:
    """`scheme://podIP[:port]` (upstream's pod ResourceLocation): the port defaults to the first declared one."""
    scheme, pod_name, port = split_scheme_name_port(name)
    pod = registry.get(lookup("", "pods"), namespace, pod_name)
    if not port:
        declared = [p for c in pod.get("spec", {}).get("containers") or [] for p in c.get("ports") or []]
        port = str(declared[0]["containerPort"]) if declared else ""
    ips = pod_ips(pod)
    if not ips:
        raise errors.bad_request(f"address not allowed: pod {pod_name} has no IP yet")
    ip = ips[0]
    if not proxyable_ip(ip):
        raise errors.bad_request(f"address not allowed: {ip}")
    return f"{scheme}://{_host(ip)}" + (f":{port}" if port else "")


def proxyable_ip(ip: str) -> bool:
    """Upstream's IsProxyableIP: not loopback, link-local or interface-local multicast."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_link_local or
                (address.is_multicast and isinstance(address, ipaddress.IPv6Address) and address.packed[1] & 0xF == 1))


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def forward(registry: Registry, resource: str, namespace: str, name: str, rest: str | None) -> Response:
    """The request's answer from the Service's endpoint or the pod (`rest` is the path after `/proxy`)."""
    if rest is None:
        # `…/proxy` without the slash: relative links in the backend's pages would resolve one level too high.
        if request.method == "GET":
            query = request.query_string.decode("latin-1")
            return redirect(request.path + "/" + (f"?{query}" if query else ""), 301)
        rest = ""
    if resource == "services":
        base = service_location(registry, namespace, name)
    else:
        base = pod_location(registry, namespace, name)
    query = request.query_string.decode("latin-1")
    url = f"{base}/{rest}" + (f"?{query}" if query else "")
    headers = {key: value for key, value in request.headers.items() if key.lower() not in DROPPED}
    body = None
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise errors.StatusError(413, f"Request entity too large: limit is {MAX_BODY_BYTES}",
                                     "RequestEntityTooLarge")
        body = request.stream.read(MAX_BODY_BYTES)
    try:
        upstream = _session().request(request.method, url, headers=headers, data=body, stream=True,
                                      allow_redirects=False, timeout=(CONNECT_TIMEOUT, None))
    except requests.RequestException as exc:
        raise errors.StatusError(503, f"error trying to reach service: {exc}", "ServiceUnavailable") from exc
    reply_headers = [(key, value) for key, value in upstream.headers.items() if key.lower() not in HOP_BY_HOP]
    request.environ[STREAM] = True  # send the head at once: the backend may stream (a log, an event source)
    return Response(_relay(upstream), status=upstream.status_code, headers=reply_headers, direct_passthrough=True)


def _session() -> requests.Session:
    session = current_app.extensions.get(_SESSION_KEY)
    if session is None:
        session = current_app.extensions[_SESSION_KEY] = requests.Session()
        session.trust_env = False  # no HTTP proxy from the environment between the API server and its backends
        session.verify = False  # as upstream's proxy transport (InsecureSkipVerify): see the module docstring
    return session


def _relay(upstream: requests.Response) -> Iterator[bytes]:
    try:
        # raw, not iter_content: the body goes on as the backend encoded it (Content-Encoding is passed on too).
        yield from upstream.raw.stream(64 * 1024, decode_content=False)
    finally:
        upstream.close()
