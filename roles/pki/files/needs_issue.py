#!/usr/bin/env python3
"""Which certificates need community.crypto's attention, so an unchanged PKI costs one command, not three per
certificate: those whose key or certificate file is missing, or whose spec (subject, names, CA, usage) differs
from the one they were last issued with (kept beside each as <name>.spec).

Usage: needs_issue.py check|record PKI_DIR SPECS, SPECS being JSON [{"name", "ca", "cn", ...}].
`check` prints the JSON list of names to (re)issue; `record` writes the .spec files after issuing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    action, pki_dir, specs = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    pending = []
    for spec in specs:
        stamp = pki_dir / f"{spec['name']}.spec"
        text = json.dumps(spec, sort_keys=True) + "\n"
        if action == "record":
            if not stamp.exists() or stamp.read_text() != text:
                stamp.write_text(text)
            continue
        files = [pki_dir / f"{spec['name']}.{suffix}" for suffix in ("key", "crt")]
        if not all(f.exists() for f in files) or not stamp.exists() or stamp.read_text() != text:
            pending.append(spec["name"])
    print(json.dumps(pending))


if __name__ == "__main__":
    main()
