"""Where the API server is and how to authenticate: kubeconfig files and `--master`, as upstream clients do."""

from __future__ import annotations

import base64
import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclasses.dataclass
class ClientConfig:
    server: str
    token: str | None = None
    client_cert: str | None = None  # path to a PEM file
    client_key: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    namespace: str = "default"

    @property
    def verify(self) -> bool | str:
        if self.insecure:
            return False
        return self.ca_file or True


def _materialise(data_b64: str, suffix: str) -> str:
    """Write `*-data` fields to a private temp file: requests wants paths for certificates."""
    handle = tempfile.NamedTemporaryFile(prefix="kubeling-", suffix=suffix, delete=False)  # noqa: SIM115
    with handle:
        handle.write(base64.b64decode(data_b64))
    os.chmod(handle.name, 0o600)
    return handle.name


def _path(base: Path, value: str | None) -> str | None:
    if not value:
        return None
    path = Path(value)
    return str(path if path.is_absolute() else base / path)


def from_kubeconfig(path: str, context: str | None = None) -> ClientConfig:
    file = Path(path)
    try:
        doc: dict[str, Any] = yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read kubeconfig {path}: {exc}") from exc
    name = context or doc.get("current-context")
    contexts = {c["name"]: c.get("context", {}) for c in doc.get("contexts") or []}
    clusters = {c["name"]: c.get("cluster", {}) for c in doc.get("clusters") or []}
    users = {u["name"]: u.get("user", {}) or {} for u in doc.get("users") or []}
    if name not in contexts:
        raise ValueError(f"kubeconfig {path}: context {name!r} not found")
    ctx = contexts[name]
    cluster = clusters.get(ctx.get("cluster"))
    if cluster is None or not cluster.get("server"):
        raise ValueError(f"kubeconfig {path}: cluster {ctx.get('cluster')!r} has no server")
    user = users.get(ctx.get("user"), {})
    base = file.parent
    config = ClientConfig(server=cluster["server"].rstrip("/"), namespace=ctx.get("namespace") or "default")
    config.insecure = bool(cluster.get("insecure-skip-tls-verify"))
    if cluster.get("certificate-authority-data"):
        config.ca_file = _materialise(cluster["certificate-authority-data"], ".crt")
    else:
        config.ca_file = _path(base, cluster.get("certificate-authority"))
    if user.get("client-certificate-data"):
        config.client_cert = _materialise(user["client-certificate-data"], ".crt")
    else:
        config.client_cert = _path(base, user.get("client-certificate"))
    if user.get("client-key-data"):
        config.client_key = _materialise(user["client-key-data"], ".key")
    else:
        config.client_key = _path(base, user.get("client-key"))
    config.token = user.get("token")
    if not config.token and user.get("tokenFile"):
        config.token = Path(_path(base, user["tokenFile"]) or "").read_text().strip()
    return config


def in_cluster() -> ClientConfig | None:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    token_file = SERVICE_ACCOUNT_DIR / "token"
    if not host or not port or not token_file.exists():
        return None
    ca = SERVICE_ACCOUNT_DIR / "ca.crt"
    host = f"[{host}]" if ":" in host else host
    return ClientConfig(server=f"https://{host}:{port}", token=token_file.read_text().strip(),
                        ca_file=str(ca) if ca.exists() else None)


def load_config(kubeconfig: str | None = None, master: str | None = None) -> ClientConfig:
    """As upstream: `--kubeconfig`, else `$KUBECONFIG`, else in-cluster; `--master` overrides the server."""
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(":")[0] or None
    config: ClientConfig | None = None
    if path:
        config = from_kubeconfig(path)
    elif master is None:
        config = in_cluster()
    if config is None:
        if master is None:
            raise ValueError("no API server given: pass --kubeconfig or --master")
        config = ClientConfig(server=master.rstrip("/"))
    elif master:
        config.server = master.rstrip("/")
    return config
