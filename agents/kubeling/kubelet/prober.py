"""Liveness, readiness and startup probes: one worker thread per (container instance, probe), as upstream's prober.

A worker waits `initialDelaySeconds` after the container started, probes every `periodSeconds` with
`timeoutSeconds`, and flips its result after `successThreshold` successes or `failureThreshold` failures in a row.
Readiness and liveness wait until the startup probe (if any) has succeeded. Results start as upstream's:
liveness Success, readiness Failure (or what the pod status said, so a restarted kubelet does not flap Ready),
startup Unknown. Every change wakes the pod's sync.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from kubeling.api.types import Obj
from kubeling.kubelet.runtime import Runtime, parse_docker_time

log = logging.getLogger(__name__)

LIVENESS, READINESS, STARTUP = "Liveness", "Readiness", "Startup"
SPEC_FIELD = {LIVENESS: "livenessProbe", READINESS: "readinessProbe", STARTUP: "startupProbe"}
SUCCESS, FAILURE, UNKNOWN = "Success", "Failure", "Unknown"
USER_AGENT = "kube-probe/1.32"


def resolve_port(port: Any, container: Obj) -> int:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for candidate in container.get("ports") or []:
        if candidate.get("name") == port:
            return int(candidate["containerPort"])
    raise ValueError(f"unable to find port {port!r} in container")


def run_probe(probe: Obj, container: Obj, pod_ip: str, container_id: str, runtime: Runtime) -> tuple[bool, str]:
    """One attempt: (succeeded, message on failure)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    if probe.get("httpGet"):
        http = probe["httpGet"]
        host = http.get("host") or pod_ip
        scheme = (http.get("scheme") or "HTTP").lower()
        port = resolve_port(http.get("port"), container)
        path = http.get("path") or "/"
        url = f"{scheme}://{host}:{port}{path if path.startswith('/') else '/' + path}"
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        headers.update({h.get("name", ""): h.get("value", "") for h in http.get("httpHeaders") or []})
        try:
            response = requests.get(url, headers=headers, timeout=timeout, verify=False, allow_redirects=True)
        except requests.Timeout:
            return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        except requests.RequestException as exc:
            return False, f'Get "{url}": dial tcp {host}:{port}: connect: connection refused' if isinstance(
                exc, requests.ConnectionError) else f'Get "{url}": {exc}'
        with response:
            if 200 <= response.status_code < 400:
                return True, ""
            return False, f"HTTP probe failed with statuscode: {response.status_code}"
    if probe.get("tcpSocket"):
        tcp = probe["tcpSocket"]
        host = tcp.get("host") or pod_ip
        port = resolve_port(tcp.get("port"), container)
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True, ""
        except TimeoutError:
            return False, f"dial tcp {host}:{port}: i/o timeout"
        except OSError:
            return False, f"dial tcp {host}:{port}: connect: connection refused"
    if probe.get("exec"):
        command = [str(c) for c in probe["exec"].get("command") or []]
        try:
            code, output = runtime.exec(container_id, command, timeout)
        except TimeoutError:
            return False, f"command {command!r} timed out"
        except Exception as exc:
            return False, str(exc)
        return code == 0, output.strip()
    return True, ""  # grpc and unknown handlers: not supported, treated as passing


class Worker:
    def __init__(self, manager: ProbeManager, pod: Obj, container: Obj, container_id: str, started_at: str,
                 kind: str, initial: str) -> None:
        self.manager, self.pod, self.container = manager, pod, container
        self.container_id, self.kind = container_id, kind
        self.probe: Obj = container[SPEC_FIELD[kind]]
        self.started = parse_docker_time(started_at) or time.time()
        self.result = initial
        self.stop = threading.Event()
        self.uid = pod["metadata"]["uid"]
        self.thread = threading.Thread(target=self._run, name=f"probe {kind} {container['name']}", daemon=True)

    def _run(self) -> None:
        delay = self.started + float(self.probe.get("initialDelaySeconds") or 0) - time.time()
        if delay > 0 and self.stop.wait(delay):
            return
        period = float(self.probe.get("periodSeconds") or 10)
        success_threshold = int(self.probe.get("successThreshold") or 1)
        failure_threshold = int(self.probe.get("failureThreshold") or 3)
        successes = failures = 0
        while not self.stop.is_set():
            if self.kind != STARTUP and not self.manager.started(self.uid, self.container["name"], self.container_id):
                if self.stop.wait(min(period, 1.0)):
                    return
                continue
            ok, message = run_probe(self.probe, self.container, self.manager.pod_ip(self.uid), self.container_id,
                                    self.manager.runtime)
            if self.stop.is_set():
                return
            if ok:
                successes, failures = successes + 1, 0
                if successes >= success_threshold:
                    self._set(SUCCESS)
            else:
                successes, failures = 0, failures + 1
                self.manager.recorder(self.pod, "Warning", "Unhealthy", f"{self.kind} probe failed: {message}")
                if failures >= failure_threshold:
                    self._set(FAILURE)
            if self.kind == STARTUP and self.result == SUCCESS:
                return  # a startup probe is done once it succeeds
            if self.kind in (LIVENESS, STARTUP) and self.result == FAILURE:
                return  # the container is killed; its successor gets a fresh worker
            if self.stop.wait(period):
                return

    def _set(self, result: str) -> None:
        if result != self.result:
            self.result = result
            self.manager.on_change(self.uid)


class ProbeManager:
    def __init__(self, runtime: Runtime, on_change: Callable[[str], None],
                 recorder: Callable[[Obj, str, str, str], None]) -> None:
        self.runtime, self.on_change, self.recorder = runtime, on_change, recorder
        self._workers: dict[tuple[str, str, str], Worker] = {}  # (pod uid, container name, kind) → worker
        self._pod_ips: dict[str, str] = {}
        self._lock = threading.Lock()

    def pod_ip(self, uid: str) -> str:
        with self._lock:
            return self._pod_ips.get(uid, "")

    def ensure(self, pod: Obj, container: Obj, container_id: str, started_at: str, pod_ip: str,
               was_ready: bool) -> None:
        """Probe this running container instance (replacing workers of its predecessor)."""
        uid = pod["metadata"]["uid"]
        with self._lock:
            self._pod_ips[uid] = pod_ip
            for kind, field in SPEC_FIELD.items():
                key = (uid, container["name"], kind)
                worker = self._workers.get(key)
                if not container.get(field):
                    if worker:
                        worker.stop.set()
                        del self._workers[key]
                    continue
                if worker and worker.container_id == container_id:
                    continue
                if worker:
                    worker.stop.set()
                initial = {LIVENESS: SUCCESS, STARTUP: UNKNOWN,
                           READINESS: SUCCESS if was_ready else FAILURE}[kind]
                worker = Worker(self, pod, container, container_id, started_at, kind, initial)
                self._workers[key] = worker
                worker.thread.start()

    def forget(self, uid: str, container_name: str | None = None, keep_id: str | None = None) -> None:
        """Stop the workers of a pod (or of one container unless they probe `keep_id`)."""
        with self._lock:
            for key in list(self._workers):
                if key[0] != uid or (container_name is not None and key[1] != container_name):
                    continue
                if keep_id is not None and self._workers[key].container_id == keep_id:
                    continue
                self._workers.pop(key).stop.set()
            if container_name is None:
                self._pod_ips.pop(uid, None)

    def _result(self, uid: str, name: str, container_id: str, kind: str) -> str | None:
        with self._lock:
            worker = self._workers.get((uid, name, kind))
        if worker is None or worker.container_id != container_id:
            return None
        return worker.result

    def started(self, uid: str, name: str, container_id: str) -> bool:
        result = self._result(uid, name, container_id, STARTUP)
        return result is None or result == SUCCESS

    def ready(self, uid: str, name: str, container_id: str) -> bool:
        result = self._result(uid, name, container_id, READINESS)
        return result is None or result == SUCCESS

    def failed(self, uid: str, name: str, container_id: str) -> str | None:
        """`Liveness` or `Startup` when that probe says the container must be restarted."""
        for kind in (STARTUP, LIVENESS):
            if self._result(uid, name, container_id, kind) == FAILURE:
                return kind
        return None
