"""What a daemon role (etcd, control_plane, worker, pod_network) looks at on a node, in one command instead of one
per file and unit: run as `python3 -c "$(cat daemons.py)" SPEC`, SPEC being JSON
{"files": [path...], "units": [name...], "health": [url...], "ca": CA file for https URLs (optional)}.

Prints JSON: "files" {path: "sha1 mode owner group" or null}, "units" {name: "is-enabled is-active"} and
"health" {url: HTTP status, or 0 when it does not answer}. One try each, no waiting: the role waits where needed.
"""

import grp
import hashlib
import json
import os
import pwd
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.request


def describe(path):
    try:
        info = os.stat(path)
        with open(path, "rb") as f:
            digest = hashlib.sha1(f.read()).hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        return None
    return "%s %o %s %s" % (digest, stat.S_IMODE(info.st_mode), pwd.getpwuid(info.st_uid).pw_name,
                            grp.getgrgid(info.st_gid).gr_name)


def systemctl(verb, unit):
    return subprocess.run(["systemctl", verb, unit], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          universal_newlines=True).stdout.strip() or "unknown"


def health(url, ca):
    context = ssl.create_default_context(cafile=ca) if ca and url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return 0


def main():
    spec = json.loads(sys.argv[1])
    print(json.dumps({
        "files": {path: describe(path) for path in spec.get("files", [])},
        "units": {unit: "%s %s" % (systemctl("is-enabled", unit), systemctl("is-active", unit))
                  for unit in spec.get("units", [])},
        "health": {url: health(url, spec.get("ca")) for url in spec.get("health", [])},
    }))


main()
