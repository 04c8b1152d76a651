"""The container runtime: the Docker Engine API, through the `docker` package's low-level client.

Everything the kubelet knows about a container is in its labels (pod uid, names, kind, restart count), so a
restarted kubelet rebuilds its view from `docker ps` alone. Names are deterministic
(`k8s_<container>_<pod>_<namespace>_<uid>_<restartCount>`, as dockershim's): creating the same container twice is
a name conflict, never a duplicate.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import datetime
import ipaddress
import json
import logging
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import docker.errors
from docker.utils import kwargs_from_env, parse_repository_tag

from kubeling.api.types import Obj
from kubeling.fastpath.docker_pool import share_one_pool

log = logging.getLogger(__name__)

LABEL_NODE = "io.kubeling.node"
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER = "io.kubernetes.container.name"
LABEL_KIND = "io.kubeling.kind"  # sandbox, init or app
LABEL_RESTART_COUNT = "io.kubeling.restart-count"
LABEL_SANDBOX = "io.kubeling.sandbox"  # the sandbox a container joined
LABEL_HASH = "io.kubeling.hash"  # of the container's spec, to notice image changes
LABEL_IMAGE = "io.kubeling.image"  # the image as the pod spec names it
SANDBOX = "POD"

API_VERSION = "1.41"
DEFAULT_ENGINE = "unix:///var/run/docker.sock"
IMAGE_CACHE_SECONDS = 10.0  # how long "this image is here" is trusted without asking Docker again


@dataclasses.dataclass
class ContainerRecord:
    """One Docker container of a pod, as `docker ps` plus (for start and finish times) `docker inspect` see it."""

    id: str
    name: str  # the container's name in the pod spec, or POD for the sandbox
    kind: str
    pod_uid: str
    restart_count: int
    state: str  # created, running, exited, dead, paused, restarting, removing
    created: float
    image: str = ""
    image_id: str = ""
    ip: str = ""
    sandbox_id: str = ""
    hash: str = ""
    started_at: str = ""
    finished_at: str = ""
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.state in ("running", "paused", "restarting")

    @property
    def exited(self) -> bool:
        """Stopped for good: it ran and ended, or it was created but never could start."""
        return self.state in ("exited", "dead") or (self.state == "created" and bool(self.error))


def docker_time(text: str | None) -> str:
    """Docker's nanosecond RFC 3339 → the API's whole-second form; '' for Docker's zero time."""
    if not text or text.startswith("0001-"):
        return ""
    head = text.split(".")[0].rstrip("Z")
    return head + "Z"


def parse_docker_time(text: str | None) -> float:
    stamp = docker_time(text)
    if not stamp:
        return 0.0
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class _Timed:
    """With --v 4 and up, every Docker call is logged with its duration (where does a slow pod start go?)."""

    def __init__(self, api: docker.APIClient) -> None:
        self._api = api

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._api, name)
        if not callable(attribute) or name in ("events", "logs"):
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return attribute(*args, **kwargs)
            finally:
                log.debug("docker %s took %.3fs", name, time.monotonic() - started)

        return timed


class Runtime:
    def __init__(self, node: str, network: str, base_url: str | None = None, pool_size: int = 64) -> None:
        self.node, self.network = node, network
        kwargs = kwargs_from_env()
        if base_url:
            kwargs["base_url"] = base_url
        # A fixed API version (Docker 20.10's; newer engines still serve it): "auto" would ask the engine at
        # once, and the kubelet must start (and report NotReady) while Docker is down.
        kwargs.setdefault("version", API_VERSION)
        self.api = docker.APIClient(timeout=120, max_pool_size=pool_size, **kwargs)
        share_one_pool(self.api)  # speed only: kept-alive connections to the engine (fastpath/docker_pool.py)
        self._engine = kwargs.get("base_url") or DEFAULT_ENGINE  # where interactive streams dial (see _hijack)
        if log.isEnabledFor(logging.DEBUG):
            self.api = _Timed(self.api)
        self._details: dict[str, tuple[str, Obj]] = {}  # container id → (state when inspected, inspect subset)
        self._images: dict[str, tuple[str, float]] = {}  # image as a pod names it → (its id, when Docker said so)
        self._lock = threading.Lock()

    # The engine

    def version(self) -> str:
        return str(self.api.version().get("Version", "unknown"))

    def ping(self) -> None:
        self.api.ping()

    def ensure_network(self, cidr: str) -> None:
        """A bridge network for pods with subnet = the node's pod CIDR and Docker's own masquerade off (see the
        package docstring: the kubelet's masquerade leaves cluster traffic alone)."""
        net = ipaddress.ip_network(cidr, strict=False)
        gateway = str(next(net.hosts()))
        for existing in self.api.networks(names=[self.network]):
            if existing.get("Name") != self.network:
                continue
            details = self.api.inspect_network(existing["Id"])
            configs = (details.get("IPAM") or {}).get("Config") or []
            if any(c.get("Subnet") == str(net) for c in configs):
                return
            if details.get("Containers"):
                raise RuntimeError(f"docker network {self.network} has subnet {configs} but the pod CIDR is {net},"
                                   f" and containers still use it")
            log.info("recreating docker network %s for pod CIDR %s", self.network, net)
            self.api.remove_network(existing["Id"])
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(net), gateway=gateway)])
        self.api.create_network(
            self.network, driver="bridge", ipam=ipam, labels={LABEL_NODE: self.node},
            options={"com.docker.network.bridge.enable_ip_masquerade": "false"},
        )

    # Containers

    def list(self, pod_uid: str | None = None) -> list[ContainerRecord]:
        """Every container of this node (or of one pod), with start/finish details filled in."""
        labels = [f"{LABEL_NODE}={self.node}"]
        if pod_uid:
            labels.append(f"{LABEL_POD_UID}={pod_uid}")
        rows = self.api.containers(all=True, filters={"label": labels})
        records = [self._record(row) for row in rows]
        if len(self._details) > 4096:
            with self._lock:
                self._details.clear()
        return records

    def states(self) -> dict[str, tuple[str, str]]:
        """container id → (pod uid, state) for every container of this node: one cheap `docker ps`."""
        rows = self.api.containers(all=True, filters={"label": [f"{LABEL_NODE}={self.node}"]})
        return {row["Id"]: ((row.get("Labels") or {}).get(LABEL_POD_UID, ""), row.get("State", "")) for row in rows}

    def _record(self, row: Obj) -> ContainerRecord:
        labels = row.get("Labels") or {}
        networks = (row.get("NetworkSettings") or {}).get("Networks") or {}
        ip = (networks.get(self.network) or {}).get("IPAddress", "")
        record = ContainerRecord(
            id=row["Id"], name=labels.get(LABEL_CONTAINER, ""), kind=labels.get(LABEL_KIND, "app"),
            pod_uid=labels.get(LABEL_POD_UID, ""), restart_count=int(labels.get(LABEL_RESTART_COUNT, "0") or 0),
            state=row.get("State", ""), created=float(row.get("Created") or 0), image=labels.get(LABEL_IMAGE, ""),
            image_id=row.get("ImageID", ""), ip=ip, sandbox_id=labels.get(LABEL_SANDBOX, ""),
            hash=labels.get(LABEL_HASH, ""), labels=labels,
        )
        # Start and finish times only change with the state, so each container is inspected once per state.
        details = self._inspect_cached(record.id, record.state)
        if details:
            state = details.get("State") or {}
            record.started_at = docker_time(state.get("StartedAt"))
            record.finished_at = docker_time(state.get("FinishedAt"))
            record.exit_code = int(state.get("ExitCode") or 0)
            record.oom_killed = bool(state.get("OOMKilled"))
            record.error = state.get("Error") or ""
        return record

    def _inspect_cached(self, container_id: str, state: str) -> Obj | None:
        with self._lock:
            cached = self._details.get(container_id)
        if cached and cached[0] == state:
            return cached[1]
        try:
            details = self.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        return self._remember(container_id, state, details)

    def _remember(self, container_id: str, state: str, details: Obj) -> Obj:
        subset = {"State": details.get("State") or {}}
        with self._lock:
            self._details[container_id] = (state, subset)
        return subset

    def forget(self, container_id: str) -> None:
        with self._lock:
            self._details.pop(container_id, None)

    def sandbox_ip(self, container_id: str) -> str:
        """The IP of a sandbox just started (its inspect is kept: the pod's next `list` needs no second one)."""
        details = self.api.inspect_container(container_id)
        state = details.get("State") or {}
        if state.get("Running"):
            self._remember(container_id, "running", details)
        networks = (details.get("NetworkSettings") or {}).get("Networks") or {}
        return (networks.get(self.network) or {}).get("IPAddress", "")

    def create(self, name: str, image: str, labels: dict[str, str], *, host_config: Obj, **config: Any) -> str:
        """Create a container; when the name exists (we created it before a crash), return the existing one."""
        labels = {**labels, LABEL_NODE: self.node}
        try:
            created = self.api.create_container(image, name=name, labels=labels, host_config=host_config,
                                                use_config_proxy=False, **config)
            return created["Id"]
        except docker.errors.APIError as exc:
            if exc.status_code == 404:
                self.forget_image(image)  # removed since we looked: the next sync asks Docker again
            if exc.status_code != 409:
                raise
            return self.api.inspect_container(name)["Id"]

    def host_config(self, **kwargs: Any) -> Obj:
        return self.api.create_host_config(**kwargs)

    def start(self, container_id: str) -> None:
        try:
            self.api.start(container_id)
        finally:
            self.forget(container_id)  # its state (or its start error) changed under the cache

    def stop(self, container_id: str, timeout: float) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.api.stop(container_id, timeout=max(0, round(timeout)))

    def remove(self, container_id: str) -> None:
        try:
            self.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # removal already in progress
                raise
        self.forget(container_id)

    # Images

    def image_id(self, image: str) -> str | None:
        """The image's id, or None when Docker does not have it. An image found is remembered for
        IMAGE_CACHE_SECONDS, so a burst of pods on one image asks Docker once, not once per pod and container."""
        with self._lock:
            cached = self._images.get(image)
        if cached and time.monotonic() - cached[1] < IMAGE_CACHE_SECONDS:
            return cached[0]
        try:
            found = str(self.api.inspect_image(image)["Id"])
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            if exc.status_code == 404:
                return None
            raise
        with self._lock:
            self._images[image] = (found, time.monotonic())
        return found

    def forget_image(self, image: str) -> None:
        with self._lock:
            self._images.pop(image, None)

    def pull(self, image: str) -> None:
        self.forget_image(image)  # a pull may move the tag to another image
        repository, tag = parse_repository_tag(image)
        if not tag and "@" not in image:
            tag = "latest"
        for line in self.api.pull(repository, tag=tag, stream=True, decode=True):
            if line.get("error"):
                raise docker.errors.APIError(line["error"])

    def images(self) -> builtins.list[Obj]:
        return self.api.images()

    # Exec and logs

    def exec(self, container_id: str, command: builtins.list[str], timeout: float) -> tuple[int, str]:
        """Run a command in a container; (exit code, output). On timeout the command is left behind."""
        exec_id = self.api.exec_create(container_id, command)["Id"]
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["output"] = self.api.exec_start(exec_id)
            except Exception as exc:  # reported as a failed probe
                result["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise TimeoutError(f"command timed out after {timeout:g}s")
        if "error" in result:
            raise result["error"]
        code = self.api.exec_inspect(exec_id).get("ExitCode")
        return int(code if code is not None else -1), (result.get("output") or b"").decode(errors="replace")

    # Interactive streams: kubectl exec, attach and port-forward (kubelet/streaming/)

    def exec_stream(self, container_id: str, command: builtins.list[str], *, stdin: bool, stdout: bool,
                     stderr: bool, tty: bool) -> tuple[str, StreamSocket]:
        """Start `command` in a running container with the requested stdio; (exec id, its stream)."""
        try:
            exec_id = self.api.exec_create(container_id, command, stdin=stdin, stdout=stdout, stderr=stderr,
                                           tty=tty)["Id"]
        except docker.errors.APIError as exc:
            raise StreamError(str(exc.explanation or exc)) from exc
        return exec_id, hijack(self._engine, f"/exec/{exec_id}/start", {"Detach": False, "Tty": tty})

    def attach_stream(self, container_id: str, *, stdin: bool, stdout: bool, stderr: bool) -> StreamSocket:
        """Attach to a running container's own stdio (`kubectl attach`, `kubectl run -it`)."""
        wanted = (("stdin", stdin), ("stdout", stdout), ("stderr", stderr))
        flags = "&".join(f"{name}={int(on)}" for name, on in wanted)
        return hijack(self._engine, f"/containers/{container_id}/attach?stream=1&{flags}", None)

    def exec_result(self, exec_id: str, wait: float = 5.0) -> int | None:
        """The exit code of a finished exec; None while it still runs after `wait` seconds."""
        deadline = time.monotonic() + wait
        pause = 0.002  # the process usually ends with its output: ask again soon, then less and less often
        while True:
            details = self.api.exec_inspect(exec_id)
            if not details.get("Running") and details.get("ExitCode") is not None:
                return int(details["ExitCode"])
            if time.monotonic() >= deadline:
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def exec_kill(self, exec_id: str) -> None:
        """End an exec whose client went away: the engine has no API for it, so signal its process."""
        with contextlib.suppress(Exception):
            details = self.api.exec_inspect(exec_id)
            if details.get("Running") and details.get("Pid"):
                os.kill(int(details["Pid"]), signal.SIGKILL)

    def resize_tty(self, container_id: str, exec_id: str | None, width: int, height: int) -> None:
        """Resize the TTY of an exec (or of the container itself, for attach)."""
        with contextlib.suppress(docker.errors.APIError):
            if exec_id:
                self.api.exec_resize(exec_id, height=height, width=width)
            else:
                self.api.resize(container_id, height=height, width=width)

    def has_tty(self, container_id: str) -> bool:
        return bool((self.api.inspect_container(container_id).get("Config") or {}).get("Tty"))

    def sandbox_pid(self, container_id: str) -> int:
        """The process holding a pod's network namespace (the sandbox's), for port-forward."""
        return int((self.api.inspect_container(container_id).get("State") or {}).get("Pid") or 0)

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None, timestamps: bool = False,
             since: float | None = None) -> Iterator[bytes]:
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": timestamps,
                                  "tail": "all" if tail is None else tail}
        if since:
            kwargs["since"] = int(since)
        if follow:
            return self.api.logs(container_id, stream=True, follow=True, **kwargs)
        data = self.api.logs(container_id, stream=False, follow=False, **kwargs)
        return iter([data] if data else [])

    def watch_events(self, on_pod: Callable[[str], None], stop: threading.Event) -> None:
        """Call `on_pod(uid)` whenever one of our containers dies or goes away (starts are the kubelet's own
        doing; anything else shows in the relist)."""
        while not stop.is_set():
            try:
                stream = self.api.events(decode=True, filters={
                    "type": "container", "label": [f"{LABEL_NODE}={self.node}"],
                    "event": ["die", "oom", "destroy"]})
                for event in stream:
                    attributes = (event.get("Actor") or {}).get("Attributes") or {}
                    uid = attributes.get(LABEL_POD_UID)
                    if uid:
                        on_pod(uid)
                    if stop.is_set():
                        break
            except Exception as exc:
                log.warning("docker events: %s; reconnecting", exc)
                stop.wait(2)


class StreamSocket:
    """The engine's side of an interactive exec or attach: raw bytes once Docker has switched protocols.

    Without a TTY, Docker multiplexes stdout and stderr on it in frames of an 8-byte header (stream 1 or 2, three
    zero bytes, the length as a big-endian uint32) and the payload; `read_frame` undoes that. With a TTY the bytes
    are the terminal's, unframed."""

    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        self.sock, self._buffer = sock, bytearray(leftover)

    def recv(self, size: int = 65536) -> bytes:
        if self._buffer:
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
            return data
        try:
            return self.sock.recv(size)
        except OSError:
            return b""

    def _exactly(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.recv(size - len(data))
            if not chunk:
                return b""
            data += chunk
        return bytes(data)

    def read_frame(self) -> tuple[int, bytes] | None:
        """The next (stream, payload) of a multiplexed stream, or None at its end."""
        while True:
            header = self._exactly(8)
            if not header:
                return None
            stream, size = struct.unpack(">BxxxL", header)
            payload = self._exactly(size) if size else b""
            if size and not payload:
                return None
            return stream, payload

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_stdin(self) -> None:
        """Half-close: Docker closes the process's stdin, as `docker exec -i` does at the end of its input."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class StreamError(Exception):
    """The engine refused an interactive stream (no such container, not running, ...)."""


def _dial_engine(engine: str) -> socket.socket:
    if engine.startswith("unix://"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(engine[len("unix://"):])
        return sock
    address = engine.split("://", 1)[-1].rstrip("/")
    host, _, port = address.rpartition(":")
    return socket.create_connection((host, int(port)), timeout=30)


def hijack(engine: str, path: str, body: Obj | None) -> StreamSocket:
    """POST `path` asking Docker to switch to a raw stream (`Upgrade: tcp`), as `docker exec -it` does.

    docker-py's `exec_start(socket=True)` reads the response head through a buffered reader that may swallow the
    first bytes of output; reading the head ourselves keeps every byte."""
    sock = _dial_engine(engine)
    payload = json.dumps(body).encode() if body is not None else b""
    head = (f"POST /v{API_VERSION}{path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n").encode()
    sock.sendall(head + payload)
    response = bytearray()
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            sock.close()
            raise StreamError("the container engine closed the connection")
        response += chunk
        if len(response) > 65536:
            sock.close()
            raise StreamError("the container engine sent an oversized response head")
    head_bytes, _, rest = bytes(response).partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    if status not in (101, 200):
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            while len(rest) < 65536 and (chunk := sock.recv(4096)):
                rest += chunk
        sock.close()
        # The body is a JSON error, possibly chunked: take the JSON object out of it.
        start, end = rest.find(b"{"), rest.rfind(b"}")
        try:
            message = json.loads(rest[start:end + 1]).get("message", "") if start >= 0 else ""
        except ValueError:
            message = ""
        raise StreamError(message or f"the container engine answered {status}")
    sock.settimeout(None)
    return StreamSocket(sock, rest)
