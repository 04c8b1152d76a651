"""Secrets encrypted at rest, against a real API server and a real etcd, as a user checks it: create a Secret
with kubectl, read the raw value with etcdctl, rotate the key with upstream's procedure, and see a server with a
broken configuration refuse to start.

Each API server here is the test's own, on the session's etcd under a fresh prefix, started with
`--encryption-provider-config`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster import ROOT, APIServer, Etcd, free_port
from support.kubectl import KUBECTL_BINARIES, Kubectl


def key(name: str) -> dict[str, str]:
    return {"name": name, "secret": base64.b64encode(os.urandom(32)).decode()}


def write_config(path: Path, *providers: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": list(providers)}],
    }))
    path.chmod(0o600)
    return str(path)


def raw_value(etcd: Etcd, key_path: str) -> bytes:
    etcdctl = shutil.which("etcdctl") or "/usr/bin/etcdctl"
    result = subprocess.run([etcdctl, f"--endpoints={etcd.url}", "get", key_path, "--print-value-only"],
                            capture_output=True, timeout=60, env={**os.environ, "ETCDCTL_API": "3"}, check=True)
    return result.stdout.rstrip(b"\n")


class Encrypted:
    """An API server of the module's own, restarted with a new configuration when a test rotates keys."""

    def __init__(self, etcd: Etcd, workdir: Path) -> None:
        self.etcd, self.workdir = etcd, workdir
        self.prefix = f"/encrypted-{uuid.uuid4().hex[:8]}"
        self.server: APIServer | None = None
        self.kubectl: Kubectl | None = None
        self.key1 = key("key1")  # the first key, which the rotation test replaces

    def start(self, config: str) -> Kubectl:
        self.stop()
        self.server = APIServer(self.etcd.url, self.workdir, prefix=self.prefix,
                                extra=["--encryption-provider-config", config]).start()
        self.kubectl = Kubectl(KUBECTL_BINARIES["1.32"], self.server.url, self.workdir / "kubectl-cache", "1.32")
        return self.kubectl

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def raw(self, namespace: str, name: str) -> bytes:
        return raw_value(self.etcd, f"{self.prefix}/secrets/{namespace}/{name}")


@pytest.fixture(scope="module")
def encrypted(etcd: Etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Encrypted]:
    plane = Encrypted(etcd, tmp_path_factory.mktemp("encryption"))
    yield plane
    plane.stop()


def test_a_secret_is_encrypted_in_etcd_and_read_back_plain(encrypted: Encrypted) -> None:
    kubectl = encrypted.start(write_config(encrypted.workdir / "one.yaml", {"aescbc": {"keys": [encrypted.key1]}},
                                           {"identity": {}}))
    value = f"s3cret-{uuid.uuid4().hex}"
    kubectl("create", "secret", "generic", "db", "--from-literal", f"password={value}")
    kubectl("create", "configmap", "plain", "--from-literal", f"note={value}")

    stored = encrypted.raw("default", "db")
    assert stored.startswith(b"k8s:enc:aescbc:v1:key1:")
    assert value.encode() not in stored
    assert base64.b64encode(value.encode()) not in stored
    shown = kubectl("get", "secret", "db", "-o", "jsonpath={.data.password}")
    assert base64.b64decode(shown).decode() == value
    # Only the listed resources are encrypted: a ConfigMap stays readable JSON.
    assert value.encode() in raw_value(encrypted.etcd, f"{encrypted.prefix}/configmaps/default/plain")


def test_rotating_the_key_rewrites_every_secret_and_the_old_key_can_go(encrypted: Encrypted) -> None:
    workdir = encrypted.workdir
    old, new = encrypted.key1, key("key2")
    kubectl = encrypted.start(write_config(workdir / "one.yaml", {"aescbc": {"keys": [old]}}))
    kubectl("create", "namespace", "team")
    kubectl("create", "secret", "generic", "api", "-n", "team", "--from-literal", "token=abc")
    assert encrypted.raw("team", "api").startswith(b"k8s:enc:aescbc:v1:key1:")

    # Upstream's procedure: the new key first (the old one still reads), rewrite every Secret, drop the old key.
    kubectl = encrypted.start(write_config(workdir / "two.yaml", {"aescbc": {"keys": [new, old]}}))
    everything = kubectl("get", "secrets", "-A", "-o", "json")
    assert len(json.loads(everything)["items"]) >= 2
    kubectl("replace", "-f", "-", input=everything)
    for namespace, name in (("default", "db"), ("team", "api")):
        assert encrypted.raw(namespace, name).startswith(b"k8s:enc:aescbc:v1:key2:")

    kubectl = encrypted.start(write_config(workdir / "three.yaml", {"aescbc": {"keys": [new]}}))
    assert base64.b64decode(kubectl("get", "secret", "api", "-n", "team", "-o", "jsonpath={.data.token}")) == b"abc"


def test_a_value_whose_key_is_gone_is_an_internal_error_naming_it(encrypted: Encrypted) -> None:
    kubectl = encrypted.start(write_config(encrypted.workdir / "other.yaml", {"aesgcm": {"keys": [key("k9")]}}))
    result = kubectl.run("get", "secret", "db", check=False)
    assert result.returncode != 0
    assert 'unable to transform key "' + f'{encrypted.prefix}/secrets/default/db' in result.stderr
    assert "no matching prefix found" in result.stderr


@pytest.mark.parametrize(("providers", "message"), [
    ([], "at least one provider has to be specified"),
    ([{"aescbc": {"keys": [{"name": "k", "secret": base64.b64encode(b"short").decode()}]}}],
     "secret is not of the expected length, got 5"),
    ([{"rot13": {}}], "unknown provider 'rot13'"),
])
def test_a_server_with_a_bad_configuration_refuses_to_start(etcd: Etcd, tmp_path: Path, providers: list[Any],
                                                            message: str) -> None:
    config = write_config(tmp_path / "bad.yaml", *providers)
    result = subprocess.run(
        [sys.executable, "-m", "kubeling", "apiserver", "--etcd-servers", etcd.url, "--etcd-prefix",
         f"/refused-{uuid.uuid4().hex[:8]}", "--port", str(free_port()), "--encryption-provider-config", config],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT / "agents")})
    assert result.returncode == 2
    assert f"--encryption-provider-config {config}: error while parsing file:" in result.stderr
    assert message in result.stderr


def test_a_configuration_that_is_not_yaml_is_refused(etcd: Etcd, tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("apiVersion: apiserver.config.k8s.io/v1\nresources: [ {resources: [secrets]\n")
    result = subprocess.run(
        [sys.executable, "-m", "kubeling", "apiserver", "--etcd-servers", etcd.url, "--port", str(free_port()),
         "--encryption-provider-config", str(config)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT / "agents")})
    assert result.returncode == 2
    assert "error while parsing file" in result.stderr
