"""Scheduler benchmark: pods scheduled per second end to end through a real API server, and how long each pod
waits from creation to binding.

For every (nodes, pods) case it starts a private etcd and API server (tests/cluster.py), registers the Node
objects, starts the real `kubeling scheduler`, and then:

- *streaming*: creates the pods from 16 threads while the scheduler runs. Latency is the time between the
  pod's ADDED and its first bound MODIFIED watch event; throughput is pods over the time from the first
  ADDED to the last binding.
- *backlog* (`--backlog`): creates the pods with no scheduler running, then starts it and times how fast it
  drains them (first to last binding): the scheduler's own rate, not limited by how fast pods are created.

The scheduler records each decision on the pod (kube-scheduler-simulator's annotations) unless started with
`--record-decisions=false`; `--record-cost` runs every case both ways, to show what the record costs.

Load generator, etcd, API server and scheduler all share this machine.

    .venv/bin/python bench/scheduler.py             # full run (100/1000/5000 nodes, 1000/5000 pods)
    .venv/bin/python bench/scheduler.py --quick     # a small run that checks the script works
    .venv/bin/python bench/scheduler.py --profile /tmp/sched.prof --cases 1000x1000   # cProfile the scheduler
    .venv/bin/python bench/scheduler.py --backlog --record-cost --cases 1000x1000    # with and without the record
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cluster import control_plane, free_port, wait_for  # noqa: E402

FULL = ("100x1000", "1000x1000", "1000x5000", "5000x5000")
QUICK = ("20x100",)
NAMESPACE = "bench"
CASE_TIMEOUT = 150.0  # seconds for one case's pods to be bound; the whole run stays bounded


def node_manifest(name: str) -> dict:
    capacity = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": capacity, "allocatable": capacity,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod_manifest(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "nginx",
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def post_all(url: str, bodies: list[dict], threads: int = 16) -> float:
    """POST every body from `threads` threads (a session each); the seconds it took."""
    local = threading.local()

    def post(body: dict) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        for attempt in range(6):
            try:
                response = session.post(url, json=body, timeout=30)
            except requests.ConnectionError:  # an overloaded server may reset a connection: retry it
                if attempt == 5:
                    raise
                local.session = session = requests.Session()
                time.sleep(0.5)
                continue
            if response.status_code in (201, 409):  # 409: an earlier, reset attempt had created it
                return
            time.sleep(0.2)
        response.raise_for_status()

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, bodies))
    return time.monotonic() - started


class PodWatch:
    """Watches the namespace's pods: when each was ADDED and first seen bound."""

    def __init__(self, server: str) -> None:
        listing = requests.get(f"{server}/api/v1/namespaces/{NAMESPACE}/pods", timeout=30).json()
        self.url = (f"{server}/api/v1/namespaces/{NAMESPACE}/pods?watch=true&allowWatchBookmarks=false"
                    f"&resourceVersion={listing['metadata']['resourceVersion']}&timeoutSeconds=600")
        self.added: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(requests.RequestException):  # the server going away ends the watch
            self._watch()

    def _watch(self) -> None:
        with requests.get(self.url, stream=True, timeout=(5, None)) as response:
            for line in response.iter_lines():
                if self._stop:
                    return
                if not line:
                    continue
                now = time.monotonic()
                event = json.loads(line)
                pod = event["object"]
                name = pod["metadata"]["name"]
                self.added.setdefault(name, now)
                if pod["spec"].get("nodeName"):
                    self.bound.setdefault(name, now)

    def wait_bound(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.bound) >= count:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self._stop = True


class Scheduler:
    def __init__(self, server: str, workdir: Path, profile: str | None = None, record: bool = True) -> None:
        port = free_port()
        prefix = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
        self.log = open(workdir / "scheduler.log", "wb")  # noqa: SIM115 - lives as long as the process
        env = {**os.environ, "PYTHONPATH": str(ROOT / "agents")}
        self.proc = subprocess.Popen([*prefix, "-m", "kubeling", "scheduler", "--master", server, "--port", str(port),
                                      "--leader-elect=false", f"--record-decisions={str(record).lower()}"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_for(f"http://127.0.0.1:{port}/healthz", proc=self.proc)

    def cpu_seconds(self) -> float:
        return process_cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 once it is gone)."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)] if ordered else float("nan")


def run_case(nodes: int, pods: int, backlog: bool, profile: str | None, record: bool = True) -> dict:
    with control_plane(prefix=f"/bench-sched-{nodes}-{pods}") as (etcd, server):
        url = server.url
        requests.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}}, timeout=10)
        node_seconds = post_all(f"{url}/api/v1/nodes", [node_manifest(f"node-{i:05}") for i in range(nodes)])
        bodies = [pod_manifest(f"pod-{i:05}") for i in range(pods)]
        pods_url = f"{url}/api/v1/namespaces/{NAMESPACE}/pods"
        watch = PodWatch(url)
        result = {"nodes": nodes, "pods": pods, "mode": "backlog" if backlog else "streaming", "record": record,
                  "node_create_seconds": round(node_seconds, 1)}
        if backlog:
            result["create_seconds"] = post_all(pods_url, bodies)
            scheduler = Scheduler(url, server.workdir, profile, record)
        else:
            scheduler = Scheduler(url, server.workdir, profile, record)
            time.sleep(1.0)  # let its informers sync before the clock starts
        cpu_before = scheduler.cpu_seconds()
        others_before = (process_cpu(server.proc.pid), process_cpu(etcd.proc.pid), own_cpu())
        if not backlog:
            result["create_seconds"] = post_all(pods_url, bodies)
        complete = watch.wait_bound(pods, CASE_TIMEOUT)
        cpu = scheduler.cpu_seconds() - cpu_before
        others = [after - before for after, before in zip(
            (process_cpu(server.proc.pid), process_cpu(etcd.proc.pid), own_cpu()), others_before, strict=True)]
        scheduler.stop()
        watch.stop()
        bound = dict(watch.bound)
        times = sorted(bound.values())
        if backlog:
            span = (times[-1] - times[0]) if len(times) > 1 else float("nan")
            latencies: list[float] = []
        else:
            span = (times[-1] - min(watch.added.values())) if times else float("nan")
            latencies = [bound[name] - watch.added[name] for name in bound if name in watch.added]
        result.update(bound=len(bound), complete=complete, seconds=round(span, 2),
                      rate=round(len(bound) / span, 1) if span and span == span else 0.0,
                      create_rate=round(pods / result["create_seconds"], 1),
                      p50_ms=round(percentile(latencies, 0.5) * 1000, 1) if latencies else None,
                      p99_ms=round(percentile(latencies, 0.99) * 1000, 1) if latencies else None,
                      scheduler_cpu_seconds=round(cpu, 1),
                      # Where the machine's CPU went while the pods were (created and) scheduled, per pod.
                      cpu_ms_per_pod={name: round(seconds * 1000 / pods, 2) for name, seconds in
                                      zip(("scheduler", "apiserver", "etcd", "loadgen"), [cpu, *others], strict=True)})
        return result


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one tiny case, to check the script works")
    parser.add_argument("--cases", nargs="*", help="NODESxPODS cases (default: 100x1000 1000x1000 1000x5000 "
                                                   "5000x5000)")
    parser.add_argument("--backlog", action="store_true", help="also time draining a backlog for each case")
    parser.add_argument("--profile", help="run the scheduler under cProfile and write the stats here")
    parser.add_argument("--record-cost", action="store_true",
                        help="run each case with the decision record (the default) and without it")
    args = parser.parse_args()
    cases = args.cases or (QUICK if args.quick else FULL)
    print(f"machine: {machine()}", flush=True)
    rows = []
    for case in cases:
        nodes, pods = (int(part) for part in case.split("x"))
        for backlog in ((False, True) if args.backlog else (False,)):
            for record in ((True, False) if args.record_cost else (True,)):
                row = run_case(nodes, pods, backlog, args.profile, record)
                print(json.dumps(row), flush=True)
                rows.append(row)
    print()
    print("| nodes | pods | mode | decision record | bound | pods/s (end to end) | p50 latency | p99 latency "
          "| pods created/s | scheduler CPU s | CPU ms per pod: scheduler / API server / etcd / load generator |")
    print("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        latency = (f"{row['p50_ms']:.0f} ms", f"{row['p99_ms']:.0f} ms") if row["p50_ms"] is not None else ("-", "-")
        split = " / ".join(f"{value:.2f}" for value in row["cpu_ms_per_pod"].values())
        print(f"| {row['nodes']} | {row['pods']} | {row['mode']} | {'on' if row['record'] else 'off'} "
              f"| {row['bound']} | {row['rate']} | {latency[0]} | {latency[1]} | {row['create_rate']} "
              f"| {row['scheduler_cpu_seconds']} | {split} |")
    if args.record_cost:
        print()
        for on, off in zip(rows[::2], rows[1::2], strict=True):
            print(f"record cost, {on['nodes']} nodes x {on['pods']} pods, {on['mode']}: pods/s {on['rate']} with, "
                  f"{off['rate']} without ({on['rate'] / off['rate']:.2f}x); scheduler CPU ms per pod "
                  f"{on['cpu_ms_per_pod']['scheduler']} with, {off['cpu_ms_per_pod']['scheduler']} without")
    print()
    for row in rows:
        if row["nodes"] == 1000:
            verdict = "met" if row["rate"] >= 300 else "MISSED"
            print(f"target ≥ 300 pods/s with 1000 nodes, {row['pods']} pods, {row['mode']}: {verdict} ({row['rate']})")
    return 0 if all(r["complete"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
