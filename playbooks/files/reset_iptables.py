#!/usr/bin/env python3
"""Remove kubeling's iptables chains (KUBE-*, KUBELING-*) and the rules that jump to them, and nothing else.

Run on a node by playbooks/reset.yml. The host's own rules (and Docker's) stay as they are: we delete our
jump rules one by one (`iptables -D`), then flush and delete our chains; nothing is flushed wholesale.
Prints JSON: {"changed": bool, "removed": [...]}.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess

OURS = re.compile(r"^(KUBE-|KUBELING-)")


def iptables(table: str, *args: str) -> None:
    subprocess.run(["iptables", "-w", "-t", table, *args], check=True, capture_output=True)


def main() -> None:
    removed: list[str] = []
    if shutil.which("iptables-save") is None:
        print(json.dumps({"changed": False, "removed": []}))
        return
    for table in ("filter", "nat", "mangle"):
        dump = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True)
        if dump.returncode != 0:
            continue
        chains = [line[1:].split()[0] for line in dump.stdout.splitlines() if line.startswith(":")]
        ours = [chain for chain in chains if OURS.match(chain)]
        for line in dump.stdout.splitlines():
            if not line.startswith("-A "):
                continue
            words = shlex.split(line)
            chain, target = words[1], words[words.index("-j") + 1] if "-j" in words else ""
            if not OURS.match(chain) and OURS.match(target):
                iptables(table, "-D", *words[1:])
                removed.append(f"{table}: {line}")
        for chain in ours:
            iptables(table, "-F", chain)
        for chain in ours:
            iptables(table, "-X", chain)
            removed.append(f"{table}: chain {chain}")
    print(json.dumps({"changed": bool(removed), "removed": removed}))


if __name__ == "__main__":
    main()
