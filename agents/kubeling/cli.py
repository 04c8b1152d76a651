"""The `kubeling` command: one program, a subcommand per component (hyperkube style)."""

from __future__ import annotations

import argparse
import importlib
import sys

from kubeling import KUBERNETES_VERSION, __version__

# Subcommand → (the module with its `add_arguments` and `run`, the help line). Only the module of the component
# being started is imported, so a kubelet never loads Flask and an API server never loads the Docker client.
COMPONENTS = {
    "apiserver": ("kubeling.apiserver.server", "the Kubernetes API over etcd"),
    "controller-manager": ("kubeling.controllermanager", "the control loops (ReplicaSet, Deployment, …)"),
    "scheduler": ("kubeling.scheduler.cli", "assigns pods to nodes"),
    "kubelet": ("kubeling.kubelet.cli", "runs the pods bound to this node on Docker"),
    "proxy": ("kubeling.proxy.cli", "makes Services reachable on this node (iptables or userspace)"),
    "network": ("kubeling.network.cli", "routes to other nodes' pod CIDRs (host-gw) and pod NAT"),
    "dns": ("kubeling.dns.cli", "the cluster's DNS server: Services and their endpoints by name"),
    "dashboard": ("kubeling.dashboard.cli", "the live view: a page reached through the API server's service proxy"),
    "why": ("kubeling.why.cli", "the story of a pod or a Deployment (also `kubectl why`, the kubectl-why plugin)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="kubeling", description="A small, readable Kubernetes.")
    parser.add_argument("--version", action="version", version=f"kubeling {__version__} ({KUBERNETES_VERSION})")
    commands = parser.add_subparsers(dest="command", metavar="COMPONENT")
    commands.required = True
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, (module_name, help_text) in COMPONENTS.items():
        command = commands.add_parser(name, help=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(command)
            command.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
