"""What a daemon role (etcd, control_plane, container_runtime, worker, pod_network) looks at on a node, in one
command instead of one per file and unit: run as `python3 -c "$(cat daemons.py)" SPEC`, SPEC being JSON
{"files": [path...], "units": [name...], "health": [url...], "commands": {name: argv},
 "ca", "cert", "key": files for https health URLs (optional)}.

Prints JSON: "files" {path: "sha1 mode owner group", "dir mode owner group" or null}, "units" {name:
"is-enabled is-active"}, "health" {url: HTTP status, or 0 when it does not answer} and "commands" {name:
{"rc", "stdout"}}. One try each, no waiting: the role waits where needed.
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
    except FileNotFoundError:
        return None
    owner = "%o %s %s" % (stat.S_IMODE(info.st_mode), pwd.getpwuid(info.st_uid).pw_name,
                          grp.getgrgid(info.st_gid).gr_name)
    if stat.S_ISDIR(info.st_mode):
        return "dir " + owner
    with open(path, "rb") as f:
        return "%s %s" % (hashlib.sha1(f.read()).hexdigest(), owner)


def run(argv):
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    except OSError:
        return {"rc": 127, "stdout": ""}
    return {"rc": done.returncode, "stdout": done.stdout.strip()}


def health(url, spec):
    context = None
    try:
        if url.startswith("https:"):
            context = ssl.create_default_context(cafile=spec.get("ca"))
            if spec.get("cert"):
                context.load_cert_chain(spec["cert"], spec.get("key"))
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
        "units": {unit: "%s %s" % (run(["systemctl", "is-enabled", unit])["stdout"] or "unknown",
                                   run(["systemctl", "is-active", unit])["stdout"] or "unknown")
                  for unit in spec.get("units", [])},
        "health": {url: health(url, spec) for url in spec.get("health", [])},
        "commands": {name: run(argv) for name, argv in spec.get("commands", {}).items()},
    }))


main()
