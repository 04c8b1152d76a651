"""What every long-running component shares: client flags, leader-election flags, /healthz and /metrics."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kubeling.client import Client, load_config
from kubeling.client.leaderelection import LeaderElector

log = logging.getLogger(__name__)


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="path to a kubeconfig file")
    parser.add_argument("--master", default=None, help="API server URL (overrides the kubeconfig's server)")
    parser.add_argument("--v", "-v", type=int, default=0, help="log verbosity")


def add_leader_election_arguments(parser: argparse.ArgumentParser, default: bool = True) -> None:
    group = parser.add_argument_group("leader election")
    group.add_argument("--leader-elect", default=default, type=_bool, nargs="?", const=True,
                       help="run only while holding the leader lease (for several replicas)")
    group.add_argument("--leader-elect-lease-duration", type=_seconds, default=15.0,
                       help="how long a standby waits after the last renewal before taking over")
    group.add_argument("--leader-elect-renew-deadline", type=_seconds, default=10.0,
                       help="how long the leader keeps retrying a renewal before giving up")
    group.add_argument("--leader-elect-retry-period", type=_seconds, default=2.0,
                       help="time between attempts to acquire or renew")
    group.add_argument("--leader-elect-resource-namespace", default="kube-system")
    group.add_argument("--leader-elect-resource-name", default="")


def add_serving_arguments(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--bind-address", default="127.0.0.1", help="address for /healthz and /metrics")
    parser.add_argument("--secure-port", "--port", dest="port", type=int, default=port,
                        help="port for /healthz and /metrics (0 disables)")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _seconds(text: str) -> float:
    """Accept upstream durations (`15s`, `1m`, `500ms`) or plain seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * units[suffix]
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}") from exc


def setup_logging(verbosity: int) -> None:
    logging.basicConfig(level=logging.DEBUG if verbosity >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def make_client(args: argparse.Namespace, user_agent: str) -> Client:
    try:
        config = load_config(args.kubeconfig, args.master)
    except ValueError as exc:
        raise SystemExit(f"{user_agent}: {exc}") from exc
    return Client(config, user_agent=user_agent)


class HealthServer:
    """/healthz (200 while `healthy()` says so) and /metrics (Prometheus text) on a small threaded HTTP server."""

    def __init__(self, address: str, port: int, healthy: Callable[[], bool] = lambda: True) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] in ("/healthz", "/livez", "/readyz"):
                    ok = outer.healthy()
                    self._reply(200 if ok else 500, b"ok" if ok else b"unhealthy", "text/plain")
                elif self.path.split("?")[0] == "/metrics":
                    self._reply(200, generate_latest(), CONTENT_TYPE_LATEST)
                else:
                    self._reply(404, b"not found", "text/plain")

            def _reply(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.healthy = healthy
        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def start(self) -> HealthServer:
        threading.Thread(target=self.server.serve_forever, name="healthz", daemon=True).start()
        return self


def run_with_leader_election(
    args: argparse.Namespace, client: Client, lease_name: str, run: Callable[[], None], stop: threading.Event
) -> None:
    """Start `run()` now, or only while holding the lease when --leader-elect is on; exit if leadership is lost.

    `run` starts its workers and returns; it runs in a thread of its own, so a SIGTERM that arrives while it is
    still waiting for caches to sync is answered at once instead of after the sync.
    """
    run = _exit_on_failure(run)
    if not args.leader_elect:
        threading.Thread(target=run, name="run", daemon=True).start()
        return
    identity = f"{socket.gethostname()}_{os.getpid()}"
    elector = LeaderElector(
        client, args.leader_elect_resource_namespace, args.leader_elect_resource_name or lease_name, identity,
        lease_duration=args.leader_elect_lease_duration, renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period, on_started_leading=run,
        # Upstream exits on lost leadership: whatever was running can no longer be trusted to be alone.
        on_stopped_leading=lambda: os._exit(1),
    )
    when_stopped(stop, elector.stop)
    elector.run()


def _exit_on_failure(run: Callable[[], None]) -> Callable[[], None]:
    """`run` for a thread: a failure to start (SystemExit included, which a thread would swallow) ends the process,
    instead of leaving it up and reporting healthy while doing nothing."""
    def guarded() -> None:
        try:
            run()
        except BaseException as exc:
            log.error("failed to start: %s", exc, exc_info=not isinstance(exc, SystemExit))
            logging.shutdown()
            os._exit(1)
    return guarded


def wait_for_signal() -> threading.Event:
    """An event set on SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def when_stopped(stop: threading.Event, action: Callable[[], object]) -> None:
    """Call `action` once `stop` is set (from a thread of its own), to wind down what cannot wait on `stop` itself:
    a work queue's blocked readers, a leader elector, a socket loop."""
    def wait_then_act() -> None:
        stop.wait()
        action()

    threading.Thread(target=wait_then_act, name="when-stopped", daemon=True).start()
