"""`kubeling apiserver`: flags, and the gunicorn server that runs the Flask app."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from kubeling.storage.etcd import EtcdClient
from kubeling.storage.store import Store

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--etcd-servers", required=True,
                        help="comma-separated etcd client URLs, e.g. http://127.0.0.1:2379")
    parser.add_argument("--etcd-prefix", default="/registry", help="key prefix for every object in etcd")
    parser.add_argument("--bind-address", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080,
                        help="plain-HTTP port; allowed only on a loopback bind address")
    parser.add_argument("--advertise-address", default="",
                        help="address published in the kubernetes Endpoints (default: the bind address)")
    parser.add_argument("--service-cluster-ip-range", default="10.96.0.0/12",
                        help="CIDR from which Service cluster IPs are allocated")
    parser.add_argument("--service-node-port-range", default="30000-32767",
                        help="port range from which NodePorts are allocated")
    parser.add_argument("--max-requests-inflight", type=int, default=256,
                        help="worker threads: each request, and each open watch, holds one")
    parser.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                        help="tolerationSeconds added to pods for the not-ready:NoExecute taint")
    parser.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                        help="tolerationSeconds added to pods for the unreachable:NoExecute taint")
    parser.add_argument("--v", "-v", type=int, default=0, help="log verbosity")


class _Gunicorn(BaseApplication):
    """gunicorn embedded: one process (the watch fan-out lives in memory), a thread per request or watch."""

    def __init__(self, app_factory: Any, options: dict[str, Any]) -> None:
        self.app_factory = app_factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.app_factory()


def validate(args: argparse.Namespace) -> str | None:
    try:
        address = ipaddress.ip_address(args.bind_address)
    except ValueError:
        return f"--bind-address {args.bind_address!r} is not an IP address"
    if not address.is_loopback:
        return (f"--bind-address {args.bind_address} is not a loopback address; plain HTTP (--port) is only "
                "allowed on loopback (127.0.0.1 or ::1)")
    try:
        ipaddress.ip_network(args.service_cluster_ip_range, strict=False)
    except ValueError:
        return f"--service-cluster-ip-range {args.service_cluster_ip_range!r} is not a CIDR"
    low, _, high = args.service_node_port_range.partition("-")
    if not (low.isdigit() and high.isdigit() and 0 < int(low) <= int(high) <= 65535):
        return f"--service-node-port-range {args.service_node_port_range!r} must look like 30000-32767"
    return None


def run(args: argparse.Namespace) -> int:
    problem = validate(args)
    if problem:
        print(f"kubeling apiserver: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = {
        "SERVICE_CLUSTER_IP_RANGE": args.service_cluster_ip_range,
        "SERVICE_NODE_PORT_RANGE": args.service_node_port_range,
        "ADVERTISE_ADDRESS": args.advertise_address or args.bind_address,
        "ADVERTISE_PORT": args.port,
        "DEFAULT_NOT_READY_TOLERATION_SECONDS": args.default_not_ready_toleration_seconds,
        "DEFAULT_UNREACHABLE_TOLERATION_SECONDS": args.default_unreachable_toleration_seconds,
    }

    def factory() -> Any:
        from kubeling.apiserver.app import create_app

        store = Store(EtcdClient(args.etcd_servers.split(",")), args.etcd_prefix)
        return create_app(store, config)

    host = f"[{args.bind_address}]" if ":" in args.bind_address else args.bind_address
    options = {
        "bind": f"{host}:{args.port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": args.max_requests_inflight,
        "worker_connections": args.max_requests_inflight * 4,
        "timeout": 60,
        # Open watches never finish by themselves: on SIGTERM, give requests a moment, then stop the worker,
        # or a supervisor that waits ~10s kills the master and leaves the worker behind.
        "graceful_timeout": 5,
        "keepalive": 75,
        "accesslog": "-" if args.v >= 2 else None,
        "errorlog": "-",
        "loglevel": "info",
    }
    _Gunicorn(factory, options).run()
    return 0
