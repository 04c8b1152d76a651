"""`kubeling dashboard`: serve the live view's static files, and print the objects that make it reachable.

The page is reached through the API server's service proxy (apiserver/proxy.py), as upstream add-ons are. This
daemon runs on the masters (roles/dashboard), not in a pod, so the objects that publish it are written by the role:
`kubeling dashboard --print-manifest --advertise NODE=ADDRESS …` prints them (manifest.py), and the role pipes
them to `kubectl apply`.
"""

from __future__ import annotations

import argparse
import logging
import mimetypes
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from kubeling import component
from kubeling.dashboard import manifest

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
DEFAULT_PORT = 9090  # upstream's dashboard served plain HTTP on 9090


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default="127.0.0.1",
                        help="address to serve the page on (the node's, so that every API server reaches it)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to serve the page on")
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
    server = make_server(args.address, args.port)
    stop = component.wait_for_signal()
    component.when_stopped(stop, server.shutdown)
    log.info("serving the live view on http://%s:%d/", args.address, server.server_address[1])
    server.serve_forever()
    server.server_close()
    return 0


def make_server(address: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server for the files in static/ (and /healthz), nothing else."""
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

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    return server
