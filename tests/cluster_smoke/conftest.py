"""The cluster smoke suite: the real kubectl, over TLS only, against a cluster provisioned by the playbooks.

It runs only when asked for, against a cluster that exists already:

    make up PROVIDER=docker
    KUBELING_SMOKE_KUBECONFIG=artifacts/admin.conf .venv/bin/pytest tests/cluster_smoke -q

`KUBELING_SMOKE_INVENTORY` (default inventory/docker) is the inventory the cluster was made from: the suite reads
it (ansible-inventory) to run commands on nodes, through `docker exec` or SSH as Ansible would. Every wait is
multiplied by `KUBELING_SMOKE_TIMEOUT_FACTOR` (default 1; `make test-vagrant` sets 5: emulated VMs are 7-16x
slower than the host). In a plain `pytest tests` run every test here is skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG_ENV = "KUBELING_SMOKE_KUBECONFIG"
INVENTORY_ENV = "KUBELING_SMOKE_INVENTORY"
KUBECTL = os.environ.get("KUBELING_SMOKE_KUBECTL", "/usr/bin/kubectl")
TIMEOUT_FACTOR = float(os.environ.get("KUBELING_SMOKE_TIMEOUT_FACTOR", "1"))


def stretched(seconds: float) -> float:
    """A wait sized for the Docker provider, stretched for slower nodes (KUBELING_SMOKE_TIMEOUT_FACTOR)."""
    return seconds * TIMEOUT_FACTOR


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(KUBECONFIG_ENV):
        return
    skip = pytest.mark.skip(reason=f"no cluster: `make up`, then set {KUBECONFIG_ENV}=artifacts/admin.conf")
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(skip)


def eventually(check: Callable[[], Any], what: str, timeout: float = 120.0, interval: float = 1.0) -> Any:
    """Call `check` until it returns something truthy; bounded in time (stretched), with the last answer in the
    failure."""
    timeout = stretched(timeout)
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


class Cluster:
    """kubectl against the cluster, and commands on its nodes the way the inventory reaches them."""

    def __init__(self, kubeconfig: Path, inventory: Path, home: Path) -> None:
        self.kubeconfig, self.inventory, self.home = kubeconfig, inventory, home
        listing = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inventory),
                                  "--list"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
        data = json.loads(listing)
        self.hostvars: dict[str, dict[str, Any]] = data.get("_meta", {}).get("hostvars", {})
        self.groups = {name: group.get("hosts", []) for name, group in data.items() if isinstance(group, dict)}

    @property
    def workers(self) -> list[str]:
        return sorted(self.groups.get("workers", []))

    @property
    def running_nodes(self) -> list[str]:
        """Every node of the inventory but those `KUBELING_SMOKE_STOPPED_NODES` (comma-separated) names: machines
        stopped on purpose (the HA tests run the suite again with a master powered off)."""
        stopped = set(filter(None, os.environ.get("KUBELING_SMOKE_STOPPED_NODES", "").split(",")))
        return sorted(set(self.hostvars) - stopped)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home)}
        result = subprocess.run([KUBECTL, f"--kubeconfig={self.kubeconfig}", *args], input=input,
                                capture_output=True, text=True, timeout=stretched(timeout), env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    @contextlib.contextmanager
    def port_forward(self, *args: str) -> Iterator[int]:
        """`kubectl port-forward *args` (one port, as `:remote`) while the block runs; yields the local port."""
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home)}
        proc = subprocess.Popen([KUBECTL, f"--kubeconfig={self.kubeconfig}", "port-forward", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 80"
            assert line.startswith("Forwarding from 127.0.0.1:"), line + (proc.stderr.read() if proc.stderr else "")
            yield int(line.split(":")[1].split()[0])
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def json(self, *args: str) -> dict[str, Any]:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def _is_docker(self, node: str) -> bool:
        return str(self.hostvars[node].get("ansible_connection", "")).endswith(("docker", "docker_api"))

    def on_node(self, node: str, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run `command` as root on `node`, as Ansible would reach it."""
        hv = self.hostvars[node]
        if self._is_docker(node):
            argv = ["docker", "exec", hv.get("ansible_host", node), *command]
        else:
            user = hv.get("ansible_user")
            target = f"{user}@{hv.get('ansible_host', node)}" if user else hv.get("ansible_host", node)
            argv = ["ssh", *shlex.split(hv.get("ansible_ssh_common_args", "")), "-o", "BatchMode=yes",
                    "-o", "StrictHostKeyChecking=no", target, "sudo", shlex.join(command)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=stretched(timeout), cwd=ROOT)

    def journal(self, group: str, unit: str, lines: int = 40) -> str:
        """The last `lines` of `unit`'s journal on every running node of `group`, for a failure's report."""
        parts = []
        for node in sorted(set(self.groups.get(group, [])) & set(self.running_nodes)):
            result = self.on_node(node, "journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat")
            parts.append(f"--- {unit} on {node}:\n{result.stdout}{result.stderr}")
        return "\n".join(parts)

    def stop_node(self, node: str) -> None:
        """Power the machine off: the container (docker) or the VM (vagrant)."""
        if self._is_docker(node):
            subprocess.run(["docker", "stop", self.hostvars[node].get("ansible_host", node)], check=True,
                           capture_output=True, timeout=120)
        else:
            subprocess.run(["vagrant", "halt", node], check=True, capture_output=True, timeout=600, cwd=ROOT)

    def start_node(self, node: str) -> None:
        if self._is_docker(node):
            subprocess.run(["docker", "start", self.hostvars[node].get("ansible_host", node)], check=True,
                           capture_output=True, timeout=120)
        else:
            subprocess.run(["vagrant", "up", "--no-provision", node], check=True, capture_output=True,
                           timeout=1800, cwd=ROOT)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    kubeconfig = Path(os.environ[KUBECONFIG_ENV]).resolve()
    server = next(line.split()[-1] for line in kubeconfig.read_text().splitlines() if "server:" in line)
    assert server.startswith("https://"), f"the smoke suite only talks TLS; {kubeconfig} points at {server}"
    inventory = (ROOT / os.environ.get(INVENTORY_ENV, "inventory/docker")).resolve()
    return Cluster(kubeconfig, inventory, tmp_path_factory.mktemp("kubectl-home"))
