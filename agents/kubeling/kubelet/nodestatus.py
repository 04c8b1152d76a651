"""The kubelet's Node: registration, status from the host, and the heartbeat Lease in kube-node-lease.

As upstream since node leases: the Lease is renewed every `--node-status-update-frequency`; the Node's status is
recomputed as often but written only when it changed or a few minutes passed (`nodeStatusReportFrequency`).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import platform
import shutil
import socket
import time
from pathlib import Path

from kubeling import KUBERNETES_VERSION
from kubeling.api import meta
from kubeling.api.conditions import find_condition, transition_time
from kubeling.api.resources import must_lookup
from kubeling.api.types import Condition, Obj
from kubeling.client import AlreadyExists, Client, Conflict, NotFound
from kubeling.client.api import STRATEGIC_PATCH

log = logging.getLogger(__name__)

NODES = must_lookup("", "nodes")
LEASES = must_lookup("coordination.k8s.io", "leases")
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40
REPORT_FREQUENCY = 300.0
MAX_IMAGES = 50
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}
EVICTION_MEMORY = 100 * 1024 * 1024  # upstream's default hard eviction threshold, memory.available<100Mi


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def default_node_ip() -> str:
    """The address of the interface the default route goes out of (the source address for an outside peer)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.254", 9))  # UDP connect sends nothing; it only picks a route
        return sock.getsockname()[0]
    return "127.0.0.1"


def os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def memory_bytes() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def capacity(root_dir: str) -> tuple[dict[str, str], dict[str, str]]:
    """(capacity, allocatable): what the host has, and what is left after upstream's default eviction margins."""
    memory = memory_bytes()
    try:
        usage = shutil.disk_usage(root_dir)
        storage = usage.total
    except OSError:
        storage = 0
    cap = {"cpu": str(os.cpu_count() or 1), "memory": f"{memory // 1024}Ki", "pods": "110",
           "ephemeral-storage": f"{storage // 1024}Ki"}
    alloc = dict(cap)
    alloc["memory"] = f"{max(memory - EVICTION_MEMORY, 0) // 1024}Ki"
    alloc["ephemeral-storage"] = str(storage * 9 // 10)  # nodefs.available<10%
    return cap, alloc


def node_info(runtime_version: str) -> dict[str, str]:
    return {
        "machineID": _read("/etc/machine-id"),
        "systemUUID": _read("/sys/class/dmi/id/product_uuid").lower(),
        "bootID": _read("/proc/sys/kernel/random/boot_id"),
        "kernelVersion": platform.release(),
        "osImage": os_image(),
        "containerRuntimeVersion": f"docker://{runtime_version}",
        "kubeletVersion": KUBERNETES_VERSION,
        "kubeProxyVersion": KUBERNETES_VERSION,
        "operatingSystem": "linux",
        "architecture": ARCHITECTURES.get(platform.machine(), platform.machine()),
    }


def node_labels(name: str) -> dict[str, str]:
    arch = ARCHITECTURES.get(platform.machine(), platform.machine())
    return {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch}


def _condition(kind: str, healthy: bool, reason: str, message: str, old: list[Condition], now: str,
               good: str = "False") -> Condition:
    value = good if healthy else ("True" if good == "False" else "False")
    since = transition_time(find_condition(old, kind), value, now)
    return {"type": kind, "status": value, "reason": reason, "message": message, "lastHeartbeatTime": now,
            "lastTransitionTime": since}


class NodeStatus:
    def __init__(self, client: Client, name: str, node_ip: str, port: int, root_dir: str,
                 pod_cidr: str | None = None) -> None:
        self.client, self.name, self.node_ip, self.port = client, name, node_ip, port
        self.root_dir, self.pod_cidr = root_dir, pod_cidr
        self.uid = ""
        self._last_written: Obj | None = None
        self._last_write = 0.0

    def status(self, runtime_error: str | None, runtime_version: str, images: list[Obj], old: Obj) -> Obj:
        now = meta.now()
        cap, alloc = capacity(self.root_dir)
        conditions = old.get("conditions") or []
        ready_reason = "KubeletReady" if runtime_error is None else "KubeletNotReady"
        ready_message = ("kubelet is posting ready status" if runtime_error is None
                         else f"container runtime is down: {runtime_error}")
        return {
            "capacity": cap, "allocatable": alloc,
            "conditions": [
                _condition("MemoryPressure", True, "KubeletHasSufficientMemory",
                           "kubelet has sufficient memory available", conditions, now),
                _condition("DiskPressure", True, "KubeletHasNoDiskPressure", "kubelet has no disk pressure",
                           conditions, now),
                _condition("PIDPressure", True, "KubeletHasSufficientPID", "kubelet has sufficient PID available",
                           conditions, now),
                _condition("Ready", runtime_error is None, ready_reason, ready_message, conditions, now, "True"),
            ],
            "addresses": [{"type": "InternalIP", "address": self.node_ip}, {"type": "Hostname", "address": self.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": node_info(runtime_version),
            "images": images[:MAX_IMAGES],
        }

    def register(self, status: Obj) -> Obj:
        """Create our Node (or adopt the existing one) and write its status; returns the Node."""
        node: Obj = {"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": self.name, "labels": node_labels(self.name)}, "spec": {},
                     "status": status}  # as upstream, in the create (the status write below follows anyway)
        if self.pod_cidr:
            node["spec"] = {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]}
        try:
            created = self.client.create(NODES, node)
            log.info("registered node %s", self.name)
        except AlreadyExists:
            created = self.client.get(NODES, self.name)
            patch: Obj = {"metadata": {"labels": node_labels(self.name)}}
            if self.pod_cidr and not (created.get("spec") or {}).get("podCIDR"):
                patch["spec"] = node["spec"]
            created = self.client.patch(NODES, self.name, patch)
            log.info("node %s already registered; adopting it", self.name)
        self.uid = created["metadata"]["uid"]
        return self.write(status, force=True) or created

    def write(self, status: Obj, force: bool = False) -> Obj | None:
        """Patch the status when it changed (heartbeat times aside) or the report period passed."""
        comparable = _without_heartbeats(status)
        due = time.monotonic() - self._last_write > REPORT_FREQUENCY
        if not force and not due and comparable == self._last_written and self._server_agrees(status):
            return None
        node = self.client.patch(NODES, self.name, {"status": status}, patch_type=STRATEGIC_PATCH,
                                 subresource="status")
        self._last_written, self._last_write = comparable, time.monotonic()
        return node

    def get(self) -> Obj:
        return self.client.get(NODES, self.name)

    def _server_agrees(self, status: Obj) -> bool:
        """Whether the Node's conditions still say what we last wrote: the node lifecycle controller sets them to
        Unknown while we are away, and upstream's kubelet, which reads the Node before each update, puts them
        back at once rather than at the next report period."""
        try:
            current = self.get().get("status") or {}
        except Exception:
            return True  # the next loop writes anyway when the API server answers again

        def conditions(of: Obj) -> dict[str, str]:
            return {c.get("type", ""): c.get("status", "") for c in of.get("conditions") or []}

        return conditions(current) == conditions(status)

    def renew_lease(self) -> None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_DURATION, "renewTime": stamp}
        try:
            self.client.patch(LEASES, self.name, {"spec": spec}, LEASE_NAMESPACE)
            return
        except NotFound:
            pass
        lease: Obj = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                      "metadata": {"name": self.name, "namespace": LEASE_NAMESPACE},
                      "spec": {**spec, "acquireTime": stamp}}
        if self.uid:
            lease["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.name,
                                                     "uid": self.uid}]
        with contextlib.suppress(AlreadyExists, Conflict):
            self.client.create(LEASES, lease, LEASE_NAMESPACE)


def _without_heartbeats(status: Obj) -> Obj:
    copy = dict(status)
    copy["conditions"] = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in status["conditions"]]
    return copy


def image_list(images: list[Obj]) -> list[Obj]:
    """Docker's image list as Node.status.images, biggest first (as upstream)."""
    result = []
    for image in sorted(images, key=lambda i: i.get("Size", 0), reverse=True):
        names = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        names += [d for d in image.get("RepoDigests") or [] if not d.startswith("<none>")]
        if names:
            result.append({"names": names, "sizeBytes": int(image.get("Size") or 0)})
    return result
