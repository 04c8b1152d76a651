"""The kubelet's HTTP API (port 10250): /healthz, /pods and /containerLogs, which the API server's `pods/log`
proxies to. Plain HTTP for now; TLS and authentication come with the security work.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class LogError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or ["false"])[0].lower() in ("true", "1")


def _int(query: dict[str, list[str]], name: str) -> int | None:
    value = (query.get(name) or [None])[0]
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise LogError(400, f"invalid {name}: {value!r}") from exc


class KubeletServer:
    def __init__(self, address: str, port: int, source: Any) -> None:
        """`source` answers `healthy()`, `pod_list()` and `container_logs(...)` (an iterator of bytes)."""
        outer = self
        self.source = source

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
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

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
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
        elif path == "/pods":
            body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": self.source.pod_list()}
            handler._reply(200, json.dumps(body).encode(), "application/json")
        elif path.startswith("/containerLogs/"):
            parts = [unquote(p) for p in path.split("/")[2:]]
            if len(parts) != 3:
                raise LogError(404, "expected /containerLogs/<namespace>/<pod>/<container>")
            self._logs(handler, *parts, query)
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
