"""What keeping `metadata.managedFields` costs: create and update throughput of this tree's API server next to the
same writes on the tree before server-side apply landed, in one run, on one etcd.

The "before" tree is exported from git (`git archive`) into a temporary folder; both API servers run side by side
against the same etcd (under different prefixes) and the phases alternate between them, round by round, so a busy
machine slows both alike. Each phase is a fixed number of writes by a few client threads:

* create ConfigMap / create Deployment: POST of a fresh object;
* update ConfigMap: PUT of a changed `data` (no resourceVersion);
* patch Deployment: a merge patch of `spec.replicas` and one template annotation.

Two measures per phase: writes per second, and the API server's own CPU time per write (from /proc), which a
machine busy with other work disturbs far less than throughput.

A third, steadier on a busy machine: the same writes in-process (the API server's Flask application on an
in-memory etcd, tests/support/memoryapi.py), this tree with its field manager on, then switched off (no
managedFields at all), CPU time per write, the best of several alternating rounds.

    .venv/bin/python bench/ssa.py                  # before = the commit before api/fieldmanager appeared
    .venv/bin/python bench/ssa.py --before main    # or any git revision
    .venv/bin/python bench/ssa.py --writes 1500    # longer phases: steadier ratios on a machine with other work
    .venv/bin/python bench/ssa.py --quick          # a tiny run that checks the script works
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "agents"))  # the in-process phases run this tree's API server

from cluster import Etcd, free_port, stop_group, wait_for  # noqa: E402

TIMEOUT = 10.0
PHASE_DEADLINE = 90.0  # seconds: a phase stops early rather than run past this


def first_fieldmanager_commit() -> str:
    out = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--",
                          "agents/kubeling/api/fieldmanager/__init__.py"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    if not out:
        raise SystemExit("api/fieldmanager is not in this tree's history: pass --before")
    return out[-1] + "^"


@contextlib.contextmanager
def exported(revision: str) -> Iterator[Path]:
    """The `agents/` folder of `revision`, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="kubeling-before-") as folder:
        archive = subprocess.run(["git", "archive", revision, "agents"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        yield Path(folder) / "agents"


@dataclasses.dataclass
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the API server process has used so far (user + system, its threads included)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def apiserver(agents: Path, etcd_url: str, prefix: str, workdir: Path) -> Iterator[Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(workdir / f"apiserver-{port}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeling", "apiserver", "--etcd-servers", etcd_url, "--etcd-prefix", prefix,
         "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(agents)},
        start_new_session=True,
    )
    try:
        wait_for(url + "/readyz", timeout=60, proc=proc)
        yield Server(url, proc.pid)
    finally:
        stop_group(proc)
        log.close()


def configmap(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "bench"}},
            "data": {"mode": value, "size": "10"}}


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                     {"name": "web", "image": "registry.k8s.io/nginx:1.27", "ports": [{"containerPort": 80}],
                      "env": [{"name": "MODE", "value": "fast"}],
                      "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}},
    }


def run_phase(ops: int, threads: int, op: Callable[[requests.Session, int], requests.Response]) -> float:
    """Writes per second of `ops` calls of `op(session, i)` spread over `threads` threads."""
    return _run(ops, threads, op)[0]


def _run(ops: int, threads: int, op: Callable[[requests.Session, int], requests.Response]) -> tuple[float, int]:
    counter = iter(range(ops))
    lock = threading.Lock()
    deadline = time.monotonic() + PHASE_DEADLINE
    done = [0]
    failures: list[str] = []

    def worker() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                response = op(session, i)
                if response.status_code >= 300:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                    return
                with lock:
                    done[0] += 1

    start = time.monotonic()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        raise SystemExit(f"a write failed: {failures[0]}")
    return done[0] / (time.monotonic() - start), done[0]


def phases(url: str, tag: str, ops: int) -> dict[str, Callable[[requests.Session, int], requests.Response]]:
    cms = f"{url}/api/v1/namespaces/default/configmaps"
    deps = f"{url}/apis/apps/v1/namespaces/default/deployments"
    query = {"fieldManager": "bench"}
    merge = {"Content-Type": "application/merge-patch+json"}
    return {
        "create ConfigMap": lambda s, i: s.post(cms, json=configmap(f"{tag}-{i}", "a"), params=query,
                                                timeout=TIMEOUT),
        "update ConfigMap (PUT)": lambda s, i: s.put(f"{cms}/{tag}-{i % ops}", json=configmap(f"{tag}-{i % ops}",
                                                     f"v{i}"), params=query, timeout=TIMEOUT),
        "create Deployment": lambda s, i: s.post(deps, json=deployment(f"{tag}-{i}"), params=query,
                                                 timeout=TIMEOUT),
        "patch Deployment (merge)": lambda s, i: s.patch(
            f"{deps}/{tag}-{i % ops}", params=query, headers=merge, timeout=TIMEOUT,
            data=json.dumps({"spec": {"replicas": i % 5 + 2,
                                      "template": {"metadata": {"annotations": {"rev": str(i)}}}}})),
    }


class _InProcess:
    """The calls `phases` makes on a requests.Session, sent to a Flask test client instead."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _send(self, method: str, url: str, *, params: Any = None, json: Any = None, data: Any = None,
              headers: Any = None, timeout: float = 0) -> Any:
        return self.client.open(url, method=method, query_string=params, json=json, data=data, headers=headers)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._send("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Any:
        return self._send("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self._send("PATCH", url, **kwargs)


def in_process(writes: int, rounds: int) -> dict[tuple[str, bool], float]:
    """CPU ms per write of each phase in-process, with the field manager on (True) and off (False): best of
    `rounds`, the two taking turns."""
    from kubeling.apiserver import registry
    from support.memoryapi import MemoryAPI

    keep = registry.fieldmanager.update
    best: dict[tuple[str, bool], float] = {}
    try:
        for number in range(rounds):
            for on in (True, False):
                registry.fieldmanager.update = keep if on else (lambda *args, **kwargs: None)
                api = MemoryAPI()
                local = _InProcess(api.client)
                try:
                    for name, op in phases("", f"r{number}", writes).items():
                        start = time.process_time()
                        for i in range(writes):
                            response = op(local, i)  # type: ignore[arg-type]
                            if response.status_code >= 300:
                                raise SystemExit(f"a write failed: {response.status_code} {response.text[:200]}")
                        cost = (time.process_time() - start) / writes * 1000
                        best[name, on] = min(best.get((name, on), cost), cost)
                finally:
                    api.close()
    finally:
        registry.fieldmanager.update = keep
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="git revision to compare with (default: before api/fieldmanager)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--writes", type=int, default=300,
                        help="writes per phase (more: steadier ratios, a longer run; 300 takes about a second)")
    args = parser.parse_args()
    before_rev = args.before or first_fieldmanager_commit()
    ops, threads, rounds = (40, 2, 1) if args.quick else (args.writes, 4, 5)
    rates: dict[tuple[str, str], list[float]] = {}
    costs: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="kubeling-ssa-bench-") as work, exported(before_rev) as before_agents:
        workdir = Path(work)
        etcd = Etcd(workdir).start()
        try:
            with apiserver(before_agents, etcd.url, "/before", workdir) as before, \
                    apiserver(ROOT / "agents", etcd.url, "/after", workdir) as after:
                servers = {"before": before, "after": after}
                for server in servers.values():  # warm up: first requests pay for imports and caches
                    for op in phases(server.url, "warm", 20).values():
                        run_phase(20, threads, op)
                for number in range(rounds):
                    # Phase by phase, the two servers take turns (first one, then the other, swapped each round).
                    order = ("before", "after") if number % 2 == 0 else ("after", "before")
                    for name in phases("", "", ops):
                        for side in order:
                            server = servers[side]
                            op = phases(server.url, f"r{number}", ops)[name]
                            cpu = server.cpu_seconds()
                            rate, done = _run(ops, threads, op)
                            rates.setdefault((name, side), []).append(rate)
                            costs.setdefault((name, side), []).append((server.cpu_seconds() - cpu) / done * 1000)
        finally:
            etcd.stop()
    local = in_process(*((40, 1) if args.quick else (300, 7)))
    revision = subprocess.run(["git", "rev-parse", "--short", before_rev], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    print(f"before: {revision}; after: this tree; {ops} writes per phase, {threads} client threads, "
          f"medians of {rounds} rounds, the two servers taking turns phase by phase\n")
    print("| writes | before (/s) | after (/s) | after / before | before (CPU ms/write) | after (CPU ms/write) "
          "| CPU after / before |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in phases("", "", ops):
        before_rate, after_rate = (statistics.median(rates[name, side]) for side in ("before", "after"))
        before_cpu, after_cpu = (statistics.median(costs[name, side]) for side in ("before", "after"))
        print(f"| {name} | {before_rate:.0f} | {after_rate:.0f} | {after_rate / before_rate:.2f} "
              f"| {before_cpu:.2f} | {after_cpu:.2f} | {after_cpu / before_cpu:.2f} |")
    print("\nIn-process (this tree, in-memory etcd), CPU ms per write, best of the rounds:\n")
    print("| writes | field manager off | on | on / off |")
    print("|---|---:|---:|---:|")
    for name in phases("", "", ops):
        off, on = local[name, False], local[name, True]
        print(f"| {name} | {off:.3f} | {on:.3f} | {on / off:.2f} |")


if __name__ == "__main__":
    main()
