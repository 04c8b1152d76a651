"""What the common role needs to know about a node, in one command (one round trip instead of three): run as
`python3 -c "$(cat probe.py)" SPEC`, SPEC being JSON {"link": path, "stamp": path, "packages": [...]}.

Prints JSON: "link" (the link's target or null), "stamp" (the file's text: the digest of the wheelhouse installed
last, or null) and "installed" (those of "packages" that are installed).
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
    }))


main()
