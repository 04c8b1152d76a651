"""The `kubeling` command: one program, a subcommand per component (hyperkube style)."""

from __future__ import annotations

import argparse
import sys

from kubeling import KUBERNETES_VERSION, __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubeling", description="A small, readable Kubernetes.")
    parser.add_argument("--version", action="version", version=f"kubeling {__version__} ({KUBERNETES_VERSION})")
    commands = parser.add_subparsers(dest="command", metavar="COMPONENT")
    commands.required = True

    from kubeling.apiserver import server

    apiserver = commands.add_parser("apiserver", help="the Kubernetes API over etcd")
    server.add_arguments(apiserver)
    apiserver.set_defaults(run=server.run)

    from kubeling import controllermanager

    manager = commands.add_parser("controller-manager", help="the control loops (ReplicaSet, Deployment, …)")
    controllermanager.add_arguments(manager)
    manager.set_defaults(run=controllermanager.run)

    try:
        from kubeling.scheduler import cli as scheduler_cli
    except ImportError:  # while the scheduler is being written
        scheduler_cli = None
    if scheduler_cli is not None:
        scheduler = commands.add_parser("scheduler", help="assigns pods to nodes")
        scheduler_cli.add_arguments(scheduler)
        scheduler.set_defaults(run=scheduler_cli.run)

    try:
        from kubeling.kubelet import cli as kubelet_cli
    except ImportError:  # while the kubelet is being written
        kubelet_cli = None
    if kubelet_cli is not None:
        kubelet = commands.add_parser("kubelet", help="runs the pods bound to this node on Docker")
        kubelet_cli.add_arguments(kubelet)
        kubelet.set_defaults(run=kubelet_cli.run)

    try:
        from kubeling.proxy import cli as proxy_cli
    except ImportError:  # while the proxy is being written
        proxy_cli = None
    if proxy_cli is not None:
        proxy = commands.add_parser("proxy", help="makes Services reachable on this node (iptables or userspace)")
        proxy_cli.add_arguments(proxy)
        proxy.set_defaults(run=proxy_cli.run)

    try:
        from kubeling.network import cli as network_cli
    except ImportError:  # while the pod network is being written
        network_cli = None
    if network_cli is not None:
        network = commands.add_parser("network", help="routes to other nodes' pod CIDRs (host-gw) and pod NAT")
        network_cli.add_arguments(network)
        network.set_defaults(run=network_cli.run)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
