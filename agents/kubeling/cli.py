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

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
