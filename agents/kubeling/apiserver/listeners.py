"""The API server's listeners: cheroot WSGI servers, one for HTTPS and optionally one for loopback plain HTTP.

Each listener is a plain `cheroot.wsgi.Server` running the Flask app with a thread per request or open watch. Its
WSGI gateway adds to every request's environ which listener it came in on, the client's certificate (tls.py) and
a socket a watch can peek at to notice that its client hung up. The one speed tweak, cheroot connection classes
that serve kept-alive clients faster, is plugged in from `kubeling.fastpath` in `make_server` (a reader may skip
it: the server behaves the same without it).

Upstream's counterpart is staging/src/k8s.io/apiserver/pkg/server/secure_serving.go (`SecureServingInfo.Serve`),
with Go's net/http in place of cheroot.
"""

from __future__ import annotations

import logging
from typing import Any

from cheroot import wsgi

from kubeling.apiserver import tls
from kubeling.apiserver.authn import LISTENER, PEER_CERTIFICATE
from kubeling.fastpath.cheroot_server import LingeringConnection

log = logging.getLogger(__name__)

SOCKET = "kubeling.socket"  # what a watch peeks at to notice that its client hung up (handlers.py)
HTTP_REQUEST = "kubeling.http_request"  # cheroot's request, for a handler that takes the connection over (streaming.py)
STREAM = "kubeling.stream"  # set by a handler whose response is a long-lived stream (a watch)


class SecureGateway(wsgi.Gateway_10):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[LISTENER] = "secure"
        environ[SOCKET] = tls.probe_socket(self.req.conn)
        environ[HTTP_REQUEST] = self.req
        peer = tls.peer_certificate(self.req.conn)
        if peer is not None:
            environ[PEER_CERTIFICATE] = peer
        return environ


class InsecureGateway(wsgi.Gateway_10):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[LISTENER] = "insecure"
        environ[SOCKET] = tls.probe_socket(self.req.conn)
        environ[HTTP_REQUEST] = self.req
        return environ


def send_headers_first(app: Any) -> Any:
    """Send a stream's status and headers at once, as upstream does for watches.

    cheroot sends headers with the first non-empty chunk, so a watch on a quiet resource would leave its client
    waiting for the status line until the first event; client-go's Watch() blocks on exactly that.
    """

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        response = app(environ, start_response)
        write = environ.get("kubeling.write")
        if environ.get(STREAM) and write is not None:
            write(b"")  # cheroot: ensure_headers_sent(), then an empty (harmless) write
        return response

    def capture(environ: dict[str, Any], start_response: Any) -> Any:
        def remember(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            environ["kubeling.write"] = start_response(status, headers, exc_info)
            return environ["kubeling.write"]

        return wrapped(environ, remember)

    return capture


def make_server(host: str, port: int, app: Any, threads: int, adapter: tls.TLSAdapter | None = None) -> wsgi.Server:
    """A thread per request or open watch (`threads` of them); watch responses stream as chunked output."""
    server = wsgi.Server((host, port), send_headers_first(app), numthreads=threads, max=threads,
                         request_queue_size=1024, timeout=60, shutdown_timeout=5, server_name="kubeling")
    server.gateway = SecureGateway if adapter is not None else InsecureGateway
    # The fast path (kubeling/fastpath/README.md): cheroot's own HTTPConnection serves the same requests.
    server.ConnectionClass = LingeringConnection
    # cheroot keeps only 10 idle keep-alive connections by default; every component and kubectl holds one.
    server.keep_alive_conn_limit = threads * 4
    server.error_log = _error_log
    if adapter is not None:
        server.ssl_adapter = adapter
    return server


def _error_log(msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
    """cheroot's complaints (a client that dropped its TLS handshake, …) into our log instead of bare stderr."""
    log.log(level if level > logging.INFO else logging.DEBUG, "%s", msg, exc_info=traceback)
