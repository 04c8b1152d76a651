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
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import docker.errors
from docker.utils import kwargs_from_env, parse_repository_tag

from kubeling.api.types import Obj

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
        if log.isEnabledFor(logging.DEBUG):
            self.api = _Timed(self.api)
        self._details: dict[str, tuple[str, Obj]] = {}  # container id → (state when inspected, inspect subset)
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
        subset = {"State": details.get("State") or {}}
        with self._lock:
            self._details[container_id] = (state, subset)
        return subset

    def forget(self, container_id: str) -> None:
        with self._lock:
            self._details.pop(container_id, None)

    def sandbox_ip(self, container_id: str) -> str:
        details = self.api.inspect_container(container_id)
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
        try:
            return str(self.api.inspect_image(image)["Id"])
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            if exc.status_code == 404:
                return None
            raise

    def pull(self, image: str) -> None:
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
