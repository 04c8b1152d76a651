"""What the common role needs to know about a node, in one command (one round trip instead of three): run as
`python3 -c "$(cat probe.py)" SPEC`, SPEC being JSON {"link": path, "stamp": path, "packages": [...],
"masked": [systemd units]}.

Prints JSON: "link" (the link's target or null), "stamp" (the file's text: the digest of the wheelhouse installed
last, or null), "installed" (those of "packages" that are installed) and "unmasked" (those of "masked" that are
not masked yet: /etc/systemd/system/UNIT is not a link to /dev/null).
"""

import json
import os
import subprocess
import sys


def main():
    spec = json.loads(sys.argv[1])
    link = spec["link"]
    stamp = None
    try:
        with open(spec["stamp"]) as f:
            stamp = f.read().strip()
    except FileNotFoundError:
        pass
    listing = subprocess.run(["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status}\\n"],
                             stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    print(json.dumps({
        "link": os.readlink(link) if os.path.islink(link) else None,
        "stamp": stamp,
        "installed": sorted({line.split()[0] for line in listing.splitlines() if line.endswith(" installed")}
                            & set(spec["packages"])),
        "unmasked": [unit for unit in spec.get("masked", []) if not masked(unit)],
    }))


def masked(unit):
    path = os.path.join("/etc/systemd/system", unit)
    return os.path.islink(path) and os.readlink(path) == "/dev/null"


main()
