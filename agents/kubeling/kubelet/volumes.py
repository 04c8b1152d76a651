"""Pod volumes as directories under the kubelet's root dir, bind-mounted into the pod's containers.

`configMap`, `secret`, `downwardAPI` and `projected` volumes are written the way upstream's AtomicWriter does, so a
container never sees half an update: the files live in a timestamped `..2024_01_01_00_00_00.123` directory, a
`..data` symlink points at the current one, and each visible name is a symlink into `..data`. An update writes a
new directory and swaps `..data` with one rename.

A `persistentVolumeClaim` volume is resolved claim → PersistentVolume → its source, once per pod (upstream's
desired_state_of_world_populator and operation_generator): a `hostPath` or `local` directory is bind-mounted as
it is (a local-path volume's directory is made on first use, and only inside --local-path-dir); an `nfs` export,
inline or as a volume, is mounted on the node under the pod's directory (pkg/volume/nfs) and unmounted before
that directory is removed. The pod waits (FailedMount) while its claim is not bound.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from kubeling.api import storage
from kubeling.api.types import Obj
from kubeling.kubelet import envvars
from kubeling.kubelet.mount import Mounter, MountError
from kubeling.kubelet.tokens import TokenError

log = logging.getLogger(__name__)

Lookup = Callable[[str, str], Obj | None]
VolumeLookup = Callable[[str], Obj | None]  # a PersistentVolume by name
TokenSource = Callable[[Obj, Obj], str]  # (pod, serviceAccountToken projection) → the token
Files = dict[str, tuple[bytes, int]]  # relative path → (content, mode)

EMPTY_DIR = "kubernetes.io~empty-dir"
CONFIGMAP = "kubernetes.io~configmap"
SECRET = "kubernetes.io~secret"
DOWNWARD_API = "kubernetes.io~downward-api"
PROJECTED = "kubernetes.io~projected"
NFS = "kubernetes.io~nfs"
DEFAULT_MODE = 0o644


class VolumeError(Exception):
    """A volume cannot be set up yet (FailedMount): its ConfigMap or Secret is missing, a hostPath is wrong."""


class VolumeManager:
    def __init__(self, root_dir: str, configmap: Lookup, secret: Lookup, token: TokenSource | None = None, *,
                 claim: Lookup | None = None, volume: VolumeLookup | None = None,
                 local_path_dir: str = storage.LOCAL_PATH_DIR, mounter: Mounter | None = None) -> None:
        self.root = Path(root_dir)
        self.configmap, self.secret, self.token = configmap, secret, token
        self.claim, self.volume = claim, volume
        self.local_path_dir = local_path_dir
        self.mounter = mounter or Mounter()
        # (pod uid, volume name) → (host path, read-only): claims and NFS exports are resolved and mounted once.
        self._mounted: dict[tuple[str, str], tuple[str, bool]] = {}
        self._lock = threading.Lock()

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

    def read_only(self, uid: str, name: str) -> bool:
        """Whether the volume must be mounted read-only whatever the volumeMount says (the claim's or the NFS
        source's `readOnly`)."""
        with self._lock:
            return self._mounted.get((uid, name), ("", False))[1]

    def cleanup(self, uid: str) -> None:
        """Remove the pod's directory, after unmounting what is mounted in it: removing files through a live NFS
        mount would delete the share's data."""
        pod_dir = self.pod_dir(uid)
        for point in self.mounter.mounts_under(pod_dir):
            try:
                self.mounter.unmount(point)
            except MountError as exc:
                log.warning("pod %s: %s; its directory is kept until it can be unmounted", uid, exc)
                return
        with self._lock:
            for key in [k for k in self._mounted if k[0] == uid]:
                del self._mounted[key]
        shutil.rmtree(pod_dir, ignore_errors=True)

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
        if "persistentVolumeClaim" in volume or "nfs" in volume:
            return self._mount_once(uid, name, namespace, volume)
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

    def _mount_once(self, uid: str, name: str, namespace: str, volume: Obj) -> str:
        with self._lock:
            known = self._mounted.get((uid, name))
        if known is not None:
            return known[0]
        if "nfs" in volume:
            mounted = self._nfs(uid, name, volume["nfs"]), bool(volume["nfs"].get("readOnly"))
        else:
            mounted = self._claimed(uid, name, namespace, volume["persistentVolumeClaim"])
        with self._lock:
            self._mounted[(uid, name)] = mounted
        return mounted[0]

    def _claimed(self, uid: str, name: str, namespace: str, source: Obj) -> tuple[str, bool]:
        """(host path, read-only) of a claim's volume; VolumeError while the claim is missing or unbound."""
        claim_name = source.get("claimName", "")
        claim = self.claim(namespace, claim_name) if self.claim else None
        if claim is None:
            raise VolumeError(f'persistentvolumeclaim "{claim_name}" not found')
        volume_name = (claim.get("spec") or {}).get("volumeName") or ""
        if not storage.is_bound(claim):
            phase = (claim.get("status") or {}).get("phase") or ""
            raise VolumeError(f'PVC {namespace}/{claim_name} has non-bound phase ("{phase}") or empty '
                              f'pvc.Spec.VolumeName ("{volume_name}")')
        pv = self.volume(volume_name) if self.volume else None
        if pv is None:
            raise VolumeError(f'persistentvolume "{volume_name}" not found')
        path, read_only = self._volume_source(uid, name, pv)
        return path, read_only or bool(source.get("readOnly"))

    def _volume_source(self, uid: str, name: str, pv: Obj) -> tuple[str, bool]:
        spec, pv_name = pv.get("spec") or {}, pv["metadata"]["name"]
        if "hostPath" in spec:
            return host_path(spec["hostPath"]), False
        if "nfs" in spec:
            return self._nfs(uid, name, spec["nfs"]), bool(spec["nfs"].get("readOnly"))
        if "local" in spec:
            return self._local(pv_name, pv, spec["local"].get("path", "")), False
        kinds = [k for k in ("awsElasticBlockStore", "csi", "iscsi", "cephfs", "rbd", "fc") if k in spec]
        raise VolumeError(f'persistentvolume "{pv_name}": volume type {", ".join(kinds) or "unknown"} is not '
                          "supported by kubeling's kubelet")

    def _local(self, pv_name: str, pv: Obj, path: str) -> str:
        """A local volume's directory; one the local-path provisioner made is created here on first use, and
        refused when its path leaves --local-path-dir (a volume object must not reach the rest of the disk)."""
        annotations = pv["metadata"].get("annotations") or {}
        if annotations.get(storage.PROVISIONED_BY) == storage.LOCAL_PATH_PROVISIONER:
            if not storage.path_inside(self.local_path_dir, path):
                raise VolumeError(f'local-path volume "{pv_name}": path "{path}" is not inside '
                                  f"{self.local_path_dir}: refusing to mount it")
            directory = Path(path)
            if not directory.is_dir():
                directory.mkdir(parents=True, exist_ok=True)
                directory.chmod(0o777)  # as rancher's local-path: any container user may write to it
            return path
        if not Path(path).exists():
            raise VolumeError(f'local volume "{pv_name}": path "{path}" does not exist')
        return path

    def _nfs(self, uid: str, name: str, source: Obj) -> str:
        target = self.pod_dir(uid) / "volumes" / NFS / name
        try:
            self.mounter.mount_nfs(source.get("server", ""), source.get("path", ""), target,
                                   bool(source.get("readOnly")))
        except MountError as exc:
            raise VolumeError(str(exc)) from exc
        return str(target)

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
