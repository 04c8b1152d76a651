#!/usr/bin/env python3
"""The API servers' encryption-at-rest configuration on the controller (upstream's EncryptionConfiguration).

    encryption_config.py FILE ensure RESOURCES_JSON   make FILE with a new aescbc key if it is missing, else keep
                                                      its keys and only bring its resource list up to date
    encryption_config.py FILE add-key                 a new key, second: every API server can read with it
    encryption_config.py FILE use-newest-key          the newest key first: API servers now write with it
    encryption_config.py FILE drop-old-keys           keep only the first key (once every value is rewritten)

The three steps are upstream's key rotation ("Rotating a decryption key" in the Kubernetes documentation), which
keeps several API servers able to read every value while they restart one at a time with each change.

Keys are 32 random bytes (base64), named `key-<UTC time>`, so the newest is recognisable in etcd's values
(`k8s:enc:aescbc:v1:key-20260101T000000:`). `identity` is listed last: Secrets written before encryption was
turned on stay readable until they are rewritten. Prints one JSON line for Ansible: {"changed": ..., "key": the
writing key's name}. The file is private to the controller's user (0600), as the CA keys beside it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml


def new_key() -> dict[str, str]:
    return {"name": time.strftime("key-%Y%m%dT%H%M%S", time.gmtime()),
            "secret": base64.b64encode(os.urandom(32)).decode()}


def document(resources: list[str], keys: list[dict[str, str]]) -> dict[str, Any]:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": resources, "providers": [{"aescbc": {"keys": keys}}, {"identity": {}}]}]}


def keys_of(config: dict[str, Any]) -> list[dict[str, str]]:
    return config["resources"][0]["providers"][0]["aescbc"]["keys"]


def write(path: Path, config: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text("# Made by the pki role (roles/pki/files/encryption_config.py); keys are secrets.\n"
                         + yaml.safe_dump(config, sort_keys=False))
    temporary.chmod(0o600)
    temporary.replace(path)


def main() -> None:
    path, action = Path(sys.argv[1]), sys.argv[2]
    current = yaml.safe_load(path.read_text()) if path.exists() else None
    if action == "ensure":
        resources = json.loads(sys.argv[3])
        wanted = document(resources, keys_of(current) if current else [new_key()])
    elif current is None:
        sys.exit(f"{path} does not exist: run playbooks/site.yml first")
    elif action == "add-key":
        fresh, keys = new_key(), keys_of(current)
        if any(key["name"] == fresh["name"] for key in keys):
            sys.exit("a key was added less than a second ago; try again")
        wanted = document(current["resources"][0]["resources"], [keys[0], fresh, *keys[1:]])
    elif action == "use-newest-key":
        keys = keys_of(current)
        newest = max(keys, key=lambda key: key["name"])  # named by their UTC time of making
        wanted = document(current["resources"][0]["resources"], [newest, *[k for k in keys if k is not newest]])
    elif action == "drop-old-keys":
        wanted = document(current["resources"][0]["resources"], keys_of(current)[:1])
    else:
        sys.exit(f"unknown action {action!r}: ensure, add-key, use-newest-key or drop-old-keys")
    changed = wanted != current
    if changed:
        write(path, wanted)
    print(json.dumps({"changed": changed, "key": keys_of(wanted)[0]["name"]}))


if __name__ == "__main__":
    main()
