#!/usr/bin/env python3
"""Is this file a whole etcd snapshot? Runs on the controller before a restore stops anything.

`etcdctl snapshot save` writes etcd's database (bbolt pages: a multiple of 512 bytes) followed by the SHA-256 of
it, 32 bytes; `etcdctl snapshot restore` checks that digest the same way (etcd's snapshot/v3_snapshot.go: a size
of 32 more than a multiple of 512 carries a digest). A truncated or altered copy fails here, with a message that
says which. Usage: etcd_snapshot.py FILE; prints {"ok": ..., "problem": ..., "size": ...} as one JSON line.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

DIGEST = 32
PAGE_UNIT = 512


def problem_with(path: Path) -> str:
    if not path.is_file():
        return f"{path} does not exist (give -e snapshot=FILE with a file from playbooks/etcd-backup.yml)"
    size = path.stat().st_size
    if size <= DIGEST:
        return f"{path} is {size} bytes: not an etcd snapshot"
    if size % PAGE_UNIT != DIGEST:
        return (f"{path} is {size} bytes, not a whole etcd snapshot (the database and its SHA-256 digest): "
                "it looks truncated")
    data = path.read_bytes()
    if hashlib.sha256(data[:-DIGEST]).digest() != data[-DIGEST:]:
        return f"{path} does not match the SHA-256 digest at its end: the snapshot is damaged"
    return ""


def main() -> None:
    path = Path(sys.argv[1])
    problem = problem_with(path)
    print(json.dumps({"ok": not problem, "problem": problem,
                      "size": path.stat().st_size if path.is_file() else 0}))


if __name__ == "__main__":
    main()
