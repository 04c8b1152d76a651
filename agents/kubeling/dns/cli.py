"""`kubeling dns`: the cluster's DNS server (upstream's kube-dns / CoreDNS), answering on port 53 over UDP and TCP.

It watches Services and EndpointSlices through the API server (informers) and answers from those caches, so it keeps
answering while the API server restarts, and a change shows in DNS as soon as the watch event arrives. Names outside
the cluster domain go to the node's own resolvers.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket

from kubeling import component
from kubeling.api.endpointslices import service_key
from kubeling.api.resources import must_lookup
from kubeling.client.informer import Informer, wait_for_cache_sync
from kubeling.dns import forward, records
from kubeling.dns.endpoints import EndpointPublisher
from kubeling.dns.server import Resolver, TCPServer, UDPServer
from kubeling.fastpath.dns_replies import ReplyCache

log = logging.getLogger(__name__)

SERVICES = must_lookup("", "services")
ENDPOINT_SLICES = must_lookup("discovery.k8s.io", "endpointslices")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    component.add_client_arguments(parser)
    component.add_serving_arguments(parser, 9153)  # CoreDNS serves its metrics on 9153
    parser.add_argument("--dns-bind-address", default="0.0.0.0", help="address to answer DNS queries on")
    parser.add_argument("--dns-port", type=int, default=53, help="port to answer DNS queries on (UDP and TCP)")
    parser.add_argument("--cluster-domain", default="cluster.local", help="the zone the cluster's names live in")
    parser.add_argument("--resolv-conf", default="/etc/resolv.conf",
                        help="where the node's resolvers are listed (for names outside the cluster)")
    parser.add_argument("--upstream-nameservers", default="",
                        help="comma-separated ADDRESS[:PORT] to forward outside names to, instead of --resolv-conf's")
    parser.add_argument("--ttl", type=int, default=5, help="TTL of the cluster's records, in seconds")
    parser.add_argument("--advertise-address", default="",
                        help="publish this address as an endpoint of the kube-dns Service while running "
                             "(dns/endpoints.py); empty: publish nothing")
    parser.add_argument("--hostname-override", default="", help="this node's name (default: the hostname)")
    parser.add_argument("--service", default="kube-system/kube-dns",
                        help="NAMESPACE/NAME of the Service whose endpoints the daemons publish")


def run(args: argparse.Namespace) -> int:
    component.setup_logging(args.v)
    client = component.make_client(args, "kubeling-dns")
    services = Informer(client, SERVICES)
    services.store.add_indexer("clusterIP", records.service_ip_index)
    slices = Informer(client, ENDPOINT_SLICES)
    slices.store.add_indexer("service", service_key)
    slices.store.add_indexer("address", records.slice_address_index)
    for informer in (services, slices):
        informer.start()

    upstream = forward.parse_servers(args.upstream_nameservers) if args.upstream_nameservers else \
        forward.nameservers(args.resolv_conf, exclude=_own_addresses(args.dns_bind_address))
    zone = records.Zone(args.cluster_domain, services.store, slices.store, ttl=args.ttl)
    resolver = Resolver(zone, forward.Forwarder(upstream), forward.AnswerCache())
    if not wait_for_cache_sync(services, slices, timeout=60):
        log.error("caches did not sync")
        return 1
    replies = ReplyCache()
    for informer in (services, slices):  # any change may change any answer: forget the kept replies
        informer.add_handler(lambda _obj: replies.clear(), lambda _old, _new: replies.clear(),
                             lambda _obj: replies.clear())
    udp = UDPServer(resolver, args.dns_bind_address, args.dns_port, replies=replies).start()
    TCPServer(resolver, args.dns_bind_address, args.dns_port).start()
    if args.port:
        component.HealthServer(args.bind_address, args.port, lambda: services.has_synced).start()
    log.info("serving %s on %s:%d (UDP and TCP); upstream %s", args.cluster_domain, args.dns_bind_address,
             udp.port, ", ".join(f"{h}:{p}" for h, p in upstream) or "none")
    publisher = None
    if args.advertise_address:
        namespace, _, service = args.service.partition("/")
        publisher = EndpointPublisher(client, node=(args.hostname_override or socket.gethostname()).lower(),
                                      address=args.advertise_address, dns_port=udp.port,
                                      metrics_port=args.port or 9153, service=service, namespace=namespace).start()
    component.wait_for_signal().wait()
    if publisher is not None:
        publisher.stop()
        publisher.withdraw()
    udp.close()
    return 0


def _own_addresses(bind_address: str) -> set[str]:
    """Addresses a resolv.conf could name that would send our own queries back to us."""
    own = {bind_address, "127.0.0.1", "::1"} if bind_address in ("0.0.0.0", "::") else {bind_address}
    with contextlib.suppress(OSError):
        own.update(str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None))
    return own
