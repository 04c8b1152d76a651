"""`kubeling proxy`: makes Services reachable on this node, with iptables rules or a userspace forwarder."""

from __future__ import annotations

import argparse
import logging
import shutil
import socket
import time

from kubeling import component
from kubeling.api.resources import must_lookup
from kubeling.client.informer import Informer, wait_for_cache_sync
from kubeling.proxy.iptables import IptablesProxier, Runner, set_route_localnet
from kubeling.proxy.userspace import UserspaceProxier

log = logging.getLogger(__name__)

SERVICES = must_lookup("", "services")
ENDPOINT_SLICES = must_lookup("discovery.k8s.io", "endpointslices")  # as upstream's kube-proxy reads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    component.add_client_arguments(parser)
    parser.add_argument("--proxy-mode", choices=("iptables", "userspace"), default="iptables",
                        help="iptables: NAT rules (default); userspace: a forwarder in this process, for hosts "
                             "without iptables")
    parser.add_argument("--cluster-cidr", default=None,
                        help="the pods' CIDR; traffic to a ClusterIP from outside it is masqueraded")
    parser.add_argument("--masquerade-all", action="store_true", help="masquerade all traffic to ClusterIPs")
    parser.add_argument("--hostname-override", default=None, help="this node's name (default: the hostname)")
    parser.add_argument("--iptables-min-sync-period", type=component._seconds, default=1.0,
                        help="least time between two syncs of the rules (a burst of changes becomes one sync)")
    parser.add_argument("--iptables-sync-period", type=component._seconds, default=30.0,
                        help="most time between two full syncs (repairs rules changed behind our back)")
    parser.add_argument("--bind-address", default="0.0.0.0", help="userspace mode: address NodePorts listen on")
    parser.add_argument("--healthz-bind-address", default="127.0.0.1", help="address for /healthz and /metrics")
    parser.add_argument("--healthz-port", "--port", dest="port", type=int, default=10256,
                        help="port for /healthz and /metrics (0 disables)")


def run(args: argparse.Namespace) -> int:
    component.setup_logging(args.v)
    node_name = args.hostname_override or socket.gethostname()
    client = component.make_client(args, "kube-proxy")
    if args.proxy_mode == "iptables" and not shutil.which("iptables-restore"):
        log.error("iptables-restore not found: install iptables or use --proxy-mode=userspace")
        return 1
    services = Informer(client, SERVICES).start()
    endpoints = Informer(client, ENDPOINT_SLICES).start()

    if args.proxy_mode == "iptables":
        if not args.cluster_cidr and not args.masquerade_all:
            log.warning("no --cluster-cidr: traffic from outside the pod network to ClusterIPs is not masqueraded")
        set_route_localnet()
        proxier: IptablesProxier | UserspaceProxier = IptablesProxier(
            services.store, endpoints.store, cluster_cidr=args.cluster_cidr, masquerade_all=args.masquerade_all)
    else:
        proxier = UserspaceProxier(services.store, endpoints.store, bind_address=args.bind_address)
    runner = Runner(proxier.sync, args.iptables_min_sync_period, args.iptables_sync_period)
    for informer in (services, endpoints):
        informer.add_handler(lambda _obj: runner.kick(), lambda _old, _new: runner.kick(),
                             lambda _obj: runner.kick())

    def healthy() -> bool:
        # As upstream: unhealthy once the rules are older than two sync periods (the sync loop is stuck).
        return proxier.last_sync == 0 or time.time() - proxier.last_sync < 2 * args.iptables_sync_period + 5

    if args.port:
        component.HealthServer(args.healthz_bind_address, args.port, healthy).start()
    stop = component.wait_for_signal()
    component.when_stopped(stop, runner.stop)

    if not wait_for_cache_sync(services, endpoints, timeout=60):
        log.error("caches did not sync")
        return 1
    log.info("proxy for node %s, mode %s", node_name, args.proxy_mode)
    runner.kick()
    # Rules stay in place on exit: a restarted proxy rewrites them without a gap for traffic in flight.
    runner.run()
    if isinstance(proxier, UserspaceProxier):
        proxier.close()
    return 0
