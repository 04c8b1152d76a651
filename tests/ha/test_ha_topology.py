"""`make up PROVIDER=docker TOPOLOGY=ha`: three masters with stacked etcd behind one virtual address, two workers.

In order, on the package's cluster (tests/ha/conftest.py): the five machines come up (etcd members, API servers,
the address held by one master, the workers Ready), every kubeconfig names the virtual address and the API server
certificate carries it; a second site.yml run changes nothing; the smoke suite passes through the address; then
master-1 holds the address and both leader leases and its whole machine is stopped: the address moves, the other
masters' scheduler and controller-manager take the leases, the smoke suite passes again; master-1 comes back, rejoins
etcd and is ready again (the cluster is left healthy for the next module). Last, etcd-backup.yml and
etcd-restore.yml on the three members: a namespace deleted after the backup is back after the restore.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid

import pytest
from cryptography import x509

from support.hacluster import ART, ETCDCTL, UNITS, HACluster, eventually

pytestmark = pytest.mark.e2e

LEASES = ("kube-scheduler", "kube-controller-manager")
# Seconds from each fault to what followed, one JSON object per line (docs/provisioning.md quotes them).
FIGURES = ART / "topology-figures.jsonl"


def record(event: str, figures: dict[str, float]) -> None:
    with FIGURES.open("a") as out:
        out.write(json.dumps({"event": event, **{k: round(v, 1) for k, v in figures.items()}}) + "\n")


def active_units(cluster: HACluster, node: str) -> list[str]:
    script = 'for u; do echo "$u $(systemctl is-active "$u") $(systemctl is-enabled "$u" 2>/dev/null)"; done'
    lines = cluster.exec(node, "sh", "-c", script, "sh", *UNITS[node]).stdout.splitlines()
    return [line.split()[0] for line in lines if line.split()[1:] == ["active", "enabled"]]


def servers_in(text: str) -> list[str]:
    return re.findall(r"^\s*server: (\S+)", text, re.M)


def test_five_machines_up_behind_one_address(ha_cluster: HACluster) -> None:
    cluster = ha_cluster
    assert cluster.ready_workers() == set(cluster.workers)
    for node in cluster.masters + cluster.workers:
        assert active_units(cluster, node) == UNITS[node], node
    assert cluster.vip_holder() in cluster.masters

    # etcd: one cluster of three members, every API server told about all of them.
    members = cluster.exec("master-1", *ETCDCTL, "member", "list", "--write-out=simple").stdout
    assert sorted(line.split(", ")[2] for line in members.splitlines()) == cluster.masters
    addresses = {m: cluster.address(m) for m in cluster.masters}
    for master in cluster.masters:
        flags = cluster.exec(master, "cat", "/etc/kubeling/apiserver.env").stdout
        servers = re.search(r"--etcd-servers=(\S+)", flags)
        assert servers, flags
        assert sorted(servers.group(1).split(",")) == sorted(f"https://{a}:2379" for a in addresses.values())

    # One address for the API: the admin kubeconfig, and on the nodes the kubelets', proxies', DNS daemons' and
    # masters' admin kubeconfigs; the scheduler and controller-manager talk to their own master's API server.
    vip_url = f"https://{cluster.vip}:6443"
    assert servers_in(cluster.kubeconfig.read_text()) == [vip_url]
    for worker in cluster.workers:
        for name in ("kubelet", "proxy", "dns"):
            assert servers_in(cluster.exec(worker, "cat", f"/etc/kubeling/{name}.conf").stdout) == [vip_url], name
    for master in cluster.masters:
        assert servers_in(cluster.exec(master, "cat", "/etc/kubeling/admin.conf").stdout) == [vip_url]
        for name in ("scheduler", "controller-manager"):
            local = servers_in(cluster.exec(master, "cat", f"/etc/kubeling/{name}.conf").stdout)
            assert local == ["https://127.0.0.1:6443"], (master, name)

    # The certificate served on the address names it; the `kubernetes` Service sends pods to it.
    shown = subprocess.run(["openssl", "s_client", "-connect", f"{cluster.vip}:6443"], input="",
                           capture_output=True, text=True, timeout=30).stdout
    pem = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", shown, re.S)
    assert pem, shown[-2000:]
    sans = x509.load_pem_x509_certificate(pem.group(0).encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert cluster.vip in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    endpoints = cluster.kubectl("get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[*].addresses[*].ip}")
    assert endpoints.stdout.split() == [cluster.vip]


def test_second_site_run_changes_nothing(ha_cluster: HACluster) -> None:
    output = ha_cluster.playbook("site.yml")
    changed = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}
    assert set(ha_cluster.masters + ha_cluster.workers) <= set(changed), changed
    assert all(count == 0 for count in changed.values()), f"second run changed: {changed}"


def test_smoke_suite_through_the_virtual_address(ha_cluster: HACluster) -> None:
    ha_cluster.smoke()


def move_to_master_1(cluster: HACluster) -> None:
    """Give master-1 the virtual address and both leader leases: the others' keepalived, scheduler and controller
    manager stop (handing over at once), then start again as standbys (nopreempt: the address stays)."""
    others = [m for m in cluster.masters if m != "master-1"]
    units = ["keepalived", "kubeling-scheduler", "kubeling-controller-manager"]
    for master in others:
        cluster.exec(master, "systemctl", "stop", *units)
    try:
        eventually(lambda: cluster.vip_holder() == "master-1", "master-1 holds the virtual address", 60)
        for lease in LEASES:
            eventually(lambda lease=lease: cluster.lease_holder(lease) == "master-1", f"master-1 holds {lease}", 60)
    finally:
        for master in others:
            cluster.exec(master, "systemctl", "start", *units)


def test_master_1_lost_and_back(ha_cluster: HACluster) -> None:
    cluster = ha_cluster
    move_to_master_1(cluster)
    figures: dict[str, float] = {}
    began = time.monotonic()
    cluster.stop("master-1")
    try:
        stopped = time.monotonic()
        figures["docker stop"] = stopped - began
        holder = eventually(cluster.vip_holder, "another master holds the virtual address", 60, interval=0.5)
        figures["address moved"] = time.monotonic() - stopped
        assert holder in ("master-2", "master-3")
        eventually(lambda: cluster.kubectl("get", "--raw", "/readyz", timeout=10).stdout == "ok",
                   "the API answers on the virtual address", 60, interval=0.5)
        figures["API answers"] = time.monotonic() - stopped
        for lease in LEASES:
            new = eventually(lambda lease=lease: cluster.lease_holder(lease) not in ("", "master-1")
                             and cluster.lease_holder(lease), f"another master holds {lease}", 60, interval=0.5)
            figures[f"{lease} lease moved"] = time.monotonic() - stopped
            assert new in ("master-2", "master-3")
        record("docker stop master-1 (held the address and both leases)", figures)
        assert cluster.ready_workers() == set(cluster.workers)
        cluster.smoke(stopped=("master-1",))
    finally:
        cluster.start("master-1")
    # Back: its etcd member rejoins (and catches up), its API server is ready, its keepalived a standby.
    eventually(lambda: cluster.master_healthy("master-1"), "master-1 healthy again", 300, interval=3)
    assert cluster.vip_holder() in ("master-2", "master-3")
    cluster.wait_healthy()


def test_leader_machine_vanishes_and_its_leases_expire(ha_cluster: HACluster) -> None:
    """`docker kill`: the machine is gone at once, nothing on it shuts down or gives its Leases up. The other
    masters take them when they expire: 15 s after the last renewal, at a standby's next 2 s try (client-go's
    timings, agents/kubeling/client/leaderelection.py)."""
    cluster = ha_cluster
    victim = cluster.lease_holder("kube-scheduler")
    assert victim in cluster.masters
    figures: dict[str, float] = {}
    subprocess.run(["docker", "kill", cluster.container(victim)], check=True, capture_output=True, timeout=60)
    killed = time.monotonic()
    try:
        for lease in LEASES:
            eventually(lambda lease=lease: cluster.lease_holder(lease) not in ("", victim),
                       f"{lease} taken over", 90, interval=0.5)
            figures[f"{lease} lease moved"] = time.monotonic() - killed
        eventually(lambda: cluster.vip_holder() not in (None, victim), "the virtual address held", 60, interval=0.5)
        figures["address held"] = time.monotonic() - killed
        record(f"docker kill {victim} (held the scheduler's lease)", figures)
    finally:
        cluster.start(victim)
    eventually(lambda: cluster.master_healthy(victim), f"{victim} healthy again", 300, interval=3)
    cluster.wait_healthy()


def test_backup_then_restore_every_etcd_member(ha_cluster: HACluster) -> None:
    """etcd-backup.yml saves a snapshot on one member; etcd-restore.yml restores all three members from it (new data
    directories, the same names and peer URLs) and starts the control plane again: a namespace deleted after the
    backup is back with its objects, and the cluster is healthy."""
    cluster = ha_cluster
    namespace = f"restore-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("create", "configmap", "settings", "-n", namespace, "--from-literal", "mode=kept")
    backups = ART / "etcd-backups"
    before = set(backups.glob("etcd-snapshot-*.db"))
    cluster.playbook("etcd-backup.yml")
    (snapshot,) = set(backups.glob("etcd-snapshot-*.db")) - before

    cluster.kubectl("delete", "namespace", namespace, "--timeout=180s", timeout=190)
    cluster.playbook("etcd-restore.yml", "-e", f"snapshot={snapshot}")

    members = cluster.exec("master-1", *ETCDCTL, "member", "list", "-w", "json").stdout
    assert sorted(m["name"] for m in json.loads(members)["members"]) == cluster.masters
    for master in cluster.masters:
        assert cluster.exec(master, *ETCDCTL, "endpoint", "health").returncode == 0, master
    assert cluster.kubectl("get", "configmap", "settings", "-n", namespace,
                           "-o", "jsonpath={.data.mode}").stdout == "kept"
    cluster.wait_healthy()
