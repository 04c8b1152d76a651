#!/usr/bin/env python3
"""Pack one node's certificates and keys into a tar, on the controller, so the node gets them in one copy.

Usage: bundle.py PKI_DIR OUT.tar FILES, where FILES is JSON: [{"src": path under PKI_DIR, "dest": name, "group"?}].
Certificates and public keys (.crt, .pub) are world-readable; keys are private to root, or readable by `group`.
The tar also holds MANIFEST (`sha256sum` format), which the role checks on the node to find files changed or
removed behind its back. Deterministic (sorted, fixed times and owners): an unchanged set of files gives a
byte-identical tar, and Ansible reports no change. Prints {"changed": bool, "sha256": ...}.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path


def add(tar: tarfile.TarFile, name: str, data: bytes, mode: int, group: str = "root") -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    info.uname, info.gname = "root", group
    tar.addfile(info, io.BytesIO(data))


def mode_of(item: dict) -> int:
    if item["dest"].endswith((".crt", ".pub")):
        return 0o644
    return 0o640 if item.get("group") else 0o600


def main() -> None:
    pki_dir, out, spec = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    buffer = io.BytesIO()
    manifest = []
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for item in sorted(spec, key=lambda entry: entry["dest"]):
            data = (pki_dir / item["src"]).read_bytes()
            add(tar, item["dest"], data, mode_of(item), item.get("group", "root"))
            manifest.append(f"{hashlib.sha256(data).hexdigest()}  {item['dest']}\n")
        add(tar, "MANIFEST", "".join(manifest).encode(), 0o644)
    content = buffer.getvalue()
    changed = not out.exists() or out.read_bytes() != content
    if changed:
        out.write_bytes(content)
        out.chmod(0o600)
    print(json.dumps({"changed": changed, "sha256": hashlib.sha256(content).hexdigest()}))


if __name__ == "__main__":
    main()
