#!/usr/bin/env python3
"""Pack one node's certificates, keys and kubeconfigs into a tar on the controller: the node gets them in one copy.

Usage: bundle.py PKI_DIR OUT.tar NODE_DIR FILES KUBECONFIGS, where
  FILES        JSON [{"src": path under PKI_DIR, "dest": path under pki/, "group": optional group}]
  KUBECONFIGS  JSON [{"name", "cluster", "server", "user", "cert"}]: <name>.conf with paths to NODE_DIR/pki
The tar is unpacked in NODE_DIR (/etc/kubeling). Certificates and public keys (.crt, .pub) are world-readable; keys and
kubeconfigs are private to root (keys: or readable by `group`). pki/MANIFEST (`sha256sum` format, relative to
NODE_DIR) lets the role find files changed or removed on the node behind its back.

Deterministic (sorted, fixed times and owners): unchanged inputs give a byte-identical tar, and Ansible reports
no change. Prints {"changed": bool, "sha256": ...}.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

KUBECONFIG = """\
# Written by Ansible (roles/pki): {user} on this node.
apiVersion: v1
kind: Config
clusters:
- name: {cluster}
  cluster:
    server: {server}
    certificate-authority: {node_dir}/pki/ca.crt
users:
- name: {user}
  user:
    client-certificate: {node_dir}/pki/{cert}.crt
    client-key: {node_dir}/pki/{cert}.key
contexts:
- name: {user}@{cluster}
  context:
    cluster: {cluster}
    user: {user}
current-context: {user}@{cluster}
"""


def mode_of(dest: str, group: str | None) -> int:
    if dest.endswith((".crt", ".pub")):
        return 0o644
    return 0o640 if group else 0o600


def main() -> None:
    pki_dir, out, node_dir = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    files, kubeconfigs = json.loads(sys.argv[4]), json.loads(sys.argv[5])
    entries: dict[str, tuple[bytes, int, str]] = {}
    for item in files:
        group = item.get("group")
        entries[f"pki/{item['dest']}"] = ((pki_dir / item["src"]).read_bytes(), mode_of(item["dest"], group),
                                          group or "root")
    for config in kubeconfigs:
        text = KUBECONFIG.format(node_dir=node_dir, **{k: config[k] for k in ("cluster", "server", "user", "cert")})
        entries[f"{config['name']}.conf"] = (text.encode(), 0o600, "root")
    manifest = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                       for name, (data, _, _) in sorted(entries.items()))
    entries["pki/MANIFEST"] = (manifest.encode(), 0o644, "root")

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, (data, mode, group) in sorted(entries.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uname, info.gname = len(data), mode, 0, "root", group
            tar.addfile(info, io.BytesIO(data))
    content = buffer.getvalue()
    changed = not out.exists() or out.read_bytes() != content
    if changed:
        out.write_bytes(content)
        out.chmod(0o600)
    print(json.dumps({"changed": changed, "sha256": hashlib.sha256(content).hexdigest()}))


if __name__ == "__main__":
    main()
