"""`kubeling dashboard`: serve the live view's static files, and print the objects that make it reachable.

The page is reached through the API server's service proxy (apiserver/proxy.py), as upstream add-ons are. It
serves HTTPS with the node's certificate (nothing but TLS answers off a node's loopback; like upstream's, the
service proxy does not verify a backend's certificate, and forwards no credential). This daemon runs on the
workers (roles/dashboard), not in a pod, so the objects that publish it are written by the role:
`kubeling dashboard --print-manifest --advertise NODE=ADDRESS …` prints them (manifest.py), and the role pipes
them to `kubectl apply`.
"""

from __future__ import annotations

import argparse
import logging
import mimetypes
import socket
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from kubeling import component
from kubeling.dashboard import manifest

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
DEFAULT_PORT = 9090  # the port upstream's dashboard served on before it moved to 8443
HANDSHAKE_SECONDS = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default="127.0.0.1",
                        help="address to serve the page on (the node's, so that every API server reaches it)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to serve the page on")
    parser.add_argument("--tls-cert-file", default="", help="serve HTTPS with this certificate (else plain HTTP)")
    parser.add_argument("--tls-private-key-file", default="", help="the certificate's key")
    parser.add_argument("--print-manifest", action="store_true",
                        help="print the Service, Endpoints, Role and RoleBinding that publish the page, and exit")
    parser.add_argument("--advertise", action="append", default=[], metavar="NODE=ADDRESS",
                        help="with --print-manifest: a node where the dashboard runs, and its address (repeat)")
    parser.add_argument("--v", "-v", type=int, default=0, help="log verbosity")


def run(args: argparse.Namespace) -> int:
    if args.print_manifest:
        nodes = [tuple(item.split("=", 1)) for item in args.advertise]
        if not nodes or any(len(node) != 2 for node in nodes):
            raise SystemExit("kubeling dashboard: --print-manifest needs at least one --advertise NODE=ADDRESS")
        objects = manifest.objects([(node, address) for node, address in nodes], args.port)
        yaml.safe_dump_all(objects, sys.stdout, sort_keys=False)
        return 0
    component.setup_logging(args.v)
    server = make_server(args.address, args.port, args.tls_cert_file, args.tls_private_key_file)
    stop = component.wait_for_signal()
    component.when_stopped(stop, server.shutdown)
    scheme = "https" if args.tls_cert_file else "http"
    log.info("serving the live view on %s://%s:%d/", scheme, args.address, server.server_address[1])
    server.serve_forever()
    server.server_close()
    return 0


class TLSServer(ThreadingHTTPServer):
    """ThreadingHTTPServer over TLS, the handshake in each connection's own thread (a slow client holds no other)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext):
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        request.settimeout(HANDSHAKE_SECONDS)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        tls.settimeout(None)
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


def make_server(address: str, port: int, cert: str = "", key: str = "") -> ThreadingHTTPServer:
    """An HTTP(S) server for the files in static/ (and /healthz), nothing else."""
    files = {path.name: path for path in STATIC.iterdir() if path.is_file()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.split("?", 1)[0].lstrip("/") or "index.html"
            if name in ("healthz", "livez", "readyz"):
                self._reply(200, b"ok", "text/plain")
            elif name in files:  # only the page's own files: no path is ever joined onto the file system
                content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
                self._reply(200, files[name].read_bytes(), content_type + "; charset=utf-8")
            else:
                self._reply(404, b"not found", "text/plain")

        def _reply(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key or None)
        return TLSServer((address, port), Handler, context)
    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    return server
