"""Shared helpers for the kubelet e2e tests: a real kubelet process on the real Docker engine, with its own API
server (unique etcd prefix), and small API helpers. Every container a test kubelet creates carries the label
`io.kubeling.node=<node>`, which is how teardown finds (and removes) them even after a failure.
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from cluster import ROOT, KubelingProcess, free_port

Obj = dict[str, Any]

BUSYBOX = "kubeling/busybox:1"
PAUSE = "kubeling/pause:1"
POD_CIDR = "10.244.7.0/24"  # the test node's range, unless another run on this host is using it
KUBECTL = "/usr/bin/kubectl"


def ensure_images() -> None:
    """Docker must answer, and the local images must exist (scripts/build-images.sh builds them)."""
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        raise RuntimeError("Docker is not running: start it with scripts/ensure-docker.sh (make test does)")
    script = ROOT / "scripts" / "build-images.sh"
    if script.exists():
        subprocess.run(["bash", str(script)], check=True, capture_output=True, timeout=300)
    missing = [image for image in (BUSYBOX, PAUSE)
               if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0]
    if missing:
        raise RuntimeError(f"missing images {missing}: run scripts/build-images.sh")


def free_pod_cidr() -> str:
    """POD_CIDR, or (when a concurrent test run's Docker network holds it) the first free 10.244.2xx.0/24."""
    ids = subprocess.run(["docker", "network", "ls", "-q"], capture_output=True, text=True).stdout.split()
    out = subprocess.run(["docker", "network", "inspect", "--format",
                          "{{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids], capture_output=True, text=True).stdout
    taken = [ipaddress.ip_network(s, strict=False) for s in out.split() if "." in s]
    for candidate in [POD_CIDR] + [f"10.244.{n}.0/24" for n in range(200, 255)]:
        network = ipaddress.ip_network(candidate)
        if not any(network.overlaps(other) for other in taken):
            return candidate
    raise RuntimeError("no free /24 for the test node's pods")


def remove_node_containers(node: str) -> None:
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.kubeling.node={node}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True)


def node_containers(node: str, pod_uid: str | None = None) -> dict[str, str]:
    """container id → docker name for the node's containers (or one pod's), running or not."""
    filters = ["--filter", f"label=io.kubeling.node={node}"]
    if pod_uid:
        filters += ["--filter", f"label=io.kubernetes.pod.uid={pod_uid}"]
    out = subprocess.run(["docker", "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}", *filters],
                         capture_output=True, text=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())


class KubeletProcess(KubelingProcess):
    def __init__(self, server: str, workdir: Path, node: str, network: str, extra: list[str] | None = None,
                 pod_cidr: str = POD_CIDR) -> None:
        self.server, self.workdir, self.node, self.network = server, workdir, node, network
        self.pod_cidr = pod_cidr
        self.port = free_port()
        self.healthz_port = free_port()  # the plain loopback /healthz (upstream's 10248), one per test kubelet
        self.root_dir = workdir / "kubelet-root"
        self.extra = extra or []
        self.log_path = workdir / f"kubelet-{node}.log"

    @property
    def url(self) -> str:
        scheme = "https" if "--tls-cert-file" in self.extra else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> KubeletProcess:
        self.spawn(
            ["kubelet", "--master", self.server, "--pod-cidr", self.pod_cidr,
             "--hostname-override", self.node, "--root-dir", str(self.root_dir), "--node-ip", "127.0.0.1",
             "--address", "127.0.0.1", "--port", str(self.port), "--docker-network", self.network,
             "--healthz-port", str(self.healthz_port), "--node-status-update-frequency", "1s",
             "--non-masquerade-cidr", "",  # leave the host's nat table alone in tests
             *self.extra],
            f"http://127.0.0.1:{self.healthz_port}/healthz" if wait else None)
        return self


class Api:
    """Just enough of the API for the tests, with plain requests (what the user sends, what the user gets)."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.http = requests.Session()

    def url(self, path: str) -> str:
        return self.server + path

    def namespace(self) -> str:
        name = f"kl-{uuid.uuid4().hex[:8]}"
        self.http.post(self.url("/api/v1/namespaces"),
                       json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).raise_for_status()
        return name

    def create(self, namespace: str, plural: str, obj: Obj) -> Obj:
        response = self.http.post(self.url(f"/api/v1/namespaces/{namespace}/{plural}"), json=obj)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, namespace: str, plural: str, name: str) -> Obj | None:
        response = self.http.get(self.url(f"/api/v1/namespaces/{namespace}/{plural}/{name}"))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def patch(self, namespace: str, plural: str, name: str, patch: Obj) -> Obj:
        response = self.http.patch(self.url(f"/api/v1/namespaces/{namespace}/{plural}/{name}"), json=patch,
                                   headers={"Content-Type": "application/merge-patch+json"})
        response.raise_for_status()
        return response.json()

    def delete(self, namespace: str, plural: str, name: str, grace: int | None = None) -> None:
        body = {} if grace is None else {"gracePeriodSeconds": grace}
        response = self.http.delete(self.url(f"/api/v1/namespaces/{namespace}/{plural}/{name}"), json=body)
        assert response.status_code in (200, 202, 404), response.text

    def events(self, namespace: str, name: str) -> list[Obj]:
        response = self.http.get(self.url(f"/api/v1/namespaces/{namespace}/events"),
                                 params={"fieldSelector": f"involvedObject.name={name}"})
        response.raise_for_status()
        return response.json().get("items") or []

    def wait_pod(self, namespace: str, name: str, check: Callable[[Obj], bool], timeout: float = 30.0,
                 what: str = "") -> Obj:
        deadline = time.monotonic() + timeout
        pod = None
        while time.monotonic() < deadline:
            pod = self.get(namespace, "pods", name)
            if pod is not None and check(pod):
                return pod
            time.sleep(0.1)
        raise AssertionError(f"pod {namespace}/{name}: timed out waiting for {what or check}; last seen:\n"
                             f"{(pod or {}).get('status')}")

    def wait_gone(self, namespace: str, name: str, timeout: float = 30.0) -> float:
        """Seconds until the pod is gone from the API."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.get(namespace, "pods", name) is None:
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"pod {namespace}/{name} still exists after {timeout}s")

    def wait_event(self, namespace: str, name: str, reason: str, contains: str = "", timeout: float = 15.0) -> Obj:
        deadline = time.monotonic() + timeout
        seen: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            events = self.events(namespace, name)
            seen = [(e.get("reason", ""), e.get("message", "")) for e in events]
            for event in events:
                if event.get("reason") == reason and contains in event.get("message", ""):
                    return event
            time.sleep(0.2)
        raise AssertionError(f"no {reason} event containing {contains!r} for {name}; saw {seen}")


def pod(name: str, node: str, containers: list[Obj], **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": containers, **spec}}


def container(name: str, script: str, **extra: Any) -> Obj:
    return {"name": name, "image": BUSYBOX, "command": ["sh", "-c", script], **extra}


def status_of(pod_obj: Obj, name: str, init: bool = False) -> Obj:
    key = "initContainerStatuses" if init else "containerStatuses"
    for entry in (pod_obj.get("status") or {}).get(key) or []:
        if entry.get("name") == name:
            return entry
    return {}


def condition(pod_obj: Obj, kind: str) -> Obj:
    for entry in (pod_obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return entry
    return {}


def running(pod_obj: Obj) -> bool:
    return (pod_obj.get("status") or {}).get("phase") == "Running"


def ready(pod_obj: Obj) -> bool:
    return condition(pod_obj, "Ready").get("status") == "True"


def kubectl(server: str, cache: Path, *args: str, check: bool = True, timeout: float = 30) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cache), "KUBECONFIG": "/dev/null"}
    result = subprocess.run([KUBECTL, f"--server={server}", f"--cache-dir={cache}", *args], capture_output=True,
                            text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout if check else result.stdout + result.stderr


def logs_until(server: str, cache: Path, namespace: str, name: str, wanted: str, *args: str,
               timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError):
            out = kubectl(server, cache, "logs", "-n", namespace, name, *args)
            if wanted in out:
                return out
        time.sleep(0.2)
    raise AssertionError(f"{wanted!r} never showed in the logs of {name}; last:\n{out}")
