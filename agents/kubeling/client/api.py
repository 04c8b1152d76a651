"""The API client: one kept-alive `requests.Session` per thread, typed errors, retries on connection errors.

The session is `kubeling.fastpath.transport.Session`: a `requests.Session` with a faster transport mounted, used
here exactly as requests' own (fastpath/README.md says what it changes; a reader may skip it).
"""

from __future__ import annotations

import builtins
import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests

from kubeling import __version__
from kubeling.api.resources import ResourceType
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.config import ClientConfig
from kubeling.fastpath import transport

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# A watch stream silent for this long is taken for dead and broken off (the caller watches again). The API server
# sends a BOOKMARK every 10 s to a watcher that allows them (apiserver/watch.py), so a live stream is never this
# quiet. A dead one is what a moved virtual address leaves behind: our end of the connection to the master that
# held the address stays open, and nothing will ever arrive on it or close it. client-go finds such connections
# with HTTP/2 pings: 30 s without a frame, then 15 s for the answer (k8s.io/apimachinery/pkg/util/net/http.go).
WATCH_IDLE_TIMEOUT = 45.0


def resource_path(rtype: ResourceType, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    base = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else "/api/v1"
    parts = [base]
    if rtype.namespaced and namespace:
        parts.append(f"/namespaces/{namespace}")
    parts.append(f"/{rtype.plural}")
    if name:
        parts.append(f"/{name}")
    if subresource:
        parts.append(f"/{subresource}")
    return "".join(parts)


class Client:
    """Verbs on resources, given as `ResourceType`s from `kubeling.api.resources`."""

    def __init__(self, config: ClientConfig, user_agent: str = "kubeling", retries: int = 5,
                 timeout: float = 30.0) -> None:
        self.config = config
        self.user_agent = f"{user_agent}/{__version__}"
        self.retries = retries
        self.timeout = timeout
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = transport.Session()
            # The proxy settings are read once here: with trust_env on, requests re-reads the environment (and
            # ~/.netrc) on every request, and the scheduler's hot path makes two requests a pod.
            session.proxies = requests.utils.get_environ_proxies(self.config.server)
            session.trust_env = False
            session.headers["User-Agent"] = self.user_agent
            session.headers["Accept"] = "application/json"
            if self.config.token:
                session.headers["Authorization"] = f"Bearer {self.config.token}"
            if self.config.client_cert:
                session.cert = (self.config.client_cert, self.config.client_key)  # type: ignore[assignment]
            session.verify = self.config.verify
            self._local.session = session
        return session

    # Transport

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        stream: bool = False,
        timeout: float | None = None,
    ) -> requests.Response:
        """Send one request; connection errors and 5xx/429 are retried with jittered exponential backoff.

        `timeout`: seconds to wait for the answer (the client's default when None); for a `stream`, the longest
        silence between two reads of it (None: no limit)."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Content-Type": content_type} if data is not None else None
        delay = 0.1
        for attempt in range(self.retries + 1):
            session = self.session
            try:
                response = session.request(
                    method, self.config.server + path, params=params, data=data, headers=headers, stream=stream,
                    allow_redirects=False, timeout=(5, timeout) if stream else (timeout or self.timeout),
                )
            except requests.ConnectionError as exc:
                if attempt == self.retries:
                    raise errors.Unavailable(0, "ConnectionError", str(exc)) from exc
            else:
                if response.status_code < 400:
                    return response
                retryable = response.status_code in (429, 500, 502, 503, 504)
                if not retryable or attempt == self.retries:
                    raise errors.from_response(response)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, **kwargs: Any) -> Obj:
        return self.request(method, path, **kwargs).json()

    # Verbs

    def get(self, rtype: ResourceType, name: str, namespace: str | None = None, subresource: str | None = None) -> Obj:
        return self._json("GET", resource_path(rtype, namespace, name, subresource))

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
    ) -> Obj:
        params = {"labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit,
                  "continue": continue_token, "resourceVersion": resource_version}
        return self._json("GET", resource_path(rtype, namespace),
                          params={k: v for k, v in params.items() if v not in (None, "")})

    def list_all(self, rtype: ResourceType, namespace: str | None = None, page: int = 500, **kwargs: Any) -> Obj:
        """A whole list, fetched in pages; the result's resourceVersion is the first page's (a consistent list)."""
        result = self.list(rtype, namespace, limit=page, **kwargs)
        items = list(result.get("items") or [])
        token = result.get("metadata", {}).get("continue")
        while token:
            more = self.list(rtype, namespace, limit=page, continue_token=token, **kwargs)
            items += more.get("items") or []
            token = more.get("metadata", {}).get("continue")
        result["items"] = items
        return result

    def watch(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
        bookmarks: bool = True,
    ) -> Iterator[tuple[str, Obj]]:
        """Yield (type, object) until the server closes the stream. ERROR events raise their ApiError; a stream
        with bookmarks that stays silent for WATCH_IDLE_TIMEOUT seconds raises requests' ConnectionError."""
        params: dict[str, Any] = {"watch": "true", "timeoutSeconds": timeout_seconds,
                                  "allowWatchBookmarks": "true" if bookmarks else "false"}
        for key, value in (("resourceVersion", resource_version), ("labelSelector", label_selector),
                           ("fieldSelector", field_selector)):
            if value:
                params[key] = value
        response = self.request("GET", resource_path(rtype, namespace), params=params, stream=True,
                                timeout=WATCH_IDLE_TIMEOUT if bookmarks else None)
        with response:
            pending = b""
            for chunk in response.iter_content(chunk_size=None):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        raise errors.from_status(event.get("object") or {})
                    yield event["type"], event["object"]

    def create(self, rtype: ResourceType, obj: Obj, namespace: str | None = None) -> Obj:
        ns = namespace or obj.get("metadata", {}).get("namespace")
        return self._json("POST", resource_path(rtype, ns), body=obj)

    def replace(self, rtype: ResourceType, obj: Obj, subresource: str | None = None) -> Obj:
        meta = obj["metadata"]
        return self._json("PUT", resource_path(rtype, meta.get("namespace"), meta["name"], subresource), body=obj)

    def replace_status(self, rtype: ResourceType, obj: Obj) -> Obj:
        return self.replace(rtype, obj, "status")

    def patch(
        self,
        rtype: ResourceType,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = MERGE_PATCH,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> Obj:
        params = {"fieldManager": field_manager} if field_manager else None
        return self._json("PATCH", resource_path(rtype, namespace, name, subresource), body=patch,
                          content_type=patch_type, params=params)

    def delete(
        self,
        rtype: ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str | None = None,
        grace_period: int | None = None,
        preconditions: dict[str, str] | None = None,
    ) -> Obj:
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            options["propagationPolicy"] = propagation
        if grace_period is not None:
            options["gracePeriodSeconds"] = grace_period
        if preconditions:
            options["preconditions"] = preconditions
        return self._json("DELETE", resource_path(rtype, namespace, name), body=options)

    def bind(self, namespace: str, pod: str, node: str, uid: str | None = None,
             annotations: dict[str, str] | None = None) -> None:
        """POST the pod's Binding to `node`; the server copies the Binding's `annotations` onto the pod."""
        from kubeling.api.resources import must_lookup

        binding: Obj = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod, "namespace": namespace},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        if uid:
            binding["metadata"]["uid"] = uid
        if annotations:
            binding["metadata"]["annotations"] = annotations
        self.request("POST", resource_path(must_lookup("", "pods"), namespace, pod, "binding"), body=binding)

    def create_token(self, namespace: str, service_account: str, *, audiences: builtins.list[str] | None = None,
                     expiration_seconds: int = 3600, pod: Obj | None = None) -> Obj:
        """A TokenRequest for a service account; `pod` binds the token to it (it dies with the pod).

        The token is in `status.token`, its expiry in `status.expirationTimestamp`.
        """
        from kubeling.api.resources import must_lookup

        spec: Obj = {"expirationSeconds": expiration_seconds}
        if audiences:
            spec["audiences"] = audiences
        if pod is not None:
            spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1", "name": pod["metadata"]["name"],
                                      "uid": pod["metadata"].get("uid", "")}
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        path = resource_path(must_lookup("", "serviceaccounts"), namespace, service_account, "token")
        return self._json("POST", path, body=body)
