"""`kubeling kubelet` flags (upstream's names where upstream has the flag) and the entry point."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import socket
import sys

from kubeling import component
from kubeling.kubelet.kubelet import Kubelet
from kubeling.kubelet.nodestatus import default_node_ip
from kubeling.kubelet.runtime import Runtime

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    component.add_client_arguments(parser)
    parser.add_argument("--hostname-override", default="", help="the node's name (default: the host name)")
    parser.add_argument("--node-ip", default="",
                        help="the node's InternalIP (default: the address of the default route's interface)")
    parser.add_argument("--pod-cidr", default="",
                        help="this node's pod range (default: what the controller-manager's node IPAM assigns)")
    parser.add_argument("--root-dir", default="/var/lib/kubeling/kubelet", help="volumes and per-pod files")
    parser.add_argument("--pod-infra-container-image", default="kubeling/pause:1",
                        help="the image of each pod's sandbox container")
    parser.add_argument("--address", default="0.0.0.0", help="address of the kubelet API")
    parser.add_argument("--port", type=int, default=10250, help="port of the kubelet API")
    parser.add_argument("--tls-cert-file", default="",
                        help="serving certificate of the kubelet API (HTTPS); without it the API is plain HTTP")
    parser.add_argument("--tls-private-key-file", default="", help="key of --tls-cert-file")
    parser.add_argument("--client-ca-file", default="",
                        help="callers of the kubelet API must present a client certificate signed by this CA "
                             "(the API server's --kubelet-client-certificate)")
    parser.add_argument("--healthz-port", type=int, default=10248,
                        help="port of the plain-HTTP /healthz (0 disables)")
    parser.add_argument("--healthz-bind-address", default="127.0.0.1", help="address of the /healthz port")
    parser.add_argument("--node-status-update-frequency", type=component._seconds, default=10.0,
                        help="how often the Lease is renewed and the node status recomputed")
    parser.add_argument("--sync-frequency", type=component._seconds, default=60.0,
                        help="how often every pod is resynced even without events")
    parser.add_argument("--docker-endpoint", default="", help="Docker API (default: $DOCKER_HOST or the socket)")
    parser.add_argument("--docker-network", default="kubeling",
                        help="the Docker bridge network for pods (its subnet is the node's pod CIDR)")
    parser.add_argument("--non-masquerade-cidr", default="10.0.0.0/8",
                        help="pod traffic to anywhere outside this range is masqueraded ('' turns that off)")
    parser.add_argument("--pod-workers", type=int, default=16, help="pods synced in parallel")
    parser.add_argument("--cluster-dns", default="",
                        help="comma-separated DNS server addresses for pods with dnsPolicy ClusterFirst "
                             "(the kube-dns Service's address); empty: pods use the node's resolvers")
    parser.add_argument("--cluster-domain", default="cluster.local",
                        help="the cluster's DNS domain, searched by pods after their namespace's")
    parser.add_argument("--resolv-conf", default="/etc/resolv.conf",
                        help="the node's resolver configuration, which pods with dnsPolicy Default inherit")
    parser.add_argument("--local-path-dir", default="/var/lib/kubeling/local-path",
                        help="where the local-path StorageClass keeps volumes on this node (its nodePath "
                             "parameter); volumes of that class outside it are refused")


def validate(args: argparse.Namespace) -> str | None:
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        return "--tls-cert-file and --tls-private-key-file go together"
    if args.client_ca_file and not args.tls_cert_file:
        return "--client-ca-file needs --tls-cert-file: client certificates only exist over TLS"
    for path in (args.tls_cert_file, args.tls_private_key_file, args.client_ca_file):
        if path and not os.path.isfile(path):
            return f"{path}: no such file"
    return None


def run(args: argparse.Namespace) -> int:
    problem = validate(args)
    if problem:
        print(f"kubeling kubelet: {problem}", file=sys.stderr)
        return 2
    component.setup_logging(args.v)
    if args.tls_cert_file and not args.client_ca_file:
        log.warning("the kubelet API is served without --client-ca-file: anyone who reaches it may read logs")
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` dumps every thread's stack, for stuck syncs
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # "pool is full" under bursts
    client = component.make_client(args, "kubelet")
    node_name = (args.hostname_override or socket.gethostname()).lower()
    node_ip = args.node_ip or default_node_ip()
    runtime = Runtime(node_name, args.docker_network, args.docker_endpoint or None)
    stop = component.wait_for_signal()
    Kubelet(args, client, runtime, node_name, node_ip).run(stop)
    return 0
