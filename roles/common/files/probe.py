"""What the common role looks at on a node, in one command (one round trip instead of one per file): run as
`python3 -c "$(cat probe.py)" SPEC`, SPEC being JSON {"dirs": [...], "link": path, "stamp": path, "packages": [...]}.

Prints JSON: "dirs" {path: "mode owner group" or null}, "link" (the link's target or null), "stamp" (the file's
text or null) and "installed" (those of "packages" that are installed).
"""

import grp
import json
import os
import pwd
import stat
import subprocess
import sys


def describe(path):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(info.st_mode):
        return "not a directory"
    return "%o %s %s" % (stat.S_IMODE(info.st_mode), pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name)


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
        "dirs": {path: describe(path) for path in spec["dirs"]},
        "link": os.readlink(link) if os.path.islink(link) else None,
        "stamp": stamp,
        "installed": sorted({line.split()[0] for line in listing.splitlines() if line.endswith(" installed")}
                            & set(spec["packages"])),
    }))


main()
