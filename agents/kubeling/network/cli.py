"""`kubeling network`: keep this node's routes and masquerade rules in line with the cluster's Nodes.

One per node, beside the kubelet (which gives local pods addresses from this node's podCIDR) and the proxy.
"""

from __future__ import annotations

import argparse
import logging
import socket
import threading
import time
from collections.abc import Callable

from kubeling import component
from kubeling.api.resources import must_lookup
from kubeling.client.informer import Informer, wait_for_cache_sync
from kubeling.network import hostgw

log = logging.getLogger(__name__)

NODES = must_lookup("", "nodes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    component.add_client_arguments(parser)
    parser.add_argument("--cluster-cidr", default="10.244.0.0/16", help="the CIDR all pod CIDRs are carved from")
    parser.add_argument("--hostname-override", default=None, help="this node's name (default: the hostname)")
    parser.add_argument("--sync-period", type=component._seconds, default=30.0,
                        help="most time between two full syncs (repairs routes and rules removed behind our back)")
    parser.add_argument("--healthz-bind-address", default="127.0.0.1", help="address for /healthz and /metrics")
    parser.add_argument("--healthz-port", "--port", dest="port", type=int, default=10266,
                        help="port for /healthz and /metrics (0 disables)")


def run(args: argparse.Namespace) -> int:
    component.setup_logging(args.v)
    node_name = args.hostname_override or socket.gethostname()
    client = component.make_client(args, "kubeling-network")
    nodes = Informer(client, NODES).start()
    kicked = threading.Event()
    nodes.add_handler(lambda _n: kicked.set(), lambda _o, _n: kicked.set(), lambda _n: kicked.set())
    last_sync = [0.0]
    if args.port:
        component.HealthServer(args.healthz_bind_address, args.port,
                               lambda: time.time() - last_sync[0] < 2 * args.sync_period + 5 or not last_sync[0]
                               ).start()
    stop = component.wait_for_signal()
    component.when_stopped(stop, kicked.set)
    if not wait_for_cache_sync(nodes, timeout=60):
        log.error("node cache did not sync")
        return 1
    hostgw.enable_forwarding()
    own_cidr: list[str | None] = [None]
    threading.Thread(target=_hairpin_loop, args=(lambda: own_cidr[0], stop), name="hairpin", daemon=True).start()
    log.info("host-gw network for node %s, cluster CIDR %s", node_name, args.cluster_cidr)
    applied = None
    while not stop.is_set():
        kicked.clear()
        own = nodes.store.get(node_name)
        own_cidr[0] = hostgw.pod_cidr(own) if own else None
        wanted = (own_cidr[0], hostgw.desired_routes(nodes.store.list(), node_name))
        # Node heartbeats wake us often; only a change (or the periodic repair) touches the kernel.
        if wanted == applied and time.time() - last_sync[0] < args.sync_period:
            kicked.wait(args.sync_period - (time.time() - last_sync[0]))
            continue
        try:
            hostgw.apply(args.cluster_cidr, *wanted)
            applied, last_sync[0] = wanted, time.time()
        except Exception:
            log.exception("network sync failed; retrying")
            stop.wait(1)
            continue
        kicked.wait(args.sync_period)
        stop.wait(0.2)  # a burst of Node updates (status heartbeats) becomes one sync
    # Routes and rules stay: pods keep talking while the agent restarts.
    return 0


def _hairpin_loop(own_cidr: Callable[[], str | None], stop: threading.Event) -> None:
    """New pods appear on the bridge at any time: look for ports without hairpin mode twice a second (cheap:
    a few sysfs reads; a command runs only for a new port). The bridge itself is looked up every few seconds,
    since the kubelet may (re)create it after we start."""
    bridges: list[str] = []
    looked_up, cidr = 0.0, None
    while not stop.wait(0.5):
        try:
            if own_cidr() != cidr or time.monotonic() - looked_up > 5:
                cidr, looked_up = own_cidr(), time.monotonic()
                bridges = hostgw.pod_bridges(cidr)
            for port in hostgw.enable_hairpin(bridges):
                log.info("hairpin mode on for %s", port)
        except Exception:
            log.exception("hairpin check failed")
