"""The HA cluster of tests/ha as the tests see it (`make up PROVIDER=docker TOPOLOGY=ha`: three masters, each also
an etcd member, behind the virtual address 10.210.0.200; two workers): kubectl through the address, commands on
the nodes, machines stopped and started, and what "healthy" means. tests/ha/conftest.py brings it up once for the
package; the fault battery and the topology tests share it.

It runs beside the plain cluster of tests/e2e/test_provisioning.py: its own containers (kubeling-ha-<node>), label,
Docker network (kubeling-ha), artifacts (artifacts/ha/: certificates, admin.conf, fact cache, this log).
"""


from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
ART = ROOT / "artifacts" / "ha"
INVENTORY = ROOT / "inventory" / "docker-ha"
KUBECONFIG = ART / "admin.conf"
LOG = ART / "ha-test.log"
VIP = "10.210.0.200"
MASTERS = ["master-1", "master-2", "master-3"]
WORKERS = ["worker-1", "worker-2"]
# What runs where: the control plane, an etcd member and keepalived on each master; Docker and the node agents on
# each worker.
UNITS = {**{m: ["etcd", "keepalived", "kubeling-apiserver", "kubeling-scheduler", "kubeling-controller-manager"]
            for m in MASTERS},
         **{w: ["docker", "kubeling-kubelet", "kubeling-proxy", "kubeling-network", "kubeling-dns"] for w in WORKERS}}
# Playbooks run by hand need the HA cluster's own fact cache (the node names overlap the plain cluster's).
ANSIBLE_ENV = {"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(ART / "facts")}
ETCDCTL = ["env", "ETCDCTL_API=3", "etcdctl", "--endpoints=https://127.0.0.1:2379",
           "--cacert=/etc/kubeling/pki/etcd/ca.crt", "--cert=/etc/kubeling/pki/etcd/peer.crt",
           "--key=/etc/kubeling/pki/etcd/peer.key"]


def eventually(check: Callable[[], Any], what: str, timeout: float, interval: float = 1.0) -> Any:
    """Call `check` until it returns something truthy, for at most `timeout` seconds; the last answer is in the
    failure."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def run(*argv: str, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a command from the repository root, logging its output to artifacts/ha/ha-test.log; fails with the
    output's tail."""
    began = time.monotonic()
    result = subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    output = result.stdout + result.stderr
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as log:
        log.write(f"\n===== {' '.join(argv)} ({time.monotonic() - began:.0f}s, exit {result.returncode})\n{output}")
    assert result.returncode == 0, f"{' '.join(argv)} failed ({result.returncode}):\n{output[-12000:]}"
    return output


class HACluster:
    """The HA cluster as the tests see it: kubectl through the virtual address, commands on the nodes, machines
    stopped and started."""

    kubeconfig = KUBECONFIG
    inventory = INVENTORY
    vip = VIP
    masters = MASTERS
    workers = WORKERS

    @staticmethod
    def container(node: str) -> str:
        return f"kubeling-ha-{node}"

    def address(self, node: str) -> str:
        """The node's address on the kubeling-ha network."""
        return subprocess.run(["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}"
                               "{{.IPAddress}}{{end}}", self.container(node)],
                              capture_output=True, text=True, check=True, timeout=30).stdout.strip()

    def exec(self, node: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """`docker exec` on the node, unchecked."""
        return subprocess.run(["docker", "exec", self.container(node), *cmd], capture_output=True, text=True,
                              timeout=timeout)

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60,
                check: bool = True) -> subprocess.CompletedProcess:
        argv = ["/usr/bin/kubectl", f"--kubeconfig={self.kubeconfig}", f"--request-timeout={timeout:.0f}s", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout + 10)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def running(self, node: str) -> bool:
        state = subprocess.run(["docker", "inspect", "--format", "{{.State.Running}}", self.container(node)],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return state == "true"

    def stop(self, node: str) -> None:
        """Power the machine off: `docker stop` of its whole container (systemd shuts down, then it is gone)."""
        subprocess.run(["docker", "stop", self.container(node)], check=True, capture_output=True, timeout=120)

    def start(self, node: str) -> None:
        """Power it on again (same address); does not wait for it."""
        subprocess.run(["docker", "start", self.container(node)], check=True, capture_output=True, timeout=120)

    def vip_holder(self) -> str | None:
        """The master whose interface has the virtual address now (None: nobody's)."""
        holders = [m for m in self.masters if self.running(m)
                   and f" {self.vip}/" in self.exec(m, "ip", "-4", "-o", "addr", "show", timeout=30).stdout]
        assert len(holders) <= 1, f"the virtual address is on several masters: {holders}"
        return holders[0] if holders else None

    def lease_holder(self, name: str) -> str:
        """The master holding kube-system's Lease `name` (kube-scheduler, kube-controller-manager): the host part
        of its holderIdentity (hostname_pid)."""
        lease = json.loads(self.kubectl("get", "lease", name, "-n", "kube-system", "-o", "json").stdout)
        return (lease["spec"].get("holderIdentity") or "").rpartition("_")[0]

    def ready_workers(self) -> set[str]:
        items = json.loads(self.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        return {n["metadata"]["name"] for n in items
                if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}

    def master_healthy(self, master: str) -> bool:
        """Its container runs, its etcd member answers, its API server is ready (keepalived's own check)."""
        return (self.running(master)
                and self.exec(master, *ETCDCTL, "endpoint", "health", timeout=30).returncode == 0
                and self.exec(master, "/etc/keepalived/check-apiserver", timeout=30).returncode == 0)

    def unhealthy(self) -> list[str]:
        """What is not as it should be (empty: healthy)."""
        problems = [f"{m} not healthy" for m in self.masters if not self.master_healthy(m)]
        if not self.vip_holder():
            problems.append("nobody holds the virtual address")
        try:
            missing = set(self.workers) - self.ready_workers()
        except (AssertionError, subprocess.SubprocessError) as exc:
            return [*problems, f"API through the virtual address: {exc}"]
        problems += [f"{w} not Ready" for w in sorted(missing)]
        return problems

    def wait_healthy(self, timeout: float = 300) -> None:
        """Every machine running, every etcd member healthy, every API server ready, the virtual address held, the
        workers Ready through it."""
        for node in self.masters + self.workers:
            if not self.running(node):
                self.start(node)
        eventually(lambda: not self.unhealthy() or None, "the HA cluster healthy", timeout, interval=3)

    def playbook(self, name: str, *args: str, timeout: float = 900) -> str:
        """ansible-playbook -i inventory/docker-ha (with the HA fact cache) playbooks/<name>; its output."""
        return run(str(VENV / "bin" / "ansible-playbook"), "-i", str(self.inventory), *args, f"playbooks/{name}",
                   timeout=timeout, env=ANSIBLE_ENV)

    def smoke(self, timeout: float = 900, stopped: tuple[str, ...] = ()) -> str:
        """The smoke suite (tests/cluster_smoke) through the virtual address; `stopped` machines are not scanned."""
        return run(sys.executable, "-m", "pytest", "tests/cluster_smoke", "-q", "-x", "-p", "no:cacheprovider",
                   timeout=timeout, env={"KUBELING_SMOKE_KUBECONFIG": str(self.kubeconfig),
                                         "KUBELING_SMOKE_INVENTORY": str(self.inventory.relative_to(ROOT)),
                                         "KUBELING_SMOKE_STOPPED_NODES": ",".join(stopped)})


def cluster_script(action: str, timeout: float) -> str:
    """scripts/docker-cluster.sh `action` (up, down) with TOPOLOGY=ha."""
    return run("scripts/docker-cluster.sh", action, timeout=timeout, env={"TOPOLOGY": "ha", "VENV": str(VENV)})
