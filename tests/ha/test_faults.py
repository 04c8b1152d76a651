"""The fault battery (issue 17): faults injected into the HA cluster while it works, and what must hold after each.

While every case runs: 32 writers create and update ConfigMaps through the virtual address (every acknowledged write
recorded with its value), the Deployment `web` (6 replicas) is rolling, the StatefulSet `db` (3 replicas) serves.
After every case: each acknowledged write is in the API with its last acknowledged value (or a later one that was
sent); no StatefulSet pod ever ran twice at once, as seen from the workers' Docker (`docker events`); the rollout
completes, the StatefulSet is ready and the cluster is healthy again.

The cases, in order: kill -9 of every daemon in turn; the master holding the virtual address stopped; one etcd
member stopped and started; a worker partitioned and healed; every API server restarted under 20 informers; etcd
out of space and recovered. The figures each case measures go to artifacts/ha/fault-figures.json (and, by hand,
to docs/reliability.md). Every wait is bounded; `make test-faults` runs this module alone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from kubeling.api.resources import must_lookup
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.config import from_kubeconfig
from kubeling.client.informer import Informer
from support.faultload import ContainerEvents, WriteLoad, problems_of
from support.hacluster import ART, ETCDCTL, HACluster, eventually

NS = "faults"
CONFIGMAPS = must_lookup("", "configmaps")
PODS = must_lookup("", "pods")
NODES = must_lookup("", "nodes")
DEPLOYMENTS = must_lookup("apps", "deployments")
STATEFULSETS = must_lookup("apps", "statefulsets")
WEB_REPLICAS, DB_REPLICAS = 6, 3
FIGURES = ART / "fault-figures.json"
MASTER_DAEMONS = ["kubeling-apiserver", "kubeling-scheduler", "kubeling-controller-manager", "etcd", "keepalived"]
WORKER_DAEMONS = ["kubeling-kubelet", "kubeling-proxy", "kubeling-network", "kubeling-dns"]
PARTITION = [["INPUT", "-i", "eth0"], ["OUTPUT", "-o", "eth0"], ["FORWARD", "-i", "eth0"], ["FORWARD", "-o", "eth0"]]
QUOTA_DROPIN = "/etc/systemd/system/etcd.service.d/zz-fault-quota.conf"


def soon(check: Callable[[], Any], what: str, timeout: float, interval: float = 1.0) -> Any:
    """`eventually`, where an API error or a broken connection (a fault in progress) counts as "not yet"."""

    def attempt() -> Any:
        try:
            return check()
        except (errors.ApiError, requests.RequestException, OSError) as exc:
            return FailedAttempt(exc)

    return eventually(attempt, what, timeout, interval)


class FailedAttempt:
    """A falsy answer that keeps the error, so a timeout shows the last one."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return repr(self.error)


def web_and_db() -> list[dict[str, Any]]:
    probe = {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 2, "failureThreshold": 2}
    container = {"name": "web", "image": "kubeling/web:1", "ports": [{"containerPort": 80}], "readinessProbe": probe}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
         "spec": {"replicas": WEB_REPLICAS, "selector": {"matchLabels": {"app": "web"}},
                  "strategy": {"rollingUpdate": {"maxSurge": 2, "maxUnavailable": 1}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": NS},
         "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 80}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": NS},
         "spec": {"replicas": DB_REPLICAS, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                  "template": {"metadata": {"labels": {"app": "db"}},
                               "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]}}}},
    ]


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


class Battery:
    """The HA cluster with the load, the workloads and the container events running; the checks of every case."""

    def __init__(self, cluster: HACluster) -> None:
        self.cluster = cluster
        self.config = from_kubeconfig(str(cluster.kubeconfig))
        self.client = Client(self.config, "fault-battery", retries=2, timeout=15)
        self.figures: dict[str, Any] = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        cluster.kubectl("create", "namespace", NS, check=False)
        soon(lambda: cluster.kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": web_and_db()}), check=False).returncode == 0,
            "the workloads applied", 120, interval=3)
        self.wait_converged(300)
        self.events = ContainerEvents({w: cluster.container(w) for w in cluster.workers}, NS).start()
        self.load = WriteLoad(Client(self.config, "fault-load", retries=0, timeout=15), NS).start()

    def close(self) -> None:
        self.load.stop()
        self.events.stop()
        self.cluster.kubectl("delete", "namespace", NS, "--wait=false", check=False)

    def record(self, case: str, **figures: Any) -> None:
        self.figures[case] = {**self.figures.get(case, {}), **figures}
        FIGURES.write_text(json.dumps(self.figures, indent=2, sort_keys=True) + "\n")

    # The workloads

    def roll(self) -> None:
        """Start a rollout of `web` (a new template annotation), as `kubectl rollout restart` does."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + f"-{time.monotonic_ns()}"
        patch = {"spec": {"template": {"metadata": {"annotations": {"faults.kubeling.io/rolled-at": stamp}}}}}
        soon(lambda: self.client.patch(DEPLOYMENTS, "web", patch, NS), "the rollout started", 60)

    def rollout_done(self) -> bool:
        web = self.client.get(DEPLOYMENTS, "web", NS)
        status = web.get("status") or {}
        return (status.get("observedGeneration", 0) >= web["metadata"].get("generation", 0)
                and status.get("updatedReplicas") == status.get("replicas") == WEB_REPLICAS
                and status.get("availableReplicas") == WEB_REPLICAS)

    def db_ready(self) -> bool:
        pods = [p for p in self.client.list(PODS, NS, label_selector="app=db").get("items") or []
                if not p["metadata"].get("deletionTimestamp")]
        return len(pods) == DB_REPLICAS and all(ready(p) for p in pods)

    def wait_converged(self, timeout: float = 300) -> None:
        soon(lambda: self.rollout_done() and self.db_ready(), "web rolled out and db ready", timeout, 2)

    def pods(self, selector: str) -> list[dict[str, Any]]:
        return self.client.list(PODS, NS, label_selector=selector).get("items") or []

    # After every case

    def check(self, case: str) -> None:
        self.cluster.wait_healthy(timeout=300)
        self.wait_converged(300)
        found = problems_of(
            lost_writes=self.load.check(),
            ran_twice=self.events.overlapping(lambda pod: pod.startswith("db-")),
        )
        self.record(case, acknowledged_writes=len(self.load.ack_times), failed_writes=self.load.failure_count)
        assert not found, f"after {case}: {json.dumps(found, indent=2)}"

    # The machines

    def main_pid(self, node: str, unit: str) -> int:
        out = self.cluster.exec(node, "systemctl", "show", "-p", "MainPID", "--value", unit, timeout=30).stdout
        return int(out.strip() or 0)

    def active(self, node: str, unit: str) -> bool:
        return self.cluster.exec(node, "systemctl", "is-active", unit, timeout=30).stdout.strip() == "active"

    def etcdctl(self, node: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.cluster.exec(node, *ETCDCTL, *args, timeout=timeout)

    def etcd_status(self, node: str) -> dict[str, Any]:
        result = self.etcdctl(node, "endpoint", "status", "-w", "json", timeout=30)
        assert result.returncode == 0, result.stderr
        (status,) = json.loads(result.stdout)
        return status["Status"]

    def api_answers(self) -> bool:
        try:
            return self.client.request("GET", "/readyz", timeout=3).status_code == 200
        except (errors.ApiError, OSError):
            return False


@pytest.fixture(scope="module")
def battery(ha_cluster: HACluster) -> Iterator[Battery]:
    battery = Battery(ha_cluster)
    try:
        yield battery
    finally:
        battery.close()


def test_kill_9_of_every_daemon_in_turn(battery: Battery) -> None:
    """Each daemon killed with SIGKILL comes back (systemd's Restart=always) and the cluster works on."""
    cluster = battery.cluster
    battery.roll()
    slowest: dict[str, float] = {}
    targets = [*((m, MASTER_DAEMONS) for m in cluster.masters), *((w, WORKER_DAEMONS) for w in cluster.workers)]
    for node, units in targets:
        for unit in units:
            pid = battery.main_pid(node, unit)
            assert pid, f"{unit} is not running on {node}"
            killed = time.monotonic()
            cluster.exec(node, "kill", "-9", str(pid), timeout=30)
            soon(lambda n=node, u=unit, p=pid: battery.main_pid(n, u) not in (0, p) and battery.active(n, u),
                       f"{unit} on {node} restarted", 60)
            if unit == "etcd":  # never take the next member while this one has not rejoined
                soon(lambda n=node: battery.etcdctl(n, "endpoint", "health", timeout=30).returncode == 0,
                           f"etcd on {node} healthy", 90, 2)
            if unit == "kubeling-apiserver":
                soon(lambda n=node: cluster.exec(n, "/etc/keepalived/check-apiserver", timeout=30)
                           .returncode == 0, f"the API server on {node} ready", 90, 2)
            slowest[unit] = max(slowest.get(unit, 0.0), time.monotonic() - killed)
    battery.record("kill9", seconds_until_back_by_daemon={u: round(s, 1) for u, s in sorted(slowest.items())})
    battery.check("kill9")


def test_stop_the_master_holding_the_virtual_address(battery: Battery) -> None:
    """The address moves to another master, the API answers through it, the new leaders schedule."""
    cluster = battery.cluster
    holder = cluster.vip_holder()
    assert holder, "nobody holds the virtual address"
    battery.roll()
    stopped = time.monotonic()
    try:
        cluster.stop(holder)
        soon(battery.api_answers, "the API answering through the virtual address", 120, 0.5)
        api_seconds = time.monotonic() - stopped
        new_holder = soon(cluster.vip_holder, "a new holder of the virtual address", 60)
        assert new_holder != holder
        probe = f"bind-probe-{int(time.time())}"
        created = time.monotonic()
        soon(lambda: battery.client.create(PODS, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": probe},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "kubeling/web:1"}]}}, NS), "the probe pod created", 60)
        soon(lambda: (battery.client.get(PODS, probe, NS).get("spec") or {}).get("nodeName"),
                   "the probe pod bound by the new scheduler leader", 120, 0.5)
        bind_seconds = time.monotonic() - created
        battery.client.delete(PODS, probe, NS)
        for lease in ("kube-scheduler", "kube-controller-manager"):
            soon(lambda name=lease: cluster.lease_holder(name) not in ("", holder), f"{lease} moved", 90, 2)
        battery.record("vip_master_stopped", seconds_until_api_answers=round(api_seconds, 1),
                       seconds_until_new_pod_binds=round(bind_seconds, 1),
                       seconds_from_stop_until_bound=round(time.monotonic() - stopped, 1))
    finally:
        cluster.start(holder)
    battery.check("vip_master_stopped")


def test_stop_one_etcd_member_write_start_it(battery: Battery) -> None:
    """Writes go on with two of three members; the member started again catches up."""
    cluster = battery.cluster
    member = next(m for m in reversed(cluster.masters) if m != cluster.vip_holder())
    battery.roll()
    cluster.exec(member, "systemctl", "stop", "etcd", timeout=60)
    began = time.monotonic()
    try:
        time.sleep(20)  # the writers write meanwhile
        ended = time.monotonic()
        acks, gap = battery.load.acks_between(began, ended), battery.load.longest_gap(began, ended)
    finally:
        cluster.exec(member, "systemctl", "start", "etcd", timeout=60)
    restarted = time.monotonic()
    assert acks > 0 and gap < 15, f"writes stopped with one etcd member down: {acks} acknowledged, gap {gap:.1f}s"
    others = [m for m in cluster.masters if m != member]

    def caught_up() -> bool:
        battery.load.pause()
        try:
            return battery.etcd_status(member)["header"]["revision"] >= battery.etcd_status(others[0])["header"][
                "revision"]
        finally:
            battery.load.resume()

    soon(caught_up, f"etcd on {member} caught up", 120, 2)
    battery.record("etcd_member_stopped", acknowledged_writes_while_down=acks, longest_write_gap_seconds=round(gap, 1),
                   seconds_until_caught_up=round(time.monotonic() - restarted, 1))
    battery.check("etcd_member_stopped")


def test_partition_a_worker(battery: Battery) -> None:
    """A worker cut off its network goes NotReady; its Deployment pods run on the other worker within a minute;
    its StatefulSet pod is not started twice. Healed, it is Ready again and its stale containers are removed."""
    cluster = battery.cluster
    db_nodes = {(p.get("spec") or {}).get("nodeName") for p in battery.pods("app=db")}
    web_count = {w: sum(1 for p in battery.pods("app=web") if p["spec"].get("nodeName") == w) for w in cluster.workers}
    victim = max((w for w in cluster.workers if w in db_nodes), key=lambda w: web_count[w], default=cluster.workers[0])
    other = next(w for w in cluster.workers if w != victim)

    def web_elsewhere() -> bool:
        pods = [p for p in battery.pods("app=web") if not p["metadata"].get("deletionTimestamp")]
        return len(pods) == WEB_REPLICAS and all(p["spec"].get("nodeName") == other and ready(p) for p in pods)

    def node_ready(name: str) -> bool:
        node = battery.client.get(NODES, name)
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions") or [])

    battery.roll()
    cut = time.monotonic()
    for rule in PARTITION:
        cluster.exec(victim, "iptables", "-I", *rule[:1], "1", *rule[1:], "-j", "DROP", timeout=30)
    try:
        soon(lambda: not node_ready(victim), f"{victim} NotReady", 120, 1)
        not_ready = time.monotonic() - cut
        soon(web_elsewhere, f"web's pods running on {other}", 180, 1)
        elsewhere = time.monotonic() - cut
    finally:
        for rule in PARTITION:
            cluster.exec(victim, "iptables", "-D", *rule, "-j", "DROP", timeout=30)
    healed = time.monotonic()
    soon(lambda: node_ready(victim), f"{victim} Ready again", 120, 1)

    def no_stale_containers() -> bool:
        uids = {p["metadata"]["uid"] for p in battery.client.list(PODS, NS).get("items") or []}
        running = cluster.exec(victim, "docker", "ps", "--filter", f"label=io.kubernetes.pod.namespace={NS}",
                               "--format", '{{.Label "io.kubernetes.pod.uid"}}', timeout=30).stdout.split()
        return not set(running) - uids

    soon(no_stale_containers, f"the stale containers on {victim} removed", 120, 2)
    battery.record("worker_partitioned", worker=victim, seconds_until_not_ready=round(not_ready, 1),
                   seconds_until_pods_running_elsewhere=round(elsewhere, 1),
                   seconds_from_heal_until_clean=round(time.monotonic() - healed, 1))
    battery.check("worker_partitioned")
    assert elsewhere < 60, f"a partitioned worker's pods took {elsewhere:.0f}s to run elsewhere (target: under 60)"


class CountingClient(Client):
    """A client that counts its lists (an informer's relists)."""

    lists = 0

    def list_all(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.lists += 1
        return super().list_all(*args, **kwargs)


def etcd_revisions(battery: Battery, node: str, after: int, until: int) -> set[int]:
    """The revisions of every change etcd holds under the namespace's ConfigMaps in (after, until]."""
    result = battery.cluster.exec(node, "timeout", "15", *ETCDCTL, "watch", "--prefix", f"--rev={after + 1}",
                                  "-w", "json", f"/registry/configmaps/{NS}/", timeout=60)
    decoder, text, found = json.JSONDecoder(), result.stdout, set()
    position = 0
    while (start := text.find("{", position)) >= 0:
        response, position = decoder.raw_decode(text, start)
        for event in response.get("Events") or []:
            revision = int(event["kv"]["mod_revision"])
            if revision <= until:
                found.add(revision)
    return found


def test_restart_every_api_server_under_twenty_informers(battery: Battery) -> None:
    """Informers resume from their resourceVersion (no relist) and miss no event that etcd has."""
    cluster = battery.cluster
    informers: list[Informer] = []
    seen: list[set[int]] = []
    for _ in range(20):
        revisions: set[int] = set()
        client = CountingClient(battery.config, "fault-informer", retries=0, timeout=15)
        informer = Informer(client, CONFIGMAPS, NS)

        def added(obj: dict[str, Any], into: set[int] = revisions) -> None:
            into.add(int(obj["metadata"]["resourceVersion"]))

        def updated(old: dict[str, Any], new: dict[str, Any], into: set[int] = revisions) -> None:
            into.add(int(new["metadata"]["resourceVersion"]))

        informer.add_handler(added, updated, added)  # a deletion's event carries the deletion's revision
        informers.append(informer.start())
        seen.append(revisions)
    try:
        assert all(i.wait_for_sync(60) for i in informers), "the informers did not sync"
        since = int(battery.client.list(CONFIGMAPS, NS, limit=1)["metadata"]["resourceVersion"])
        restarters = [threading.Thread(target=cluster.exec, args=(m, "systemctl", "restart", "kubeling-apiserver"),
                                       kwargs={"timeout": 120}) for m in cluster.masters]
        for thread in restarters:
            thread.start()
        for thread in restarters:
            thread.join(130)
        soon(lambda: all(cluster.exec(m, "/etc/keepalived/check-apiserver", timeout=30).returncode == 0
                               for m in cluster.masters), "every API server ready again", 120, 2)
        time.sleep(5)  # writes through the restarted servers
        battery.load.pause()
        try:
            until = int(battery.client.list(CONFIGMAPS, NS, limit=1)["metadata"]["resourceVersion"])
            expected = etcd_revisions(battery, cluster.masters[0], since, until)
            assert expected, "no write reached etcd during the restarts"

            def all_seen() -> list[int]:
                return [len(expected - s) for s in seen]

            soon(lambda: not any(all_seen()), "every informer to see every revision", 60, 1)
        finally:
            battery.load.resume()
        relists = [i.client.lists - 1 for i in informers]  # type: ignore[attr-defined]
        battery.record("apiservers_restarted", informers=len(informers), revisions_checked=len(expected),
                       relists=sum(relists))
        assert relists == [0] * len(informers), f"informers relisted: {relists}"
    finally:
        for informer in informers:
            informer.stop()
    battery.check("apiservers_restarted")


def set_quota(battery: Battery, quota: int | None) -> None:
    """Restart the etcd members one by one with `--quota-backend-bytes` (None: etcd's default again)."""
    for master in battery.cluster.masters:
        if quota is None:
            battery.cluster.exec(master, "rm", "-f", QUOTA_DROPIN, timeout=30)
        else:
            content = f"[Service]\nEnvironment=ETCD_QUOTA_BACKEND_BYTES={quota}\n"
            battery.cluster.exec(master, "sh", "-c", f"mkdir -p {QUOTA_DROPIN.rsplit('/', 1)[0]} && "
                                 f"printf '%s' '{content}' > {QUOTA_DROPIN}", timeout=30)
        battery.cluster.exec(master, "systemctl", "daemon-reload", timeout=60)
        battery.cluster.exec(master, "systemctl", "restart", "etcd", timeout=120)
        soon(lambda m=master: battery.etcdctl(m, "endpoint", "health", timeout=30).returncode == 0,
                   f"etcd on {master} healthy", 120, 2)


def test_etcd_out_of_space(battery: Battery) -> None:
    """Writes get a clear Status error (no hang), reads go on; compaction, defragmentation and disarming the alarm
    (docs/reliability.md) bring writes back."""
    cluster = battery.cluster
    master = cluster.masters[0]
    size = max(int(battery.etcd_status(m)["dbSize"]) for m in cluster.masters)
    quota = size + 12 * 2**20
    set_quota(battery, quota)
    filler = Client(battery.config, "fault-filler", retries=0, timeout=30)
    payload = base64.b64encode(bytes(range(256)) * 1536).decode()  # ~512 KiB
    refused: errors.ApiError | None = None
    took = 0.0
    try:
        for attempt in range(200):
            name = f"fill-{attempt % 4}"
            began = time.monotonic()
            try:
                try:
                    filler.patch(CONFIGMAPS, name, {"data": {"blob": f"{attempt}{payload}"}}, NS)
                except errors.NotFound:
                    filler.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                               "data": {"blob": payload}}, NS)
            except errors.ApiError as exc:
                if "space" in str(exc):
                    refused, took = exc, time.monotonic() - began
                    break
                raise
        assert refused is not None, "etcd never ran out of space"
        assert took < 30, f"the refused write took {took:.0f}s"
        assert refused.status == 500 and "database space exceeded" in str(refused), refused
        assert battery.client.list(CONFIGMAPS, NS, limit=5)["items"], "reads stopped"

        # The procedure of docs/reliability.md: compact the history, defragment every member, disarm the alarm.
        fixed = time.monotonic()
        revision = battery.etcd_status(master)["header"]["revision"]
        assert battery.etcdctl(master, "compact", str(revision)).returncode == 0
        for m in cluster.masters:
            assert battery.etcdctl(m, "defrag", timeout=120).returncode == 0
        assert battery.etcdctl(master, "alarm", "disarm").returncode == 0
        soon(lambda: filler.patch(CONFIGMAPS, "fill-0", {"data": {"blob": "small"}}, NS),
                   "writes accepted again", 60, 1)
        battery.record("etcd_out_of_space", quota_bytes=quota, seconds_to_refuse_a_write=round(took, 2),
                       refused_with=str(refused)[:200],
                       seconds_from_compaction_until_writes=round(time.monotonic() - fixed, 1))
    finally:
        for index in range(4):
            with contextlib.suppress(errors.ApiError):
                filler.delete(CONFIGMAPS, f"fill-{index}", NS)
        set_quota(battery, None)
        battery.etcdctl(master, "alarm", "disarm")
    battery.check("etcd_out_of_space")
