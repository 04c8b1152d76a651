"""Test stand-ins for what the kubelet does, for control-plane tests that run no kubelet.

`register_node` writes a Node object as a kubelet would; `KubeletStandIn` watches pods bound to its nodes and
writes only their status (Running and Ready, or a given phase), and finishes graceful deletions, which is all
the control plane sees of a real kubelet. The real kubelet has its own tests.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import time
from typing import Any

import requests

Obj = dict[str, Any]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_manifest(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
                  labels: dict[str, str] | None = None, taints: list[Obj] | None = None, ready: bool = True) -> Obj:
    capacity = {"cpu": cpu, "memory": memory, "pods": pods}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                               **(labels or {})}},
        "spec": {"taints": taints or []},
        "status": {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status", "lastHeartbeatTime": now(),
                            "lastTransitionTime": now()}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.32.4", "architecture": "amd64", "operatingSystem": "linux",
                         "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1", "containerRuntimeVersion":
                         "docker://20.10", "kubeProxyVersion": "v1.32.4", "bootID": "", "machineID": "",
                         "systemUUID": ""},
        },
    }


def register_node(server: str, name: str, **kwargs: Any) -> Obj:
    """Create (or replace) a Node and its Lease in kube-node-lease, as a kubelet does on start."""
    session = requests.Session()
    node = node_manifest(name, **kwargs)
    response = session.post(f"{server}/api/v1/nodes", json=node)
    if response.status_code == 409:
        current = session.get(f"{server}/api/v1/nodes/{name}").json()
        node["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        response = session.put(f"{server}/api/v1/nodes/{name}", json=node)
        current = response.json()
        current["status"] = node["status"]
        response = session.put(f"{server}/api/v1/nodes/{name}/status", json=current)
    response.raise_for_status()
    renew_lease(server, name, session)
    return response.json()


def renew_lease(server: str, node: str, session: requests.Session | None = None) -> None:
    session = session or requests.Session()
    url = f"{server}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": node, "namespace": "kube-node-lease"},
             "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": stamp}}
    if session.post(url, json=lease).status_code == 409:
        session.patch(f"{url}/{node}", json={"spec": {"renewTime": stamp}},
                      headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()


class KubeletStandIn:
    """Marks pods bound to `nodes` Running and Ready, renews the nodes' Leases, finishes pod deletions."""

    def __init__(self, server: str, nodes: list[str], ready_delay: float = 0.0) -> None:
        self.server, self.nodes = server, set(nodes)
        self.ready_delay = ready_delay
        self.paused: set[str] = set()  # nodes whose "kubelet" has died: no status, no lease renewals
        self.phase_for: dict[str, str] = {}  # pod name prefix → terminal phase to report (Succeeded/Failed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.session = requests.Session()

    def start(self) -> KubeletStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        last_lease = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_lease > 2:
                for node in self.nodes - self.paused:
                    with contextlib.suppress(requests.RequestException):
                        renew_lease(self.server, node, self.session)
                last_lease = time.monotonic()
            with contextlib.suppress(requests.RequestException):
                self._sync_pods()
            self._stop.wait(0.2)

    def _sync_pods(self) -> None:
        pods = self.session.get(f"{self.server}/api/v1/pods").json().get("items", [])
        for pod in pods:
            node = pod.get("spec", {}).get("nodeName")
            if node not in self.nodes or node in self.paused:
                continue
            meta = pod["metadata"]
            base = f"{self.server}/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
            if meta.get("deletionTimestamp"):
                self.session.delete(base, json={"gracePeriodSeconds": 0})
                continue
            phase = "Running"
            for prefix, wanted in self.phase_for.items():
                if meta["name"].startswith(prefix):
                    phase = wanted
            status = pod.get("status", {})
            if status.get("phase") == phase and status.get("podIP"):
                continue
            created = datetime.datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
            if (datetime.datetime.now(datetime.UTC) - created).total_seconds() < self.ready_delay:
                continue
            pod["status"] = self._status(pod, phase)
            self.session.put(f"{base}/status", json=pod)

    @staticmethod
    def _status(pod: Obj, phase: str) -> Obj:
        running = phase == "Running"
        stamp = now()
        containers = []
        for container in pod["spec"]["containers"]:
            state = ({"running": {"startedAt": stamp}} if running else
                     {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1,
                                     "reason": "Completed" if phase == "Succeeded" else "Error",
                                     "startedAt": stamp, "finishedAt": stamp}})
            containers.append({"name": container["name"], "image": container.get("image", ""),
                               "imageID": "", "ready": running, "restartCount": 0, "started": running,
                               "state": state})
        conditions = [{"type": t, "status": "True" if (running or t in ("PodScheduled", "Initialized")) else "False",
                       "lastTransitionTime": stamp} for t in ("PodScheduled", "Initialized", "ContainersReady",
                                                              "Ready")]
        number = int(pod["metadata"]["uid"].replace("-", ""), 16) % 60000
        ip = f"10.244.{number // 250}.{number % 250 + 1}"
        return {**pod.get("status", {}), "phase": phase, "conditions": conditions, "podIP": ip,
                "podIPs": [{"ip": ip}], "hostIP": "127.0.0.1", "startTime": stamp,
                "containerStatuses": containers}
