"""Pod startup benchmark: N pods created at once on one real kubelet (Docker), image already present.

Starts a private etcd and API server (tests/cluster.py) and a kubelet process, creates the pods from N threads at
the same moment, and times each pod from its create request to the moment a watch shows it Running with Ready=True
(the upstream pod-startup SLI, without scheduling or image pulls). Also reports the kubelet's resident memory
(VmRSS, and the peak VmHWM) from /proc once the pods run. Prints a Markdown section for docs/benchmarks.md.

    .venv/bin/python bench/pod_startup.py             # 30 pods, as the target is stated
    .venv/bin/python bench/pod_startup.py --pods 5    # a quick check that the script works
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from kubelet_harness import BUSYBOX, PAUSE, KubeletProcess, ensure_images, free_pod_cidr, remove_node_containers  # noqa: E402

from cluster import control_plane  # noqa: E402

P99_TARGET = 3.0
RSS_TARGET_MB = 80.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def memory_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def watch_ready(server: str, namespace: str, ready_at: dict[str, float], expected: int, stop: threading.Event,
                started: threading.Event) -> None:
    """Record, from a watch, the first moment each pod is Running with Ready=True."""
    url = f"{server}/api/v1/namespaces/{namespace}/pods"
    with requests.get(url, params={"watch": "true", "timeoutSeconds": 120}, stream=True, timeout=(5, 130)) as resp:
        started.set()
        with contextlib.suppress(requests.RequestException):  # the server goes away at the end of the run
            _read(resp, ready_at, expected, stop)


def _read(resp: requests.Response, ready_at: dict[str, float], expected: int, stop: threading.Event) -> None:
    for line in resp.iter_lines():
        if stop.is_set() or len(ready_at) >= expected:
            return
        if not line:
            continue
        pod = json.loads(line)["object"]
        status = pod.get("status") or {}
        is_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        name = pod["metadata"]["name"]
        if status.get("phase") == "Running" and is_ready and name not in ready_at:
            ready_at[name] = time.monotonic()


def run(pods: int, kubelet_args: list[str], keep_log: str | None = None) -> str:
    ensure_images()
    node = f"bench-{uuid.uuid4().hex[:6]}"
    with control_plane(prefix=f"/bench-{node}") as (_, server):
        workdir = Path(server.workdir)
        kubelet = KubeletProcess(server.url, workdir, node, f"kubeling-b{node[-6:]}", kubelet_args,
                                 pod_cidr=free_pod_cidr()).start()
        try:
            http = requests.Session()
            namespace = "bench"
            http.post(f"{server.url}/api/v1/namespaces", json={"metadata": {"name": namespace}}).raise_for_status()
            # Wait until the node's pod network is there, so the run measures pods, not kubelet start-up.
            deadline = time.monotonic() + 30
            while "kubelet" not in http.get(f"{server.url}/api/v1/nodes/{node}").text:
                if time.monotonic() > deadline:
                    raise RuntimeError("the kubelet did not register")
                time.sleep(0.1)
            time.sleep(1.0)
            ready_at: dict[str, float] = {}
            created_at: dict[str, float] = {}
            stop, watching = threading.Event(), threading.Event()
            watcher = threading.Thread(target=watch_ready, args=(server.url, namespace, ready_at, pods, stop,
                                                                 watching), daemon=True)
            watcher.start()
            watching.wait(10)
            barrier = threading.Barrier(pods)

            def create(index: int) -> None:
                name = f"pod-{index}"
                body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                                 "containers": [{"name": "app", "image": BUSYBOX, "command": ["sleep", "3600"]}]}}
                session = requests.Session()
                barrier.wait()
                created_at[name] = time.monotonic()
                session.post(f"{server.url}/api/v1/namespaces/{namespace}/pods", json=body).raise_for_status()

            cpu_before = cpu_seconds(kubelet.proc.pid)
            threads = [threading.Thread(target=create, args=(i,)) for i in range(pods)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            deadline = time.monotonic() + 60
            while len(ready_at) < pods and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            latencies = [ready_at[name] - created_at[name] for name in created_at if name in ready_at]
            rss, peak = memory_mb(kubelet.proc.pid)
            cpu = cpu_seconds(kubelet.proc.pid) - cpu_before
            load = os.getloadavg()[0]
        finally:
            kubelet.stop()
            if keep_log:
                shutil.copy(kubelet.log_path, keep_log)
            remove_node_containers(node)
            subprocess.run(["docker", "network", "rm", kubelet.network], capture_output=True)
    baseline = docker_baseline(pods, f"kubeling-base{node[-6:]}")
    return report(pods, latencies, rss, peak, cpu, load, baseline)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process) since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def docker_baseline(pods: int, network: str) -> tuple[list[float], float]:
    """The same work with no kubelet: `pods` sandbox + app container pairs started straight through the Docker API,
    all at once. Returns seconds from the start to the app container running, per pair, and the CPU seconds the
    machine spent meanwhile (dockerd, containerd, its shims and runc, the kernel): divided by the cores, that is
    the shortest time Docker could take for the burst here, whatever a kubelet does."""
    import docker

    api = docker.APIClient(max_pool_size=pods * 2)
    label = {"io.kubeling.node": f"baseline-{network}"}
    subnet = free_pod_cidr()
    gateway = subnet.rsplit(".", 1)[0] + ".1"
    api.create_network(network, driver="bridge", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=subnet, gateway=gateway)]))
    barrier = threading.Barrier(pods)
    took: list[float] = []

    def pair(index: int) -> None:
        barrier.wait()
        started = time.monotonic()
        host = api.create_host_config(network_mode=network, ipc_mode="shareable")
        sandbox = api.create_container(PAUSE, name=f"{network}-{index}-pod", host_config=host, labels=label)["Id"]
        api.start(sandbox)
        host = api.create_host_config(network_mode=f"container:{sandbox}", ipc_mode=f"container:{sandbox}")
        app = api.create_container(BUSYBOX, command=["sleep", "3600"], name=f"{network}-{index}-app",
                                   host_config=host, labels=label)["Id"]
        api.start(app)
        took.append(time.monotonic() - started)

    try:
        threads = [threading.Thread(target=pair, args=(i,)) for i in range(pods)]
        busy = machine_busy_seconds()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        busy = machine_busy_seconds() - busy
    finally:
        remove_node_containers(label["io.kubeling.node"])
        api.remove_network(network)
    return took, busy


def report(pods: int, latencies: list[float], rss: float, peak: float, cpu: float, load: float,
           baseline: tuple[list[float], float]) -> str:
    baseline_took, baseline_busy = baseline
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    worst = max(latencies)
    missing = pods - len(latencies)
    cpus = os.cpu_count()
    lines = [
        "## Pod startup (bench/pod_startup.py)",
        "",
        f"{pods} pods created at once (one thread each) on one kubelet, bound with spec.nodeName, image present "
        f"(`{BUSYBOX}`, one container `sleep 3600` plus the sandbox); latency is create request → a watch shows "
        f"Running and Ready. Docker {docker_version()}, {cpus} CPUs, Python {platform.python_version()}; "
        "etcd, the API server, the kubelet, dockerd and the load generator share the machine.",
        "",
        "| metric | value | target |",
        "|---|---|---|",
        f"| startup p50 | {p50:.2f} s | |",
        f"| startup p99 | {p99:.2f} s | < {P99_TARGET:.0f} s (upstream SLO 5 s) |",
        f"| startup max | {worst:.2f} s | |",
        f"| kubelet RSS after the burst (VmRSS) | {rss:.1f} MB | < {RSS_TARGET_MB:.0f} MB |",
        f"| kubelet peak RSS (VmHWM) | {peak:.1f} MB | |",
        f"| kubelet CPU time for the burst | {cpu:.1f} s | |",
        f"| machine load average (1 min) at the end | {load:.1f} | |",
        f"| Docker alone, same {pods} sandbox+container pairs at once: p50 / p99 | "
        f"{percentile(baseline_took, 0.5):.2f} s / {percentile(baseline_took, 0.99):.2f} s | |",
        f"| Docker alone: machine CPU for that burst / per pod / that CPU spread over {cpus} cores | "
        f"{baseline_busy:.1f} s / {baseline_busy / pods * 1000:.0f} ms / {baseline_busy / cpus:.2f} s | |",
        "",
    ]
    verdict = []
    verdict.append(f"p99 target {'met' if p99 < P99_TARGET and not missing else 'MISSED'}")
    verdict.append(f"memory target {'met' if rss < RSS_TARGET_MB else 'MISSED'}")
    if missing:
        verdict.append(f"{missing} pods never became Ready within 60 s")
    lines.append("Result: " + "; ".join(verdict) + ".")
    return "\n".join(lines) + "\n"


def docker_version() -> str:
    out = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--keep-log", metavar="PATH", help="copy the kubelet's log here (with -- --v 4: timings)")
    parser.add_argument("kubelet_args", nargs="*", help="extra kubelet flags (after --), e.g. --pod-workers 8")
    args = parser.parse_args()
    print(run(args.pods, args.kubelet_args, args.keep_log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
