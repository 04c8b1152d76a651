"""The kubelet: registers the Node, watches the pods bound to it, and runs them with Docker.

Threads: informers for the pods of this node and for Services (their environment variables), one watch per
ConfigMap and Secret a pod here refers to (objectcache.py: a kubelet may read those by name only), a pool of pod
workers on one work queue keyed by pod uid (so one pod is synced by one worker at a time, and pods in parallel),
the Docker event stream (a container started or died: sync its pod at once), housekeeping (resync, orphaned
containers, service-account tokens to renew), the node status and Lease loop, and the HTTP API.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import Client, errors, keys
from kubeling.client.events import EventRecorder
from kubeling.client.informer import Informer
from kubeling.client.workqueue import WorkQueue
from kubeling.kubelet import envvars, nodestatus, status
from kubeling.kubelet.localpath import LocalPathCleaner
from kubeling.kubelet.objectcache import ObjectCache
from kubeling.kubelet.pods import PodSyncer
from kubeling.kubelet.runtime import Runtime
from kubeling.kubelet.server import KubeletServer, LogError, serve_healthz, serving_context
from kubeling.kubelet.tokens import TokenManager
from kubeling.kubelet.volumes import VolumeError, VolumeManager

log = logging.getLogger(__name__)

PODS = must_lookup("", "pods")
CONFIGMAPS = must_lookup("", "configmaps")
SECRETS = must_lookup("", "secrets")
SERVICES = must_lookup("", "services")
CLAIMS = must_lookup("", "persistentvolumeclaims")
VOLUMES = must_lookup("", "persistentvolumes")
HOUSEKEEPING_PERIOD = 1.0
MASQUERADE_CHAIN = "KUBELING-POD-EGRESS"


def referenced_names(pod: Obj, kind: str) -> set[str]:
    """Names of the ConfigMaps (kind 'configMap') or Secrets (kind 'secret') the pod uses in volumes or env."""
    spec = pod.get("spec", {})
    names: set[str] = set()
    for volume in spec.get("volumes") or []:
        sources = [volume] + [s for s in (volume.get("projected") or {}).get("sources") or []]
        for source in sources:
            ref = source.get(kind)
            if ref:
                names.add(ref.get("secretName") or ref.get("name") or "")
    env_key, from_key = ("configMapKeyRef", "configMapRef") if kind == "configMap" else ("secretKeyRef", "secretRef")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for var in container.get("env") or []:
            names.add(((var.get("valueFrom") or {}).get(env_key) or {}).get("name") or "")
        for source in container.get("envFrom") or []:
            names.add((source.get(from_key) or {}).get("name") or "")
    names.discard("")
    return names


def references(pod: Obj, kind: str, name: str) -> bool:
    """Does the pod use this ConfigMap (kind 'configMap') or Secret (kind 'secret') in a volume or its env?"""
    return name in referenced_names(pod, kind)


class Kubelet:
    def __init__(self, args: argparse.Namespace, client: Client, runtime: Runtime, node_name: str,
                 node_ip: str) -> None:
        self.args, self.client, self.runtime = args, client, runtime
        self.node_name, self.node_ip = node_name, node_ip
        self.recorder = EventRecorder(client, "kubelet", node_name)
        self.queue = WorkQueue(name="kubelet")
        self.pods = Informer(client, PODS, field_selector=f"spec.nodeName={node_name}")
        self.services = Informer(client, SERVICES)
        self.configmaps = ObjectCache(client, CONFIGMAPS, self._referrers_of("configMap"))
        self.secrets = ObjectCache(client, SECRETS, self._referrers_of("secret"))
        self.tokens = TokenManager(client)
        self._by_uid: dict[str, Obj] = {}
        self._lock = threading.Lock()
        self.node = nodestatus.NodeStatus(client, node_name, node_ip, args.port, args.root_dir, args.pod_cidr)
        self._allocatable: dict[str, str] = {}
        self._runtime_error: str | None = "not checked yet"
        self._node_old: Obj = {}
        self._syncing = threading.Event()
        self.volumes = VolumeManager(args.root_dir, self._configmap, self._secret, self.tokens.token,
                                     claim=self._claim, volume=self._volume, local_path_dir=args.local_path_dir)
        # Deleted local-path volumes of this node: their directories are removed here (kubelet/localpath.py).
        self.pvs = Informer(client, VOLUMES)
        self.local_path = LocalPathCleaner(client, node_name, args.local_path_dir, self.pvs.store.get)
        self.pvs.add_handler(self.local_path.on_volume, lambda old, new: self.local_path.on_volume(new))
        self.syncer = PodSyncer(
            client, runtime, self.volumes, node_name=node_name, node_ip=node_ip, root_dir=args.root_dir,
            infra_image=args.pod_infra_container_image, get_pod=self.pod_by_uid, configmap=self._configmap,
            secret=self._secret, event=self.recorder.event, requeue=self._requeue,
            allocatable=lambda: self._allocatable, service_env=self._service_env,
            cluster_dns=[ip.strip() for ip in args.cluster_dns.split(",") if ip.strip()],
            cluster_domain=args.cluster_domain, resolv_conf=args.resolv_conf)
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # Caches

    def pod_by_uid(self, uid: str) -> Obj | None:
        with self._lock:
            return self._by_uid.get(uid)

    def _configmap(self, namespace: str, name: str) -> Obj | None:
        return self.configmaps.get(namespace, name)

    def _secret(self, namespace: str, name: str) -> Obj | None:
        return self.secrets.get(namespace, name)

    def _claim(self, namespace: str, name: str) -> Obj | None:
        """A claim, read when a pod's volume is set up (the Node authorizer lets a kubelet read its pods')."""
        return self._read(CLAIMS, name, namespace)

    def _volume(self, name: str) -> Obj | None:
        return self._read(VOLUMES, name, None)

    def _read(self, rtype, name: str, namespace: str | None) -> Obj | None:
        try:
            return self.client.get(rtype, name, namespace)
        except errors.NotFound:
            return None
        except errors.ApiError as exc:
            raise VolumeError(f"could not read {rtype.plural} {name}: {exc}") from exc

    def _service_env(self, pod: Obj) -> dict[str, str]:
        namespace = pod["metadata"].get("namespace", "")
        return envvars.service_env(self.services.store.list(), namespace,
                                   pod.get("spec", {}).get("enableServiceLinks", True) is not False)

    def _pod_added(self, pod: Obj) -> None:
        uid, namespace = pod["metadata"]["uid"], pod["metadata"].get("namespace", "")
        with self._lock:
            self._by_uid[uid] = pod
        self.configmaps.set_references(uid, {(namespace, n) for n in referenced_names(pod, "configMap")})
        self.secrets.set_references(uid, {(namespace, n) for n in referenced_names(pod, "secret")})
        self.queue.add(uid)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        """Every update wakes the pod's sync, except the echo of a status this kubelet just wrote."""
        if self.syncer.is_own_echo(old, new):
            with self._lock:
                self._by_uid[new["metadata"]["uid"]] = new
            return
        self._pod_added(new)

    def _pod_deleted(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            self._by_uid.pop(uid, None)
        self.configmaps.release(uid)
        self.secrets.release(uid)
        self.tokens.forget(uid)
        self.queue.add(uid)

    def _referrers_of(self, kind: str):
        """A referenced ConfigMap or Secret changed: sync the pods that use it (their files, or env to retry)."""
        def handler(namespace: str, name: str) -> None:
            for pod in self.pods.store.list(namespace):
                if references(pod, kind, name):
                    self.queue.add(pod["metadata"]["uid"])
        return handler

    def _requeue(self, uid: str, delay: float) -> None:
        self.queue.add_after(uid, delay)

    # Running

    def run(self, stop: threading.Event) -> None:
        args = self.args
        tls = serving_context(args.tls_cert_file, args.tls_private_key_file, args.client_ca_file or None) \
            if args.tls_cert_file else None
        server = KubeletServer(args.address, args.port, self, tls=tls).start()
        log.info("kubelet API on %s://%s:%d%s", "https" if tls else "http", args.address, server.port,
                 " (client certificates required)" if args.client_ca_file else "")
        if args.healthz_port:
            serve_healthz(args.healthz_bind_address, args.healthz_port, self, stop)
        version = self._check_runtime()
        registered = self._retry(stop, lambda: self.node.register(self._node_status(version, {})), "register node")
        if registered is None:
            return
        self._allocatable = dict(registered.get("status", {}).get("allocatable") or {})
        self._node_old = registered.get("status") or {}
        self.node.renew_lease()
        threading.Thread(target=self._node_loop, args=(stop,), name="node status", daemon=True).start()
        cidr = self._wait_for_pod_cidr(stop, registered)
        if cidr is None:
            return
        self._retry(stop, lambda: self._ensure_network(cidr), "create the pod network")
        self._masquerade(cidr)
        self.pvs.start()
        self.local_path.run(stop)
        for informer in (self.services, self.pods):
            informer.start()
        for informer in (self.services, self.pods):
            while not informer.wait_for_sync(1.0):
                if stop.is_set():
                    return
        log.info("kubelet %s ready: pod CIDR %s, %d pods bound here", self.node_name, cidr, len(self.pods.store))
        for index in range(self.args.pod_workers):
            threading.Thread(target=self._worker, name=f"pod worker {index}", daemon=True).start()
        threading.Thread(target=self.runtime.watch_events, args=(self.queue.add, stop), name="docker events",
                         daemon=True).start()
        threading.Thread(target=self._housekeeping, args=(stop,), name="housekeeping", daemon=True).start()
        self._syncing.set()
        stop.wait()
        self.queue.shutdown()

    def _retry(self, stop: threading.Event, action, what: str):
        delay = 0.5
        while not stop.is_set():
            try:
                return action()
            except Exception as exc:
                log.warning("could not %s: %s; retrying in %.1fs", what, exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 10)
        return None

    def _ensure_network(self, cidr: str) -> bool:
        self.runtime.ensure_network(cidr)
        return True

    def _wait_for_pod_cidr(self, stop: threading.Event, node: Obj) -> str | None:
        """`--pod-cidr`, else what the controller-manager's node IPAM writes into spec.podCIDR."""
        while not stop.is_set():
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                return cidr
            log.info("waiting for node %s to get a podCIDR", self.node_name)
            if stop.wait(1.0):
                return None
            with contextlib.suppress(Exception):
                node = self.node.get()
        return None

    def _masquerade(self, cidr: str) -> None:
        """Pods reach the outside through a MASQUERADE for their CIDR, except towards the cluster's own range."""
        keep = self.args.non_masquerade_cidr
        if not keep or not shutil.which("iptables"):
            return
        rule = ["-s", cidr, "!", "-d", keep, "-m", "comment", "--comment", f"kubeling pod egress {cidr}",
                "-j", "MASQUERADE"]
        jump = ["-m", "comment", "--comment", "kubeling pod egress", "-j", MASQUERADE_CHAIN]
        try:
            subprocess.run(["iptables", "-w", "-t", "nat", "-N", MASQUERADE_CHAIN], capture_output=True)
            for chain, spec in (("POSTROUTING", jump), (MASQUERADE_CHAIN, rule)):
                check = subprocess.run(["iptables", "-w", "-t", "nat", "-C", chain, *spec], capture_output=True)
                if check.returncode != 0:
                    subprocess.run(["iptables", "-w", "-t", "nat", "-A", chain, *spec], check=True,
                                   capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            log.warning("could not add the pod egress masquerade rule: %s", exc)

    def _worker(self) -> None:
        while (uid := self.queue.get()) is not None:
            try:
                started = time.monotonic()
                self.syncer.sync(uid)
                log.debug("synced pod %s in %.3fs", uid, time.monotonic() - started)
            except Exception:
                log.exception("sync of pod %s failed; retrying", uid)
                self.queue.add_rate_limited(uid)
            else:
                self.queue.forget(uid)
            finally:
                self.queue.done(uid)

    def _housekeeping(self, stop: threading.Event) -> None:
        """Upstream's PLEG relist as a safety net for the Docker event stream: a pod with a container in a state
        its last sync did not see is synced (not for the containers a sync just started and saw running: in a
        burst that would sync every pod twice); containers of pods we no longer know get synced (and so removed);
        every pod is resynced every --sync-frequency."""
        last_resync = time.monotonic()
        while not stop.wait(HOUSEKEEPING_PERIOD):
            try:
                with self._lock:
                    known = set(self._by_uid)
                for container_id, (uid, state) in self.runtime.states().items():
                    if uid not in known or self.syncer.unseen(uid, container_id, state):
                        self.queue.add(uid)
                for uid in self.tokens.due():
                    self.queue.add(uid)
                if time.monotonic() - last_resync > self.args.sync_frequency:
                    last_resync = time.monotonic()
                    for uid in known:
                        self.queue.add(uid)
                self.syncer.crash_backoff.gc()
                self.syncer.pull_backoff.gc()
            except Exception as exc:
                log.warning("housekeeping: %s", exc)

    # Node status

    def _check_runtime(self) -> str:
        try:
            version = self.runtime.version()
            self._runtime_error = None
            return version
        except Exception as exc:
            self._runtime_error = str(exc)
            return "unknown"

    def _node_status(self, version: str, old: Obj) -> Obj:
        images: list[Obj] = []
        if self._runtime_error is None:
            with contextlib.suppress(Exception):
                images = nodestatus.image_list(self.runtime.images())
        return self.node.status(self._runtime_error, version, images, old)

    def _node_loop(self, stop: threading.Event) -> None:
        old: Obj = self._node_old
        version = "unknown"
        while not stop.wait(self.args.node_status_update_frequency):
            try:
                self.node.renew_lease()
                version = self._check_runtime() if self._runtime_error or version == "unknown" else version
                if self._runtime_error is None:
                    try:
                        self.runtime.ping()
                    except Exception as exc:
                        self._runtime_error = str(exc)
                new = self._node_status(version, old)
                self.node.write(new)
                old = new
            except Exception as exc:
                log.warning("node status: %s", exc)

    # The HTTP API's view

    def healthy(self) -> bool:
        """As upstream's syncloop health check: not healthy until the pod sync loop runs."""
        return self._syncing.is_set()

    def pod_list(self) -> list[Obj]:
        return [{"kind": "Pod", "apiVersion": "v1", **p} for p in self.pods.store.list()]

    def container_logs(self, namespace: str, name: str, container: str, *, follow: bool, previous: bool,
                       tail: int | None, timestamps: bool, since: float | None) -> Iterator[bytes]:
        pod = self.pods.store.get(keys.key(namespace, name))
        if pod is None:
            raise LogError(404, f'pod "{name}" not found')
        spec = pod.get("spec", {})
        kind = "app" if any(c.get("name") == container for c in spec.get("containers") or []) else "init"
        if kind == "init" and not any(c.get("name") == container for c in spec.get("initContainers") or []):
            raise LogError(400, f"container {container} is not valid for pod {name}")
        found = status.instances(self.runtime.list(pod["metadata"]["uid"]), container, kind)
        if previous:
            if len(found) < 2:
                raise LogError(400, f'previous terminated container "{container}" in pod "{name}" not found')
            record = found[1]
            follow = False
        else:
            if not found:
                reason = self._waiting_reason(pod, container)
                raise LogError(400, f'container "{container}" in pod "{name}" is waiting to start: {reason}')
            record = found[0]
        return self.runtime.logs(record.id, follow=follow, tail=tail, timestamps=timestamps, since=since)

    # What the streaming server (kubelet/streaming/) asks: exec, attach and port-forward

    def stream_container(self, namespace: str, name: str, container: str) -> str:
        """The id of the running container `container` of the pod, for exec and attach."""
        pod = self.pods.store.get(f"{namespace}/{name}")
        if pod is None:
            raise LogError(404, "pod does not exist")
        spec = pod.get("spec", {})
        names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
        if container not in names:
            raise LogError(404, f'container not found ("{container}")')
        kind = "app" if any(c.get("name") == container for c in spec.get("containers") or []) else "init"
        found = [r for r in status.instances(self.runtime.list(pod["metadata"]["uid"]), container, kind) if r.running]
        if not found:
            raise LogError(400, f'container "{container}" in pod "{name}" is not running')
        return found[0].id

    def stream_sandbox(self, namespace: str, name: str) -> tuple[int, str]:
        """(pid, IP) of the pod's sandbox: the process whose network namespace port-forward connects from."""
        pod = self.pods.store.get(f"{namespace}/{name}")
        if pod is None:
            raise LogError(404, "pod does not exist")
        records = self.runtime.list(pod["metadata"]["uid"])
        sandbox = next((r for r in records if r.kind == "sandbox" and r.running), None)
        if sandbox is None:
            raise LogError(400, f'pod "{name}" has no running sandbox')
        return self.runtime.sandbox_pid(sandbox.id), sandbox.ip or self.runtime.sandbox_ip(sandbox.id)

    @staticmethod
    def _waiting_reason(pod: Obj, container: str) -> str:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        statuses += (pod.get("status") or {}).get("initContainerStatuses") or []
        for entry in statuses:
            if entry.get("name") == container:
                return ((entry.get("state") or {}).get("waiting") or {}).get("reason") or "ContainerCreating"
        return "ContainerCreating"
