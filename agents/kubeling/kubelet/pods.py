"""Pod sync: make Docker match one pod's spec, then report what Docker shows as the pod's status.

`sync(uid)` is level-triggered and idempotent, as upstream's `SyncPod`: it reads the pod from the informer cache and
the pod's containers from Docker (one `docker ps`, and `docker inspect` only for containers whose state changed),
then takes the next steps: sandbox, volumes, init containers one at a time, app containers (restarting per
`restartPolicy` with crash-loop back-off, or killing those a liveness probe failed), and writes the status if it
changed. Termination runs on its own thread so a long grace period never holds a sync worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors

from kubeling.api import meta, quantity
from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import Client, NotFound
from kubeling.client.api import STRATEGIC_PATCH
from kubeling.kubelet import dns, envvars, prober, runtime, status
from kubeling.kubelet.backoff import Backoff
from kubeling.kubelet.runtime import ContainerRecord, Runtime
from kubeling.kubelet.volumes import VolumeError, VolumeManager

log = logging.getLogger(__name__)

PODS = must_lookup("", "pods")
MIN_GRACE = 2  # upstream's minimumGracePeriodInSeconds for killing a container
READ_ONLY_VOLUMES = ("configMap", "secret", "downwardAPI", "projected")
LOG_CONFIG = {"type": "json-file", "config": {"max-size": "10m", "max-file": "2"}}
TERMINATION_MESSAGE_LIMIT = 4096


def go_duration(seconds: float) -> str:
    """A duration as Go prints it (`10s`, `1m20s`, `5m0s`), for upstream's back-off messages."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    return f"{whole // 60}m{whole % 60}s"


def pod_ref(pod: Obj) -> Obj:
    """What the event recorder needs to point at a pod (list items carry no kind)."""
    return {"kind": "Pod", "apiVersion": "v1", "metadata": pod.get("metadata", {})}


def pod_label(pod: Obj) -> str:
    m = pod["metadata"]
    return f"{m['name']}_{m['namespace']}({m['uid']})"


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def container_hash(container: Obj) -> str:
    """Only the image of a running pod's container can change; a new image means a restart, as upstream."""
    return hashlib.sha256(str(container.get("image", "")).encode()).hexdigest()[:16]


class PodSyncer:
    def __init__(self, client: Client, rt: Runtime, volumes: VolumeManager, *, node_name: str, node_ip: str,
                 root_dir: str, infra_image: str, get_pod: Callable[[str], Obj | None],
                 configmap: envvars.Lookup, secret: envvars.Lookup, event: Callable[[Obj, str, str, str], None],
                 requeue: Callable[[str, float], None], allocatable: Callable[[], dict[str, str]],
                 service_env: Callable[[Obj], dict[str, str]] = lambda pod: {},
                 cluster_dns: list[str] | None = None, cluster_domain: str = "cluster.local",
                 resolv_conf: str = "/etc/resolv.conf") -> None:
        self.client, self.runtime, self.volumes = client, rt, volumes
        self.node_name, self.node_ip, self.root_dir, self.infra_image = node_name, node_ip, root_dir, infra_image
        self.get_pod, self.configmap, self.secret = get_pod, configmap, secret
        self.event, self.requeue, self.allocatable = event, requeue, allocatable
        self.service_env = service_env
        self.cluster_dns, self.cluster_domain, self.resolv_conf = cluster_dns or [], cluster_domain, resolv_conf
        self.crash_backoff = Backoff()
        self.pull_backoff = Backoff()
        self.probes = prober.ProbeManager(rt, lambda uid: requeue(uid, 0), self._probe_event)
        self.messages: dict[str, str] = {}  # container id → termination message
        self._written: dict[str, Obj] = {}  # pod uid → last status written
        self._written_at: dict[str, int] = {}  # pod uid → the resourceVersion that write made
        self._terminating: set[str] = set()
        self._seen: dict[str, dict[str, str]] = {}  # pod uid → container id → state, as the pod's last sync saw
        self._syncing: set[str] = set()  # pods a worker syncs right now
        self._lock = threading.Lock()

    def _probe_event(self, pod: Obj, kind: str, reason: str, message: str) -> None:
        self.event(pod_ref(pod), kind, reason, message)

    # Entry point

    def sync(self, uid: str) -> None:
        with self._lock:
            self._syncing.add(uid)
        try:
            pod = self.get_pod(uid)
            records = self._list(uid)
            if pod is None:
                self._sync_gone(uid, records)
            elif pod["metadata"].get("deletionTimestamp"):
                self._sync_terminating(pod, records)
            else:
                self._sync_running(pod, records)
        finally:
            with self._lock:
                self._syncing.discard(uid)

    def _list(self, uid: str) -> list[ContainerRecord]:
        """The pod's containers as Docker shows them now; what the sync saw is kept for `unseen` below."""
        records = self.runtime.list(uid)
        with self._lock:
            self._seen[uid] = {record.id: record.state for record in records}
        return records

    def unseen(self, uid: str, container_id: str, state: str) -> bool:
        """Is this a container state the pod's last sync did not see? The relist (kubelet.py's housekeeping)
        wakes a pod only for those. Never while the pod is being synced: that sync looks for itself (and the
        next relist compares with what it saw)."""
        with self._lock:
            return uid not in self._syncing and self._seen.get(uid, {}).get(container_id) != state

    # A pod that is gone from the API: stop and remove everything it left behind

    def _sync_gone(self, uid: str, records: list[ContainerRecord]) -> None:
        with self._lock:
            if uid in self._terminating:
                return
        if any(r.running for r in records):
            self._start_killing(uid, None, records, MIN_GRACE)
            return
        for record in records:
            self.runtime.remove(record.id)
            self.messages.pop(record.id, None)
        self.volumes.cleanup(uid)
        self.probes.forget(uid)
        self.crash_backoff.forget_prefix(uid)
        self.pull_backoff.forget_prefix(uid)
        self._written.pop(uid, None)
        self._written_at.pop(uid, None)
        with self._lock:
            self._seen.pop(uid, None)
        if records:
            log.info("removed %d containers of deleted pod %s", len(records), uid)

    # Graceful deletion: kill (preStop, SIGTERM, SIGKILL after the grace period), then delete the pod object

    def _sync_terminating(self, pod: Obj, records: list[ContainerRecord]) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            if uid in self._terminating:
                return
        if any(r.running for r in records):
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            if grace is None:
                grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
            self._start_killing(uid, pod, records, grace)
            return
        self.probes.forget(uid)
        self._write_status(pod, self._status(pod, records, {}, "", terminal=True))
        with contextlib.suppress(NotFound):
            self.client.delete(PODS, pod["metadata"]["name"], pod["metadata"]["namespace"], grace_period=0,
                               preconditions={"uid": uid})

    def _start_killing(self, uid: str, pod: Obj | None, records: list[ContainerRecord], grace: float) -> None:
        with self._lock:
            if uid in self._terminating:
                return
            self._terminating.add(uid)
        thread = threading.Thread(target=self._kill_pod, args=(uid, pod, records, grace), daemon=True,
                                  name=f"kill {uid[:8]}")
        thread.start()

    def _kill_pod(self, uid: str, pod: Obj | None, records: list[ContainerRecord], grace: float) -> None:
        try:
            deadline = time.monotonic() + max(grace, MIN_GRACE if pod is None else 0)
            workers = []
            for record in records:
                if record.running and record.kind != "sandbox":
                    spec = self._spec_of(pod, record) if pod else None
                    worker = threading.Thread(target=self._kill_container, args=(pod, spec, record, deadline),
                                              daemon=True)
                    worker.start()
                    workers.append(worker)
            for worker in workers:
                worker.join()
            for record in records:
                if record.running and record.kind == "sandbox":
                    self.runtime.stop(record.id, 0)
        except Exception:
            log.exception("killing pod %s", uid)
        finally:
            with self._lock:
                self._terminating.discard(uid)
            self.requeue(uid, 0)

    def _kill_container(self, pod: Obj | None, spec: Obj | None, record: ContainerRecord, deadline: float,
                        reason: str = "") -> None:
        """preStop hook, then `docker stop` with what is left of the grace period (at least upstream's 2 s)."""
        if pod is not None:
            self.event(pod_ref(pod), "Normal", "Killing", reason or f"Stopping container {record.name}")
        hook = ((spec or {}).get("lifecycle") or {}).get("preStop")
        if hook and pod is not None:
            ok, message = self._run_hook(hook, spec or {}, record, max(deadline - time.monotonic(), 0))
            if not ok:
                self.event(pod_ref(pod), "Warning", "FailedPreStopHook",
                           f"PreStopHook failed: {message}" if message else "PreStopHook failed")
        self.runtime.stop(record.id, max(deadline - time.monotonic(), MIN_GRACE))

    def _run_hook(self, hook: Obj, spec: Obj, record: ContainerRecord, timeout: float) -> tuple[bool, str]:
        if hook.get("sleep"):
            time.sleep(min(float(hook["sleep"].get("seconds") or 0), timeout))
            return True, ""
        probe = {**hook, "timeoutSeconds": max(timeout, 1)}
        pod_ip = self.probes.pod_ip(record.pod_uid) or self.node_ip
        return prober.run_probe(probe, spec, pod_ip, record.id, self.runtime)

    @staticmethod
    def _spec_of(pod: Obj | None, record: ContainerRecord) -> Obj | None:
        if pod is None:
            return None
        key = "initContainers" if record.kind == "init" else "containers"
        return next((c for c in pod["spec"].get(key) or [] if c.get("name") == record.name), None)

    # The main path

    def _sync_running(self, pod: Obj, records: list[ContainerRecord]) -> None:
        uid = pod["metadata"]["uid"]
        waiting: status.Waiting = {}
        finished = (pod.get("status") or {}).get("phase") in status.TERMINAL or \
            self._written.get(uid, {}).get("phase") in status.TERMINAL
        sandbox = self._current_sandbox(records)
        changed = False
        if finished:
            changed = self._stop_finished(pod, records)
        else:
            if sandbox is None:
                sandbox, changed = self._ensure_sandbox(pod, records, waiting)
            if sandbox is not None:
                changed |= self._sync_containers(pod, records, sandbox, waiting)
        if changed:
            records = self._list(uid)
            sandbox = self._current_sandbox(records)
        pod_ip = self._pod_ip(pod, sandbox)
        self._ensure_probes(pod, records, pod_ip)
        new_status = self._status(pod, records, waiting, pod_ip, sandbox_ready=sandbox is not None)
        self._write_status(pod, new_status)
        if not finished and new_status["phase"] in status.TERMINAL:
            self.requeue(uid, 0)  # stop the sandbox of a pod that just finished
        self._collect_garbage(records)

    def _pod_ip(self, pod: Obj, sandbox: ContainerRecord | None) -> str:
        if sandbox is None:
            return ""
        return self.node_ip if pod["spec"].get("hostNetwork") else sandbox.ip

    @staticmethod
    def _current_sandbox(records: list[ContainerRecord]) -> ContainerRecord | None:
        running = [r for r in records if r.kind == "sandbox" and r.running]
        return max(running, key=lambda r: (r.restart_count, r.created)) if running else None

    def _stop_finished(self, pod: Obj, records: list[ContainerRecord]) -> bool:
        """A Succeeded or Failed pod keeps its containers (for logs) but nothing runs, not even the sandbox."""
        running = [r for r in records if r.running]
        deadline = time.monotonic() + pod["spec"].get("terminationGracePeriodSeconds", 30)
        for record in running:
            if record.kind == "sandbox":
                continue
            self._kill_container(pod, self._spec_of(pod, record), record, deadline)
        for record in running:
            if record.kind == "sandbox":
                self.runtime.stop(record.id, 0)
        self.probes.forget(pod["metadata"]["uid"])
        return bool(running)

    def _ensure_sandbox(self, pod: Obj, records: list[ContainerRecord],
                        waiting: status.Waiting) -> tuple[ContainerRecord | None, bool]:
        uid, spec = pod["metadata"]["uid"], pod["spec"]
        changed = False
        orphans = [r for r in records if r.running and r.kind != "sandbox"]
        if orphans:  # the sandbox died under them: they lost their network, so they go too
            deadline = time.monotonic() + spec.get("terminationGracePeriodSeconds", 30)
            for record in orphans:
                self._kill_container(pod, self._spec_of(pod, record), record, deadline)
            changed = True
        previous = [r for r in records if r.kind == "sandbox"]
        started_any = any(r.kind != "sandbox" for r in records)
        if previous and started_any and spec.get("restartPolicy") == "Never":
            return None, changed  # upstream does not restart a Never pod whose sandbox died
        attempt = max((r.restart_count for r in previous), default=-1) + 1
        if attempt > 0:
            self.event(pod_ref(pod), "Normal", "SandboxChanged",
                       "Pod sandbox changed, it will be killed and re-created.")
        try:
            if self.runtime.image_id(self.infra_image) is None:
                self.runtime.pull(self.infra_image)
            sandbox = self._create_sandbox(pod, attempt)
        except Exception as exc:
            message = f"Failed to create pod sandbox: {exc}"
            self.event(pod_ref(pod), "Warning", "FailedCreatePodSandBox", message)
            log.warning("pod %s: %s", pod_label(pod), message)
            self.requeue(uid, 5)
            return None, changed
        return sandbox, True

    def _create_sandbox(self, pod: Obj, attempt: int) -> ContainerRecord:
        metadata, spec = pod["metadata"], pod["spec"]
        uid = metadata["uid"]
        host_network = bool(spec.get("hostNetwork"))
        labels = self._labels(pod, runtime.SANDBOX, "sandbox", attempt)
        host_config = self.runtime.host_config(
            network_mode="host" if host_network else self.runtime.network, ipc_mode="shareable",
            log_config=LOG_CONFIG, dns=(spec.get("dnsConfig") or {}).get("nameservers") or None,
        )
        name = f"k8s_POD_{metadata['name']}_{metadata['namespace']}_{uid}_{attempt}"
        hostname = None if host_network else (spec.get("hostname") or metadata["name"])[:63]
        container_id = self.runtime.create(name, self.infra_image, labels, host_config=host_config,
                                           hostname=hostname, domainname=dns.domain_name(pod, self.cluster_domain))
        self.runtime.start(container_id)
        ip = self.node_ip if host_network else self.runtime.sandbox_ip(container_id)
        return ContainerRecord(id=container_id, name=runtime.SANDBOX, kind="sandbox", pod_uid=uid,
                               restart_count=attempt, state="running", created=time.time(), ip=ip)

    def _labels(self, pod: Obj, name: str, kind: str, restart_count: int, **extra: str) -> dict[str, str]:
        metadata = pod["metadata"]
        return {runtime.LABEL_POD_UID: metadata["uid"], runtime.LABEL_POD_NAME: metadata["name"],
                runtime.LABEL_POD_NAMESPACE: metadata["namespace"], runtime.LABEL_CONTAINER: name,
                runtime.LABEL_KIND: kind, runtime.LABEL_RESTART_COUNT: str(restart_count), **extra}

    # Containers

    def _sync_containers(self, pod: Obj, records: list[ContainerRecord], sandbox: ContainerRecord,
                         waiting: status.Waiting) -> bool:
        spec = pod["spec"]
        pod_ip = self._pod_ip(pod, sandbox)
        try:
            paths = self.volumes.setup(pod, pod_ip, self.node_ip)
        except VolumeError as exc:
            self.event(pod_ref(pod), "Warning", "FailedMount", str(exc))
            self.requeue(pod["metadata"]["uid"], 5)
            return False
        context = (sandbox, pod_ip, paths)
        initialized = any(r.kind == "app" for r in records)
        if not initialized:
            for container in spec.get("initContainers") or []:
                found = status.instances(records, container["name"], "init")
                latest = found[0] if found else None
                if latest and latest.state == "exited" and latest.exit_code == 0:
                    continue
                if latest and latest.running:
                    return False
                if latest and latest.state == "created" and not latest.error:
                    return self._start(pod, latest)
                if latest and spec.get("restartPolicy") == "Never":
                    return False  # a failed init container fails a Never pod
                return self._restart_or_create(pod, container, "init", latest, context, waiting)
        changed = False
        for container in spec.get("containers") or []:
            found = status.instances(records, container["name"], "app")
            changed |= self._sync_app_container(pod, container, found, context, waiting)
        return changed

    def _sync_app_container(self, pod: Obj, container: Obj, found: list[ContainerRecord],
                            context: tuple[ContainerRecord, str, dict[str, str]], waiting: status.Waiting) -> bool:
        latest = found[0] if found else None
        uid, name = pod["metadata"]["uid"], container["name"]
        if latest is not None and latest.running:
            reason = ""
            failed = self.probes.failed(uid, name, latest.id)
            if failed:
                reason = f"Container {name} failed {failed.lower()} probe, will be restarted"
            elif latest.hash and latest.hash != container_hash(container):
                reason = f"Container {name} definition changed, will be restarted"
            elif latest.sandbox_id and latest.sandbox_id != context[0].id:
                reason = f"Container {name} is in a stale sandbox, will be restarted"
            if not reason:
                return False
            probe = container.get(f"{failed.lower()}Probe") if failed else None
            grace = (probe or {}).get("terminationGracePeriodSeconds") or \
                pod["spec"].get("terminationGracePeriodSeconds", 30)
            self._kill_container(pod, container, latest, time.monotonic() + grace, reason)
            self.probes.forget(uid, name)
            self.requeue(uid, 0)  # the next sync sees it exited and restarts it per restartPolicy
            return True
        if latest is not None and latest.state == "created" and not latest.error:
            return self._start(pod, latest)
        if latest is not None:
            policy = pod["spec"].get("restartPolicy", "Always")
            if policy == "Never" or (policy == "OnFailure" and latest.exit_code == 0 and not latest.error):
                return False
        return self._restart_or_create(pod, container, "app", latest, context, waiting)

    def _restart_or_create(self, pod: Obj, container: Obj, kind: str, latest: ContainerRecord | None,
                           context: tuple[ContainerRecord, str, dict[str, str]], waiting: status.Waiting) -> bool:
        name = container["name"]
        restart_count = 0
        if latest is not None:
            key = f"{pod['metadata']['uid']}/{kind}/{name}"
            finished = runtime.parse_docker_time(latest.finished_at) or latest.created
            remaining = self.crash_backoff.remaining_since(key, finished)
            if remaining > 0:
                delay = go_duration(self.crash_backoff.get(key))
                waiting[name] = ("CrashLoopBackOff",
                                 f"back-off {delay} restarting failed container={name} pod={pod_label(pod)}")
                self.event(pod_ref(pod), "Warning", "BackOff",
                           f"Back-off restarting failed container {name} in pod {pod_label(pod)}")
                self.requeue(pod["metadata"]["uid"], remaining + 0.05)
                return False
            self.crash_backoff.next(key, finished)
            restart_count = latest.restart_count + 1
        return self._create_and_start(pod, container, kind, restart_count, context, waiting)

    def _start(self, pod: Obj, record: ContainerRecord) -> bool:
        """Start a container created before (by us, before a crash or restart)."""
        try:
            self.runtime.start(record.id)
        except docker.errors.APIError as exc:
            self.event(pod_ref(pod), "Warning", "Failed", f"Error: {exc.explanation or exc}")
            return True
        self.event(pod_ref(pod), "Normal", "Started", f"Started container {record.name}")
        return True

    def _create_and_start(self, pod: Obj, container: Obj, kind: str, restart_count: int,
                          context: tuple[ContainerRecord, str, dict[str, str]], waiting: status.Waiting) -> bool:
        sandbox, pod_ip, paths = context
        metadata, name = pod["metadata"], container["name"]
        if not self._ensure_image(pod, container, waiting):
            return False
        try:
            config = self._container_config(pod, container, kind, restart_count, sandbox, pod_ip, paths)
        except envvars.ConfigError as exc:
            waiting[name] = ("CreateContainerConfigError", str(exc))
            self.event(pod_ref(pod), "Warning", "Failed", f"Error: {exc}")
            self.requeue(metadata["uid"], 10)
            return False
        docker_name = f"k8s_{name}_{metadata['name']}_{metadata['namespace']}_{metadata['uid']}_{restart_count}"
        try:
            container_id = self.runtime.create(docker_name, container["image"], **config)
        except docker.errors.APIError as exc:
            message = str(exc.explanation or exc)
            waiting[name] = ("CreateContainerError", message)
            self.event(pod_ref(pod), "Warning", "Failed", f"Error: {message}")
            self.requeue(metadata["uid"], 10)
            return False
        self.event(pod_ref(pod), "Normal", "Created", f"Created container {name}")
        try:
            self.runtime.start(container_id)
        except docker.errors.APIError as exc:
            self.event(pod_ref(pod), "Warning", "Failed",
                       f'Error: failed to start container "{name}": {exc.explanation or exc}')
            return True
        self.event(pod_ref(pod), "Normal", "Started", f"Started container {name}")
        hook = (container.get("lifecycle") or {}).get("postStart")
        if hook:
            record = ContainerRecord(id=container_id, name=name, kind=kind, pod_uid=metadata["uid"],
                                     restart_count=restart_count, state="running", created=time.time())
            ok, message = self._run_hook(hook, container, record, 30)
            if not ok:
                self.event(pod_ref(pod), "Warning", "FailedPostStartHook", message)
                grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
                self._kill_container(pod, container, record, time.monotonic() + grace,
                                     f"FailedPostStartHook: container {name} will be restarted")
        return True

    def _ensure_image(self, pod: Obj, container: Obj, waiting: status.Waiting) -> bool:
        image, name, uid = container["image"], container["name"], pod["metadata"]["uid"]
        policy = container.get("imagePullPolicy") or "IfNotPresent"
        ref = pod_ref(pod)
        present = self.runtime.image_id(image) is not None
        if policy == "Never" and not present:
            message = f'Container image "{image}" is not present with pull policy of Never'
            waiting[name] = ("ErrImageNeverPull", message)
            self.event(ref, "Warning", "ErrImageNeverPull", message)
            self.requeue(uid, 10)
            return False
        if present and policy != "Always":
            self.event(ref, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            return True
        key = f"{uid}/{image}"
        remaining = self.pull_backoff.remaining_since_update(key)
        if remaining > 0:
            message = f'Back-off pulling image "{image}"'
            waiting[name] = ("ImagePullBackOff", message)
            self.event(ref, "Normal", "BackOff", message)
            self.event(ref, "Warning", "Failed", "Error: ImagePullBackOff")
            self.requeue(uid, remaining + 0.05)
            return False
        self.event(ref, "Normal", "Pulling", f'Pulling image "{image}"')
        started = time.monotonic()
        try:
            self.runtime.pull(image)
        except Exception as exc:
            message = str(getattr(exc, "explanation", None) or exc)
            self.event(ref, "Warning", "Failed", f'Failed to pull image "{image}": {message}')
            self.event(ref, "Warning", "Failed", "Error: ErrImagePull")
            self.pull_backoff.next(key, time.time())
            waiting[name] = ("ErrImagePull", message)
            self.requeue(uid, 1)  # shows ImagePullBackOff next, as upstream's next sync does
            return False
        took = time.monotonic() - started
        self.event(ref, "Normal", "Pulled", f'Successfully pulled image "{image}" in {took:.3f}s')
        return True

    def _container_config(self, pod: Obj, container: Obj, kind: str, restart_count: int,
                          sandbox: ContainerRecord, pod_ip: str, paths: dict[str, str]) -> Obj:
        spec, uid = pod["spec"], pod["metadata"]["uid"]
        env = envvars.container_env(pod, container, self.configmap, self.secret, pod_ip=pod_ip,
                                    host_ip=self.node_ip, allocatable=self.allocatable(),
                                    services=self.service_env(pod))
        command, args = envvars.command_and_args(container, env)
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        binds = []
        for mount in container.get("volumeMounts") or []:
            source = paths.get(mount.get("name", ""))
            if source is None:
                raise envvars.ConfigError(f'cannot find volume "{mount.get("name")}" to mount into container '
                                          f'"{container["name"]}"')
            sub_path = envvars.expand(mount.get("subPathExpr") or "", env) or mount.get("subPath") or ""
            if sub_path:
                source = str(Path(source) / sub_path)
                if not Path(source).exists():
                    Path(source).mkdir(parents=True, exist_ok=True)
            volume = volumes.get(mount.get("name"), {})
            read_only = (mount.get("readOnly") or any(k in volume for k in READ_ONLY_VOLUMES)
                         or self.volumes.read_only(uid, mount.get("name", "")))
            binds.append(f"{source}:{mount['mountPath']}:{'ro' if read_only else 'rw'}")
        message_path = container.get("terminationMessagePath") or "/dev/termination-log"
        message_file = self.volumes.pod_dir(uid) / "containers" / container["name"] / str(restart_count)
        message_file.parent.mkdir(parents=True, exist_ok=True)
        message_file.touch(0o666)
        binds.append(f"{message_file}:{message_path}:rw")
        binds += self._name_files(pod, pod_ip)
        security = {**(spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
        user = None
        if security.get("runAsUser") is not None:
            user = str(security["runAsUser"])
            if security.get("runAsGroup") is not None:
                user += f":{security['runAsGroup']}"
        capabilities = security.get("capabilities") or {}
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        cpu_request = quantity.milli_value(requests["cpu"]) if "cpu" in requests else 0
        host_config = self.runtime.host_config(
            network_mode=f"container:{sandbox.id}", ipc_mode=f"container:{sandbox.id}",
            pid_mode=f"container:{sandbox.id}" if spec.get("shareProcessNamespace") else None,
            binds=binds, log_config=LOG_CONFIG,
            nano_cpus=quantity.milli_value(limits["cpu"]) * 1_000_000 if "cpu" in limits else None,
            mem_limit=quantity.value(limits["memory"]) if "memory" in limits else None,
            cpu_shares=max(2, cpu_request * 1024 // 1000),  # upstream's MilliCPUToShares
            privileged=bool(security.get("privileged")),
            cap_add=capabilities.get("add") or None, cap_drop=capabilities.get("drop") or None,
            read_only=bool(security.get("readOnlyRootFilesystem")),
        )
        labels = self._labels(pod, container["name"], kind, restart_count, **{
            runtime.LABEL_SANDBOX: sandbox.id, runtime.LABEL_HASH: container_hash(container),
            runtime.LABEL_IMAGE: container["image"]})
        # No "ports" (ExposedPorts): Docker refuses them in a container joined to the sandbox's network, and
        # containerPort is informational in Kubernetes anyway.
        return {"labels": labels, "host_config": host_config, "entrypoint": command, "command": args,
                "environment": [f"{k}={v}" for k, v in env.items()], "working_dir": container.get("workingDir"),
                "user": user, "tty": bool(container.get("tty")), "stdin_open": bool(container.get("stdin"))}

    def _name_files(self, pod: Obj, pod_ip: str) -> list[str]:
        """Bind mounts of the pod's /etc/resolv.conf and /etc/hosts (`kubelet/dns.py`), written in the pod's
        directory; a hostNetwork pod keeps the node's files unless its dnsPolicy asks for the cluster's DNS."""
        pod_dir = self.volumes.pod_dir(pod["metadata"]["uid"])
        binds = []
        host_network = bool(pod["spec"].get("hostNetwork"))
        if not host_network or dns.policy(pod, self.cluster_dns) != dns.HOST:
            try:
                node = dns.parse_resolv_conf(Path(self.resolv_conf).read_text())
            except OSError:
                node = dns.ResolvConf([], [], [])
            config = dns.pod_resolv_conf(pod, self.cluster_dns, self.cluster_domain, node)
            binds.append(f"{_write(pod_dir / 'resolv.conf', config.render())}:/etc/resolv.conf:ro")
        if not host_network:
            hosts = dns.hosts_file(pod, pod_ip, self.cluster_domain)
            binds.append(f"{_write(pod_dir / 'etc-hosts', hosts)}:/etc/hosts:rw")
        return binds

    # Probes and status

    def _ensure_probes(self, pod: Obj, records: list[ContainerRecord], pod_ip: str) -> None:
        uid = pod["metadata"]["uid"]
        if (pod.get("status") or {}).get("phase") in status.TERMINAL:
            self.probes.forget(uid)
            return
        was_ready = {s.get("containerID"): s.get("ready") for s in (pod.get("status") or {}).get(
            "containerStatuses") or []}
        for container in pod["spec"].get("containers") or []:
            found = status.instances(records, container["name"], "app")
            if found and found[0].running:
                latest = found[0]
                self.probes.ensure(pod, container, latest.id, latest.started_at, pod_ip,
                                   bool(was_ready.get(status.container_id(latest))))
            else:
                self.probes.forget(uid, container["name"])

    def _status(self, pod: Obj, records: list[ContainerRecord], waiting: status.Waiting, pod_ip: str,
                sandbox_ready: bool = False, terminal: bool = False) -> Obj:
        uid = pod["metadata"]["uid"]
        self._read_messages(pod, records)
        return status.pod_status(
            pod, records, waiting=waiting, pod_ip=pod_ip, host_ip=self.node_ip, sandbox_ready=sandbox_ready,
            ready=lambda name, cid: self.probes.ready(uid, name, cid),
            started=lambda name, cid: self.probes.started(uid, name, cid),
            now=meta.now(), messages=self.messages, terminal=terminal)

    def _read_messages(self, pod: Obj, records: list[ContainerRecord]) -> None:
        """Termination messages: the file the container wrote, or the log tail (FallbackToLogsOnError)."""
        for record in records:
            if record.kind == "sandbox" or not record.exited or record.id in self.messages:
                continue
            spec = self._spec_of(pod, record) or {}
            path = self.volumes.pod_dir(record.pod_uid) / "containers" / record.name / str(record.restart_count)
            message = ""
            with contextlib.suppress(OSError):
                message = path.read_bytes()[:TERMINATION_MESSAGE_LIMIT].decode(errors="replace")
            if not message and spec.get("terminationMessagePolicy") == "FallbackToLogsOnError" and \
                    record.exit_code != 0:
                with contextlib.suppress(Exception):
                    data = b"".join(self.runtime.logs(record.id, tail=80))
                    message = data[-2048:].decode(errors="replace")
            self.messages[record.id] = message

    def _write_status(self, pod: Obj, new: Obj) -> None:
        uid = pod["metadata"]["uid"]
        new = _clean(new)
        current = _clean(pod.get("status") or {})
        if new == current:
            return
        if new == self._written.get(uid) and (meta.resource_version_number(pod) or 0) < self._written_at.get(uid, 0):
            return  # our last write has not come back through the watch yet: `current` is older than it
        # (A status that differs from ours at or after our last write was changed by someone else, such as the
        # node lifecycle controller marking pods not ready while this node was unreachable: ours is written again,
        # as upstream's status manager reconciles the API's status with its own.)
        patch: Obj = dict(new)
        for key in current:
            if key not in new:
                patch[key] = None
        try:
            written = self.client.patch(PODS, pod["metadata"]["name"], {"status": patch}, pod["metadata"]["namespace"],
                                        patch_type=STRATEGIC_PATCH, subresource="status")
        except NotFound:
            return
        self._written[uid] = new
        self._written_at[uid] = meta.resource_version_number(written) or 0

    def is_own_echo(self, old: Obj, new: Obj) -> bool:
        """Is this update only the status we wrote coming back through the watch?"""
        if old.get("spec") != new.get("spec"):
            return False
        old_meta = {k: v for k, v in old.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")}
        new_meta = {k: v for k, v in new.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")}
        if old_meta != new_meta:
            return False
        written = self._written.get(new["metadata"].get("uid", ""))
        return written is not None and _clean(new.get("status") or {}) == written

    # Garbage collection

    def _collect_garbage(self, records: list[ContainerRecord]) -> None:
        """Keep the newest two instances of each container (the current one and the one `--previous` shows)
        and the current sandbox; remove the rest."""
        groups: dict[tuple[str, str], list[ContainerRecord]] = {}
        for record in records:
            groups.setdefault((record.kind, record.name), []).append(record)
        for (kind, _), group in groups.items():
            group.sort(key=lambda r: (r.restart_count, r.created), reverse=True)
            keep = 1 if kind == "sandbox" else 2
            for record in group[keep:]:
                if not record.running:
                    self.runtime.remove(record.id)
                    self.messages.pop(record.id, None)


def _write(path: Path, content: str) -> Path:
    """Write a file the kubelet manages for a pod, whole or not at all (a container may be reading it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != content:
        scratch = path.with_name(path.name + ".tmp")
        scratch.write_text(content)
        scratch.chmod(0o644)
        scratch.replace(path)
    return path
