"""Start real etcd and a real API server for tests and benchmarks, on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


class Etcd:
    def __init__(self, workdir: Path, quota_bytes: int = 4 * 1024**3) -> None:
        self.workdir = workdir
        self.quota_bytes = quota_bytes
        self.port = free_port()
        self.peer_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Etcd:
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        self.log = open(self.workdir / "etcd.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [etcd, "--data-dir", str(self.workdir / "etcd-data"), "--name", "test",
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
             "--initial-cluster", f"test=http://127.0.0.1:{self.peer_port}",
             "--quota-backend-bytes", str(self.quota_bytes)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_for(self.url + "/health", proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class APIServer:
    def __init__(self, etcd_url: str, workdir: Path, prefix: str = "/registry", extra: list[str] | None = None):
        self.etcd_url = etcd_url
        self.workdir = workdir
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra or []
        self.proc: subprocess.Popen | None = None

    def start(self) -> APIServer:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "agents")}
        self.log = open(self.workdir / f"apiserver-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubeling", "apiserver", "--etcd-servers", self.etcd_url,
             "--etcd-prefix", self.prefix, "--port", str(self.port), *self.extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        wait_for(self.url + "/readyz", proc=self.proc)
        return self

    def stop(self) -> None:
        stop_group(self.proc)


def stop_group(proc: subprocess.Popen | None) -> None:
    """Stop a process and everything it started (gunicorn forks a worker)."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextlib.contextmanager
def control_plane(prefix: str = "/registry") -> Iterator[tuple[Etcd, APIServer]]:
    workdir = Path(tempfile.mkdtemp(prefix="kubeling-test-"))
    etcd = Etcd(workdir).start()
    try:
        server = APIServer(etcd.url, workdir, prefix).start()
        try:
            yield etcd, server
        finally:
            server.stop()
    finally:
        etcd.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class KubelingProcess:
    """A `kubeling <component> …` child process logging to a file, stopped as a service manager (or a crash) would."""

    proc: subprocess.Popen | None = None
    log_path: Path

    def spawn(self, argv: list[str], health_url: str | None) -> None:
        """Start `kubeling *argv` from this checkout; wait for `health_url` to answer when one is given."""
        env = {**os.environ, "PYTHONPATH": str(ROOT / "agents")}
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen([sys.executable, "-m", "kubeling", *argv], stdout=log,
                                     stderr=subprocess.STDOUT, env=env)
        if health_url:
            wait_for(health_url, proc=self.proc)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as when a machine dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it: components exit cleanly well within a second."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Component(KubelingProcess):
    """A `kubeling <component>` process (scheduler, controller-manager, …) pointed at an API server."""

    def __init__(self, name: str, server_url: str, workdir: Path, args: list[str] | None = None) -> None:
        self.name, self.server_url, self.workdir = name, server_url, workdir
        self.args = args or []
        self.health_port = free_port()
        self.log_path = self.workdir / f"{self.name}-{self.health_port}.log"

    def start(self) -> Component:
        self.spawn([self.name, "--master", self.server_url, "--port", str(self.health_port), *self.args],
                   f"http://127.0.0.1:{self.health_port}/healthz")
        return self


Part = TypeVar("Part")


class Stack(contextlib.ExitStack):
    """The parts of a test cluster (API server, components, stand-ins): each is stopped, in the reverse order of
    starting, when the block ends, also when a later part fails to start."""

    def start(self, part: Part) -> Part:
        started: Any = part
        started.start()
        self.callback(started.stop)
        return part

    def apiserver(self, etcd_url: str, workdir: Path, name: str) -> APIServer:
        """An API server of one's own, on a fresh etcd prefix: for tests that register nodes or run a scheduler,
        which must not see the nodes and pods of other tests."""
        return self.start(APIServer(etcd_url, workdir, prefix=f"/{name}-{uuid.uuid4().hex[:8]}"))
