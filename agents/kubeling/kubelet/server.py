"""The kubelet's HTTP API (port 10250): /healthz, /pods, /containerLogs (which the API server's `pods/log` proxies
to), and the streaming endpoints /exec, /attach and /portForward (`pods/exec`, `pods/attach`, `pods/portforward`;
served by `kubelet/streaming/`).

With `--tls-cert-file` the API is served over TLS, and with `--client-ca-file` every caller must present a client
certificate signed by that CA (the API server's `--kubelet-client-certificate`): a caller without one fails the TLS
handshake, so no request of theirs is ever read. Plain HTTP is only served when no TLS flags are given. Upstream
also serves a plain `/healthz` on loopback (`--healthz-port`, 10248), for local health checks without a
certificate: `HealthzServer`.
"""

from __future__ import annotations

import datetime
import json
import logging
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from kubeling.kubelet.streaming import server as streaming

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
HEALTHZ_RETRY = 5.0  # as upstream, a healthz port that cannot be bound is retried, never fatal
STREAM_ROUTES = {"exec": "exec", "attach": "attach", "portForward": "portforward"}  # path prefix → session kind


def serving_context(cert_file: str, key_file: str, client_ca_file: str | None = None) -> ssl.SSLContext:
    """The TLS context of the kubelet API: our serving certificate, and client certificates required when a CA
    is given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(cafile=client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class _HTTPServer(ThreadingHTTPServer):
    """Accepts in one thread and shakes hands in the connection's own thread, so a slow or hostile client never
    holds up the accept loop."""

    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLError):
            log.info("kubelet API: TLS handshake error from %s: %s", client_address[0], error)
        elif isinstance(error, OSError):  # includes timeouts: a client that went away
            log.debug("kubelet API: connection from %s: %s", client_address[0], error)
        else:
            log.exception("kubelet API: request from %s failed", client_address[0])


class LogError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or ["false"])[0].lower() in ("true", "1")


def _int(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    value = values[0] if values else None
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise LogError(400, f"invalid {name}: {value!r}") from exc


class KubeletServer:
    def __init__(self, address: str, port: int, source: Any, tls: ssl.SSLContext | None = None,
                 health_only: bool = False) -> None:
        """`source` answers `healthy()`, `pod_list()` and `container_logs(...)` (an iterator of bytes); `tls` serves
        HTTPS; `health_only` serves /healthz alone (the loopback healthz port)."""
        outer = self
        self.source = source
        self.health_only = health_only

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.settimeout(HANDSHAKE_TIMEOUT)
                    self.request.do_handshake()  # refuses a caller without a certificate from the client CA
                    self.request.settimeout(None)
                super().setup()

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:  # SPDY upgrades are POSTs; WebSocket ones are GETs
                self._handle()

            def _handle(self) -> None:
                try:
                    outer._route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                except LogError as exc:
                    self._reply(exc.code, str(exc).encode() + b"\n", "text/plain")
                except Exception as exc:
                    log.exception("kubelet API %s", self.path)
                    self._reply(500, f"{exc}\n".encode(), "text/plain")

            def _reply(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _HTTPServer((address, port), Handler)
        self.server.tls = tls
        self.port = self.server.server_address[1]

    def start(self) -> KubeletServer:
        threading.Thread(target=self.server.serve_forever, name="kubelet-api", daemon=True).start()
        return self

    def _route(self, handler: Any) -> None:
        url = urlsplit(handler.path)
        query = parse_qs(url.query)
        path = url.path.rstrip("/")
        if path in ("/healthz", "/livez", "/readyz"):
            ok = self.source.healthy()
            handler._reply(200 if ok else 500, b"ok" if ok else b"unhealthy", "text/plain")
        elif self.health_only:
            handler._reply(404, b"404 page not found\n", "text/plain")
        elif path == "/pods":
            body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": self.source.pod_list()}
            handler._reply(200, json.dumps(body).encode(), "application/json")
        elif (route := path.split("/")[1:2]) and route[0] in STREAM_ROUTES:
            parts = [unquote(p) for p in path.split("/")[2:]]
            streaming.serve(handler, self.source, STREAM_ROUTES[route[0]], parts, query)
        elif path.startswith("/containerLogs/"):
            parts = [unquote(p) for p in path.split("/")[2:]]
            if len(parts) != 3:
                raise LogError(404, "expected /containerLogs/<namespace>/<pod>/<container>")
            namespace, pod, container = parts
            self._logs(handler, namespace, pod, container, query)
        else:
            handler._reply(404, b"404 page not found\n", "text/plain")

    def _logs(self, handler: Any, namespace: str, pod: str, container: str, query: dict[str, list[str]]) -> None:
        since = None
        since_seconds = _int(query, "sinceSeconds")
        if since_seconds is not None:
            since = time.time() - since_seconds
        elif query.get("sinceTime"):
            moment = datetime.datetime.fromisoformat(query["sinceTime"][0].replace("Z", "+00:00"))
            since = moment.timestamp()
        limit = _int(query, "limitBytes")
        stream = self.source.container_logs(
            namespace, pod, container, follow=_flag(query, "follow"), previous=_flag(query, "previous"),
            tail=_int(query, "tailLines"), timestamps=_flag(query, "timestamps"), since=since)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        sent = 0
        try:
            for chunk in stream:
                if not chunk:
                    continue
                if limit is not None:
                    chunk = chunk[: max(limit - sent, 0)]
                if chunk:
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                if limit is not None and sent >= limit:
                    break
            handler.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()


def serve_healthz(address: str, port: int, source: Any, stop: threading.Event) -> None:
    """The plain loopback /healthz: bound in the background and retried while the port is taken (another
    kubelet's, on a test host), as upstream does."""

    def run() -> None:
        while not stop.is_set():
            try:
                server = KubeletServer(address, port, source, health_only=True)
            except OSError as exc:
                log.warning("failed to start the healthz server on %s:%d: %s; retrying", address, port, exc)
                stop.wait(HEALTHZ_RETRY)
                continue
            log.info("healthz on http://%s:%d/healthz", address, server.port)
            server.server.serve_forever()
            return

    threading.Thread(target=run, name="healthz", daemon=True).start()
