"""A requests session and transport adapter that send plain API calls over a `fastpath.httpconn.Connection`.

Stands in for: `requests.Session()` with requests' own HTTPAdapter (urllib3 and `http.client`). `client/api.py`
uses `Session` exactly as it would use `requests.Session`; nothing else changes for the callers.

Why: the components make many small calls (the scheduler two a pod, the controllers several per object), and
most of what requests costs a caller for one of them goes to merging the session's settings into each request,
urllib3's connection pool and the email parser that reads response headers (docs/benchmarks.md). So:

- `KeepAliveAdapter`, mounted with `Session.mount` (the seam requests offers for transports), answers each
  non-streamed request over our own small keep-alive connection. `Session.send` still hands back a
  `requests.Response`, and failures are requests' exceptions, so callers and their retries do not change. Streams
  (watches, logs) and proxied requests go through requests' own HTTPAdapter, which handles them fully.
- `Session.request` builds the PreparedRequest of a plain call (method, URL, query, bytes body, headers) itself,
  as `requests.Session.request` would for a session without cookies, auth or hooks, and hands every other call
  to requests.
"""

from __future__ import annotations

import os
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, select_proxy

from kubeling.fastpath.httpconn import ConnectFailed, Connection

# What we send whatever the session says: our servers speak no compression, and the adapter decodes none.
_SKIPPED = frozenset({"host", "content-length", "accept-encoding", "connection"})


class KeepAliveAdapter(BaseAdapter):
    """Mount on a session for http:// and https://; one keep-alive connection per thread and server."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()
        self._contexts: dict[tuple[Any, Any], ssl.SSLContext] = {}
        self._contexts_lock = threading.Lock()
        self.fallback = HTTPAdapter()

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: float | tuple[float | None, float | None] | None = None, verify: bool | str = True,
             cert: Any = None, proxies: dict[str, str] | None = None) -> requests.Response:
        url = request.url or ""
        body = request.body
        if stream or (proxies and select_proxy(url, proxies)) or not isinstance(body, (bytes, str, type(None))):
            return self.fallback.send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                                      proxies=proxies)
        parts = urllib.parse.urlsplit(url)
        https = parts.scheme == "https"
        host, port = parts.hostname or "localhost", parts.port or (443 if https else 80)
        conn = self._connection(host, port, self._context(verify, cert) if https else None)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        headers = "".join(f"{name}: {value}\r\n" for name, value in request.headers.items()
                          if name.lower() not in _SKIPPED)
        data = body.encode() if isinstance(body, str) else body
        try:
            answer = conn.request(request.method or "GET", target, headers.encode("latin-1"), data,
                                  timeout=read_timeout, connect_timeout=connect_timeout)
        except ConnectFailed as exc:
            conn.close()
            if isinstance(exc.__cause__, TimeoutError):
                raise requests.ConnectTimeout(exc, request=request) from exc
            if isinstance(exc.__cause__, ssl.SSLError):
                raise requests.exceptions.SSLError(exc, request=request) from exc
            raise requests.ConnectionError(exc, request=request) from exc
        except TimeoutError as exc:
            conn.close()
            raise requests.ReadTimeout(exc, request=request) from exc
        except OSError as exc:
            conn.close()
            raise requests.ConnectionError(exc, request=request) from exc
        return _response(request, answer.status, answer.reason, answer.headers, answer.body)

    def close(self) -> None:
        for conn in getattr(self._local, "connections", {}).values():
            conn.close()
        self.fallback.close()

    def _connection(self, host: str, port: int, tls: ssl.SSLContext | None) -> Connection:
        connections: dict[tuple[str, int, int], Connection] = self._local.__dict__.setdefault("connections", {})
        key = (host, port, id(tls))
        conn = connections.get(key)
        if conn is None:
            conn = connections[key] = Connection(host, port, tls)
        return conn

    def _context(self, verify: bool | str, cert: Any) -> ssl.SSLContext:
        """The TLS settings requests would use for `verify` and `cert`, built once per pair."""
        key = (verify, cert if not isinstance(cert, list) else tuple(cert))
        with self._contexts_lock:
            context = self._contexts.get(key)
            if context is None:
                context = self._contexts[key] = _ssl_context(verify, cert)
            return context


class Session(requests.Session):
    """A `requests.Session` with KeepAliveAdapter mounted for http:// and https://. Keep one per thread."""

    def __init__(self) -> None:
        super().__init__()
        adapter = KeepAliveAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, params: Any = None, data: Any = None,  # type: ignore[override]
                headers: Mapping[str, str | None] | None = None, *, timeout: Any = None, allow_redirects: bool = True,
                stream: bool | None = None, **others: Any) -> requests.Response:
        """What `requests.Session.request` does; a plain call's PreparedRequest is built here, without the merges."""
        plain = (type(method) is str and type(url) is str and (data is None or type(data) is bytes)
                 and (params is None or type(params) is dict) and not self.trust_env and self.auth is None
                 and (not others or all(value is None for value in others.values())) and not any(self.hooks.values())
                 and not self.cookies)
        if not plain:
            return super().request(method, url, params=params, data=data, headers=headers,  # type: ignore[arg-type]
                                   timeout=timeout, allow_redirects=allow_redirects, stream=stream, **others)
        assert isinstance(method, str) and isinstance(url, str)
        prepared = requests.PreparedRequest()
        prepared.method = method.upper()
        query = {key: value for key, value in (params or {}).items() if value is not None}  # requests drops None
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query, doseq=True)
        prepared.url = url
        prepared.headers = self.headers.copy()
        for name, value in (headers or {}).items():
            if value is None:
                prepared.headers.pop(name, None)  # as requests' merge_setting does
            else:
                prepared.headers[name] = value
        if data:
            prepared.headers["Content-Length"] = str(len(data))
        elif prepared.method not in ("GET", "HEAD") and "Content-Length" not in prepared.headers:
            prepared.headers["Content-Length"] = "0"
        prepared.body = data
        return self.send(prepared, timeout=timeout, allow_redirects=allow_redirects,
                         stream=self.stream if stream is None else stream)


def _ssl_context(verify: bool | str, cert: Any) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str):
        context = (ssl.create_default_context(capath=verify) if os.path.isdir(verify)
                   else ssl.create_default_context(cafile=verify))
    else:
        context = ssl.create_default_context(cafile=requests.certs.where())
    if isinstance(cert, str):
        context.load_cert_chain(cert)
    elif cert:
        context.load_cert_chain(cert[0], cert[1])
    return context


def _response(request: requests.PreparedRequest, status: int, reason: str, headers: list[tuple[str, str]],
              body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = reason
    merged: dict[str, str] = {}
    for name, value in headers:
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    response.headers = CaseInsensitiveDict(merged)
    response.encoding = get_encoding_from_headers(response.headers)
    response._content = body
    response._content_consumed = True
    response.url = request.url or ""
    response.request = request
    return response
