"""`make up PROVIDER=docker` end to end: four systemd containers provisioned by the playbooks, the smoke suite over
TLS, then the day-2 playbooks (scale, remove-node, upgrade, rotate-certs, reset, site again) and the idempotence
of site.yml. Timings go to artifacts/provisioning-timings.json (docs/benchmarks.md quotes them).
Runs with `make test-provisioning` (tests/conftest.py leaves it out of a plain `make test`).

One long test on purpose: every step needs the cluster the previous one left. It replaces any Docker cluster
`make up PROVIDER=docker` made before (`make down` first), and removes it at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = Path(sys.executable).parent / "ansible-playbook"
KUBECONFIG = ROOT / "artifacts" / "admin.conf"
LOG = ROOT / "artifacts" / "provisioning-test.log"
TIMINGS = ROOT / "artifacts" / "provisioning-timings.json"
EXTRA_WORKER = "worker-3"

pytestmark = pytest.mark.e2e


def run(*argv: str, timeout: float, env: dict[str, str] | None = None) -> tuple[str, float]:
    """Run a command from the repository root, logging its output; (output, seconds). Fails with the tail."""
    began = time.monotonic()
    result = subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    took = time.monotonic() - began
    output = result.stdout + result.stderr
    with LOG.open("a") as log:
        log.write(f"\n===== {' '.join(argv)} ({took:.0f}s, exit {result.returncode})\n{output}")
    assert result.returncode == 0, f"{' '.join(argv)} failed ({result.returncode}):\n{output[-6000:]}"
    return output, took


def playbook(name: str, *args: str, timeout: float = 600) -> tuple[str, float]:
    return run(str(ANSIBLE), "-i", "inventory/docker", *args, f"playbooks/{name}", timeout=timeout)


def changed_counts(output: str) -> dict[str, int]:
    """PLAY RECAP: host → changed."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def kubectl(*args: str, timeout: float = 30) -> str:
    result = subprocess.run(["/usr/bin/kubectl", f"--kubeconfig={KUBECONFIG}", *args], capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def node_exec(node: str, *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", f"kubeling-{node}", *cmd], capture_output=True, text=True, timeout=60)


def ready_nodes() -> set[str]:
    items = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    return {n["metadata"]["name"] for n in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}


def leftovers(node: str) -> list[str]:
    """What reset.yml must have removed: our units, directories, chains and routes."""
    script = ("ls -d /etc/kubeling /opt/kubeling /var/lib/kubeling /var/lib/etcd/kubeling "
              "/etc/systemd/system/kubeling-* /etc/systemd/system/etcd.service.d/kubeling.conf 2>/dev/null; "
              "iptables-save | grep -E '^:(KUBE|KUBELING)-' ; ip -4 route show proto 77")
    return node_exec(node, "sh", "-c", script).stdout.split("\n")[:-1]


class AvailabilityWatch:
    """Polls a Deployment's availableReplicas in the background; `.lowest` is the least value seen."""

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name, self.lowest, self.samples = namespace, name, None, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                status = json.loads(kubectl("get", "deployment", self.name, "-n", self.namespace, "-o", "json",
                                            timeout=10))["status"]
            except (AssertionError, subprocess.TimeoutExpired, ValueError):
                continue  # the API server restarts during an upgrade: not the Deployment's availability
            available = status.get("availableReplicas", 0)
            self.lowest = available if self.lowest is None else min(self.lowest, available)
            self.samples += 1

    def __enter__(self) -> AvailabilityWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def test_make_up_docker_then_day_two_playbooks(tmp_path: Path) -> None:
    LOG.parent.mkdir(exist_ok=True)
    LOG.write_text("")
    timings: dict[str, float] = {}
    run("make", "down", "PROVIDER=docker", timeout=300)
    try:
        output, timings["make up (to all nodes Ready)"] = run("make", "up", "PROVIDER=docker", timeout=1200)
        assert "kubectl --kubeconfig artifacts/admin.conf get nodes" in output
        assert ready_nodes() == {"worker-1", "worker-2"}

        _, timings["smoke suite"] = run(sys.executable, "-m", "pytest", "tests/cluster_smoke", "-q", "-x",
                                        "-p", "no:cacheprovider", timeout=900,
                                        env={"KUBELING_SMOKE_KUBECONFIG": str(KUBECONFIG)})

        output, timings["site.yml again (idempotent)"] = playbook("site.yml")
        changed = changed_counts(output)
        assert changed and all(count == 0 for count in changed.values()), f"second run changed: {changed}"

        # scale.yml: one more worker, in an inventory of its own beside inventory/docker.
        run("scripts/docker-cluster.sh", "start", EXTRA_WORKER, timeout=120)
        extra = tmp_path / "extra.yml"
        extra.write_text(json.dumps({"nodes": {
            "vars": {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"},
            "children": {"workers": {"hosts": {EXTRA_WORKER: {"ansible_host": f"kubeling-{EXTRA_WORKER}"}}}}}}))
        _, timings["scale.yml (one worker)"] = playbook("scale.yml", "-i", str(extra), "--limit", EXTRA_WORKER)
        assert EXTRA_WORKER in ready_nodes()
        _, timings["remove-node.yml"] = playbook("remove-node.yml", "-i", str(extra), "-e", f"node={EXTRA_WORKER}")
        assert EXTRA_WORKER not in kubectl("get", "nodes", "-o", "name")
        assert leftovers(EXTRA_WORKER) == []
        run("docker", "rm", "-f", "-v", f"kubeling-{EXTRA_WORKER}", timeout=120)

        # upgrade.yml: a new wheel, node by node, while a Deployment keeps all its pods available.
        namespace = f"upgrade-{uuid.uuid4().hex[:6]}"
        kubectl("create", "namespace", namespace)
        kubectl("create", "deployment", "web", "-n", namespace, "--image=kubeling/web:1", "--replicas=2")
        kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s", timeout=130)
        label = f"up{uuid.uuid4().hex[:6]}"
        with AvailabilityWatch(namespace, "web") as watch:
            _, timings["upgrade.yml (new wheel, serial)"] = playbook(
                "upgrade.yml", "-e", f"common_kubeling_local_version={label}", timeout=900)
        assert watch.samples > 10 and watch.lowest == 2, f"available replicas fell to {watch.lowest}"
        for node in ("etcd-1", "master-1", "worker-1", "worker-2"):
            shown = node_exec(node, "/opt/kubeling/venv/bin/pip", "show", "kubeling").stdout
            assert f"Version: 0.1.0+{label}" in shown, f"{node}: {shown}"

        # rotate-certs.yml: new certificates everywhere; the cluster answers with the new admin.conf.
        serial = node_exec("master-1", "openssl", "x509", "-noout", "-serial",
                           "-in", "/etc/kubeling/pki/apiserver.crt").stdout
        _, timings["rotate-certs.yml"] = playbook("rotate-certs.yml", timeout=900)
        assert node_exec("master-1", "openssl", "x509", "-noout", "-serial",
                         "-in", "/etc/kubeling/pki/apiserver.crt").stdout != serial
        assert ready_nodes() == {"worker-1", "worker-2"}

        _, timings["reset.yml"] = playbook("reset.yml")
        for node in ("etcd-1", "master-1", "worker-1", "worker-2"):
            assert leftovers(node) == [], f"{node} still has: {leftovers(node)}"

        _, timings["site.yml after reset"] = playbook("site.yml")
        assert ready_nodes() == {"worker-1", "worker-2"}
    finally:
        TIMINGS.write_text(json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=2) + "\n")
        subprocess.run(["make", "down", "PROVIDER=docker"], cwd=ROOT, capture_output=True, timeout=300)
