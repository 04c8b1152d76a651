"""Pod volumes as directories under the kubelet's root dir, bind-mounted into the pod's containers.

`configMap`, `secret`, `downwardAPI` and `projected` volumes are written the way upstream's AtomicWriter does, so a
container never sees half an update: the files live in a timestamped `..2024_01_01_00_00_00.123` directory, a
`..data` symlink points at the current one, and each visible name is a symlink into `..data`. An update writes a
new directory and swaps `..data` with one rename.
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from kubeling.api.types import Obj
from kubeling.kubelet import envvars
from kubeling.kubelet.tokens import TokenError

Lookup = Callable[[str, str], Obj | None]
TokenSource = Callable[[Obj, Obj], str]  # (pod, serviceAccountToken projection) → the token
Files = dict[str, tuple[bytes, int]]  # relative path → (content, mode)

EMPTY_DIR = "kubernetes.io~empty-dir"
CONFIGMAP = "kubernetes.io~configmap"
SECRET = "kubernetes.io~secret"
DOWNWARD_API = "kubernetes.io~downward-api"
PROJECTED = "kubernetes.io~projected"
DEFAULT_MODE = 0o644


class VolumeError(Exception):
    """A volume cannot be set up yet (FailedMount): its ConfigMap or Secret is missing, a hostPath is wrong."""


class VolumeManager:
    def __init__(self, root_dir: str, configmap: Lookup, secret: Lookup, token: TokenSource | None = None) -> None:
        self.root = Path(root_dir)
        self.configmap, self.secret, self.token = configmap, secret, token

    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    def setup(self, pod: Obj, pod_ip: str = "", host_ip: str = "") -> dict[str, str]:
        """Create or refresh every volume of `pod`; returns volume name → host path to bind-mount."""
        uid = pod["metadata"]["uid"]
        paths: dict[str, str] = {}
        errors: list[str] = []
        for volume in pod.get("spec", {}).get("volumes") or []:
            name = volume.get("name", "")
            try:
                paths[name] = self._setup_one(pod, uid, volume, pod_ip, host_ip)
            except (VolumeError, envvars.ConfigError, TokenError) as exc:
                errors.append(f'MountVolume.SetUp failed for volume "{name}" : {exc}')
        if errors:
            raise VolumeError("; ".join(errors))
        return paths

    def cleanup(self, uid: str) -> None:
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)

    def _dir(self, uid: str, plugin: str, name: str) -> Path:
        path = self.pod_dir(uid) / "volumes" / plugin / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _setup_one(self, pod: Obj, uid: str, volume: Obj, pod_ip: str, host_ip: str) -> str:
        name = volume.get("name", "")
        namespace = pod["metadata"].get("namespace", "")
        if "emptyDir" in volume:
            path = self._dir(uid, EMPTY_DIR, name)
            path.chmod(0o777)  # as upstream: any container user may write to it
            return str(path)
        if "hostPath" in volume:
            return host_path(volume["hostPath"])
        if "configMap" in volume:
            files = configmap_files(volume["configMap"], namespace, self.configmap, DEFAULT_MODE)
            plugin = CONFIGMAP
        elif "secret" in volume:
            files = secret_files(volume["secret"], namespace, self.secret, DEFAULT_MODE)
            plugin = SECRET
        elif "downwardAPI" in volume:
            source = volume["downwardAPI"]
            files = downward_files(source, pod, pod_ip, host_ip, source.get("defaultMode", DEFAULT_MODE))
            plugin = DOWNWARD_API
        elif "projected" in volume:
            files = self._projected(volume["projected"], pod, pod_ip, host_ip)
            plugin = PROJECTED
        else:
            kinds = [k for k in volume if k != "name"]
            raise VolumeError(f"volume type {', '.join(kinds) or 'unknown'} is not supported by kubeling's kubelet")
        path = self._dir(uid, plugin, name)
        write_atomic(path, files)
        return str(path)

    def _projected(self, source: Obj, pod: Obj, pod_ip: str, host_ip: str) -> Files:
        namespace = pod["metadata"].get("namespace", "")
        mode = source.get("defaultMode", DEFAULT_MODE)
        files: Files = {}
        for item in source.get("sources") or []:
            if item.get("configMap"):
                files.update(configmap_files(item["configMap"], namespace, self.configmap, mode))
            elif item.get("secret"):
                files.update(secret_files(item["secret"], namespace, self.secret, mode))
            elif item.get("downwardAPI"):
                files.update(downward_files(item["downwardAPI"], pod, pod_ip, host_ip, mode))
            elif item.get("serviceAccountToken"):
                token = item["serviceAccountToken"]
                if self.token is None:
                    raise VolumeError("serviceAccountToken projections need a connection to the API server")
                files[token.get("path") or "token"] = (self.token(pod, token).encode(), mode)
        return files


def host_path(source: Obj) -> str:
    path = Path(source.get("path", ""))
    kind = source.get("type") or ""
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True, mode=0o755)
    elif kind == "FileOrCreate" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(0o644)
    elif kind == "Directory" and not path.is_dir():
        raise VolumeError(f"hostPath type check failed: {path} is not a directory")
    elif kind == "File" and not path.is_file():
        raise VolumeError(f"hostPath type check failed: {path} is not a file")
    elif kind == "Socket" and not path.is_socket():
        raise VolumeError(f"hostPath type check failed: {path} is not a socket file")
    return str(path)


def _keyed_files(data: dict[str, bytes], source: Obj, default_mode: int, kind: str) -> Files:
    mode = source.get("defaultMode", default_mode)
    items = source.get("items")
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    files: Files = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f"{kind} references non-existent config key: {key}")
        files[item.get("path") or key] = (data[key], item.get("mode", mode))
    return files


def configmap_files(source: Obj, namespace: str, lookup: Lookup, default_mode: int) -> Files:
    name = source.get("name", "")
    cm = lookup(namespace, name)
    if cm is None:
        if source.get("optional"):
            return {}
        raise VolumeError(f'configmap "{name}" not found')
    data = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
    return _keyed_files(data, source, default_mode, "configmap")


def secret_files(source: Obj, namespace: str, lookup: Lookup, default_mode: int) -> Files:
    name = source.get("secretName") or source.get("name", "")
    secret = lookup(namespace, name)
    if secret is None:
        if source.get("optional"):
            return {}
        raise VolumeError(f'secret "{name}" not found')
    data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    return _keyed_files(data, source, default_mode, "secret")


def downward_files(source: Obj, pod: Obj, pod_ip: str, host_ip: str, default_mode: int) -> Files:
    files: Files = {}
    for item in source.get("items") or []:
        mode = item.get("mode", default_mode)
        if item.get("fieldRef"):
            value = envvars.field_value(pod, item["fieldRef"].get("fieldPath", ""), pod_ip, host_ip)
        elif item.get("resourceFieldRef"):
            container: Obj = next((c for c in pod["spec"].get("containers") or []
                              if c.get("name") == item["resourceFieldRef"].get("containerName")), {})
            value = envvars.resource_value(container, item["resourceFieldRef"], {})
        else:
            continue
        files[item.get("path", "")] = (value.encode(), mode)
    return files


def _read_current(target: Path) -> Files | None:
    data = target / "..data"
    if not data.is_symlink():
        return None
    current: Files = {}
    root = data.resolve()
    for path in root.rglob("*"):
        if path.is_file():
            current[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mode & 0o7777)
    return current


def write_atomic(target: Path, files: Files) -> bool:
    """Make `target` show exactly `files`; returns False when it already did (nothing written)."""
    wanted = {rel: (content, mode & 0o7777) for rel, (content, mode) in files.items()}
    if _read_current(target) == wanted:
        return False
    stamp = datetime.datetime.now(datetime.UTC).strftime("..%Y_%m_%d_%H_%M_%S.%f")
    fresh = target / stamp
    fresh.mkdir(mode=0o755)
    for rel, (content, mode) in wanted.items():
        path = fresh / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    data = target / "..data"
    old = os.readlink(data) if data.is_symlink() else None
    tmp = target / "..data_tmp"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(stamp)
    tmp.rename(data)  # the one atomic step: readers see the old set or the new one
    visible = {rel.split("/", 1)[0] for rel in wanted}
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in visible and entry.is_symlink():
            entry.unlink()
    for name in visible:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
    if old and old != stamp:
        shutil.rmtree(target / old, ignore_errors=True)
    return True
