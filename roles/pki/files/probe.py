"""What the pki role looks at on a node, in one command: run as `python3 -c "$(cat probe.py)" CONFIG_DIR`.

Prints JSON: "dir" (CONFIG_DIR's "mode owner group", or null), "bundle" ("sha256 mode owner group" of
CONFIG_DIR/.pki-bundle.tar, or null) and "files_match" (whether every file pki/MANIFEST lists has its digest).
"""

import grp
import hashlib
import json
import os
import pwd
import stat
import sys


def owner(info):
    return "%o %s %s" % (stat.S_IMODE(info.st_mode), pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    top = sys.argv[1]
    result = {"dir": None, "bundle": None, "files_match": False}
    if os.path.isdir(top):
        result["dir"] = owner(os.stat(top))
        bundle = os.path.join(top, ".pki-bundle.tar")
        if os.path.isfile(bundle):
            result["bundle"] = "%s %s" % (digest(bundle), owner(os.stat(bundle)))
        try:
            with open(os.path.join(top, "pki", "MANIFEST")) as f:
                lines = [line.rstrip("\n").split("  ", 1) for line in f if line.strip()]
            result["files_match"] = bool(lines) and all(digest(os.path.join(top, name)) == want for want, name in lines)
        except (OSError, ValueError):
            pass
    print(json.dumps(result))


main()
