"""Pod startup benchmark: N pods created at once on one real kubelet (Docker), image already present, next to
Docker alone doing the same work.

Starts a private etcd and API server (tests/cluster.py) and a kubelet process, creates the pods from N threads at
the same moment, and times each pod from its create request to the moment a watch shows it Running with Ready=True
(the upstream pod-startup SLI, without scheduling or image pulls). Also reports the kubelet's resident memory
(VmRSS, and the peak VmHWM) from /proc once the pods run.

Docker alone: the same N sandbox + app container pairs started straight through the Docker API, with as many
pairs in flight as the kubelet has pod workers (`--pod-workers`: each worker takes the next pod, as the kubelet's
work queue hands them out), each timed from the start of the burst. The machine is shared, so its load moves every
number: the two bursts run in turns, `--rounds` times (which goes first alternates), and the ratio of their p99s
is taken round by round. Prints a Markdown section for docs/benchmarks.md.

    .venv/bin/python bench/pod_startup.py             # 30 pods, 3 rounds, as the target is stated
    .venv/bin/python bench/pod_startup.py --pods 5 --rounds 1    # a quick check that the script works
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agents"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from kubelet_harness import BUSYBOX, PAUSE, KubeletProcess, ensure_images, free_pod_cidr  # noqa: E402

from cluster import control_plane  # noqa: E402
from kubeling.fastpath.docker_pool import share_one_pool  # noqa: E402

P99_TARGET = 3.0
RSS_TARGET_MB = 80.0
RATIO_TARGET = 1.05  # kubelet p99 over Docker alone's (issue 21)
POD_WORKERS = 16  # the kubelet's --pod-workers default (kubelet/cli.py)
SANDBOX_LABEL = "io.kubeling.kind"  # "sandbox" on a pod's sandbox (kubelet/runtime.py's LABEL_KIND)
LOG_CONFIG = {"type": "json-file", "config": {"max-size": "10m", "max-file": "2"}}  # the kubelet's (pods.py)


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
    """User + system CPU time a process and its children have used (from /proc/<pid>/stat)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process) since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


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


@dataclasses.dataclass
class Burst:
    took: list[float]  # seconds to Running and Ready (kubelet) or to the app container started (Docker alone)
    busy: float  # CPU seconds the whole machine spent meanwhile
    load: float  # load average (1 min) at the end
    pods: int = 0
    rss: float = 0.0  # the kubelet's, MB
    peak: float = 0.0
    cpu: dict[str, float] = dataclasses.field(default_factory=dict)  # kubelet, API server, etcd: CPU seconds

    @property
    def p99(self) -> float:
        return percentile(self.took, 0.99)


def run(pods: int, rounds: int, kubelet_args: list[str], keep_log: str | None = None) -> str:
    ensure_images()
    workers = pod_workers(kubelet_args)
    results: list[tuple[Burst, Burst]] = []
    with control_plane(prefix=f"/bench-{uuid.uuid4().hex[:6]}") as (etcd, server):
        for index in range(rounds):
            if index % 2 == 0:
                kubelet = kubelet_burst(server, etcd, pods, index, kubelet_args, keep_log)
                alone = docker_burst(pods, workers)
            else:
                alone = docker_burst(pods, workers)
                kubelet = kubelet_burst(server, etcd, pods, index, kubelet_args, keep_log)
            print(f"round {index + 1}: kubelet p99 {kubelet.p99:.2f} s, Docker alone p99 {alone.p99:.2f} s, "
                  f"load {kubelet.load:.1f} / {alone.load:.1f}", file=sys.stderr, flush=True)
            results.append((kubelet, alone))
    return report(pods, workers, results)


def pod_workers(kubelet_args: list[str]) -> int:
    for index, arg in enumerate(kubelet_args):
        if arg == "--pod-workers" and index + 1 < len(kubelet_args):
            return int(kubelet_args[index + 1])
        if arg.startswith("--pod-workers="):
            return int(arg.split("=", 1)[1])
    return POD_WORKERS


def kubelet_burst(server, etcd, pods: int, index: int, kubelet_args: list[str], keep_log: str | None) -> Burst:
    node = f"bench-{uuid.uuid4().hex[:6]}"
    kubelet = KubeletProcess(server.url, Path(server.workdir), node, f"kubeling-b{node[-6:]}", kubelet_args,
                             pod_cidr=free_pod_cidr()).start()
    try:
        http = requests.Session()
        namespace = f"bench-{index}"
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

        processes = {"kubelet": kubelet.proc.pid, "API server": server.proc.pid, "etcd": etcd.proc.pid}
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        busy = machine_busy_seconds()
        threads = [threading.Thread(target=create, args=(i,)) for i in range(pods)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 60
        while len(ready_at) < pods and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = machine_busy_seconds() - busy
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
        stop.set()
        latencies = [ready_at[name] - created_at[name] for name in created_at if name in ready_at]
        rss, peak = memory_mb(kubelet.proc.pid)
        return Burst(latencies, busy, os.getloadavg()[0], pods, rss, peak, cpu)
    finally:
        kubelet.stop()
        if keep_log:
            shutil.copy(kubelet.log_path, f"{keep_log}.{index + 1}")
        remove_containers(node)
        remove_network(kubelet.network)


def remove_containers(node: str) -> None:
    """Remove a burst's containers: the app containers all at once, then the sandboxes, which hold the network
    endpoints, one at a time. Removing sandboxes at once (the harness's remove_node_containers) sometimes leaves
    Docker 20.10 counting endpoints that are gone, and the network can then not be removed until dockerd restarts."""
    def listed(*filters: str) -> list[str]:
        args = [arg for label in (f"io.kubeling.node={node}", *filters) for arg in ("--filter", f"label={label}")]
        return subprocess.run(["docker", "ps", "-aq", *args], capture_output=True, text=True).stdout.split()

    sandboxes = listed(f"{SANDBOX_LABEL}=sandbox")
    apps = [container_id for container_id in listed() if container_id not in sandboxes]
    if apps:
        subprocess.run(["docker", "rm", "-f", "-v", *apps], capture_output=True)
    api = docker.APIClient()
    share_one_pool(api)
    for container_id in sandboxes:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(container_id, force=True, v=True)


def remove_network(name: str) -> None:
    """Docker 20.10 sometimes still counts endpoints of containers just removed: try for a few seconds."""
    for _ in range(10):
        if subprocess.run(["docker", "network", "rm", name], capture_output=True).returncode == 0:
            return
        if name not in subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"], capture_output=True,
                                      text=True).stdout.split():
            return
        time.sleep(1)
    print(f"could not remove docker network {name} (Docker still counts endpoints in it)", file=sys.stderr)


def docker_burst(pods: int, workers: int) -> Burst:
    """The same work with no kubelet: `pods` sandbox + app container pairs started straight through the Docker
    API, `workers` at a time (a pair waits for a free worker, as a pod waits in the kubelet's queue). Returns
    seconds from the start of the burst to each app container running, and the CPU seconds the machine spent
    meanwhile (dockerd, containerd, its shims and runc, the kernel, and whatever else shares the machine)."""
    network = f"kubeling-base{uuid.uuid4().hex[:6]}"
    api = docker.APIClient(max_pool_size=pods * 2)
    share_one_pool(api)  # the kubelet's Docker client (runtime.py) has it too
    label = {"io.kubeling.node": f"baseline-{network}"}
    subnet = free_pod_cidr()
    gateway = subnet.rsplit(".", 1)[0] + ".1"
    api.create_network(network, driver="bridge", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=subnet, gateway=gateway)]))
    barrier = threading.Barrier(pods)
    in_flight = threading.Semaphore(workers)
    took: list[float] = []
    files = Path(tempfile.mkdtemp(prefix="kubeling-bench-"))

    def pair(index: int) -> None:
        # The containers the kubelet makes for these pods (pods.py: _create_sandbox, _container_config): the
        # same log settings, hostname, bind mounts (resolv.conf, hosts, the termination message) and CPU shares.
        binds = []
        for name, target, mode in (("resolv.conf", "/etc/resolv.conf", "ro"), ("hosts", "/etc/hosts", "rw"),
                                   ("termination-log", "/dev/termination-log", "rw")):
            path = files / f"{index}-{name}"
            path.write_text("")
            binds.append(f"{path}:{target}:{mode}")
        barrier.wait()
        started = time.monotonic()
        with in_flight:
            host = api.create_host_config(network_mode=network, ipc_mode="shareable", log_config=LOG_CONFIG)
            sandbox = api.create_container(PAUSE, name=f"{network}-{index}-pod", host_config=host,
                                           labels={**label, SANDBOX_LABEL: "sandbox"}, hostname=f"pod-{index}")["Id"]
            api.start(sandbox)
            host = api.create_host_config(network_mode=f"container:{sandbox}", ipc_mode=f"container:{sandbox}",
                                          binds=binds, log_config=LOG_CONFIG, cpu_shares=2)
            app = api.create_container(BUSYBOX, entrypoint=["sleep", "3600"], name=f"{network}-{index}-app",
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
        load = os.getloadavg()[0]
    finally:
        remove_containers(label["io.kubeling.node"])
        remove_network(network)
        shutil.rmtree(files, ignore_errors=True)
    return Burst(took, busy, load, pods)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def report(pods: int, workers: int, results: list[tuple[Burst, Burst]]) -> str:
    cpus = os.cpu_count() or 1
    ratios = [kubelet.p99 / alone.p99 for kubelet, alone in results]
    lines = [
        "## Pod startup (bench/pod_startup.py)",
        "",
        f"{pods} pods created at once (one thread each) on one kubelet ({workers} pod workers), bound with "
        f"spec.nodeName, image present (`{BUSYBOX}`, one container `sleep 3600` plus the sandbox); latency is "
        "create request → a watch shows Running and Ready. Docker alone: the same sandbox + container pairs "
        f"through the Docker API, {workers} at a time, timed from the start of the burst. Docker {docker_version()}, "
        f"{cpus} CPUs, Python {platform.python_version()}; etcd, the API server, the kubelet, dockerd and the "
        "load generator share the machine.",
        "",
        "| round | kubelet p50 / p99 | Docker alone p50 / p99 | p99 ratio | machine CPU per pod: kubelet run / "
        "Docker alone | kubelet / API server / etcd CPU | load (1 min) at the end |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, ((kubelet, alone), ratio) in enumerate(zip(results, ratios, strict=True), 1):
        missing = kubelet.pods - len(kubelet.took)
        lines.append(
            f"| {number}{' (Docker alone first)' if number % 2 == 0 else ''} | "
            f"{percentile(kubelet.took, 0.5):.2f} s / {kubelet.p99:.2f} s"
            f"{f' ({missing} never Ready)' if missing else ''} | "
            f"{percentile(alone.took, 0.5):.2f} s / {alone.p99:.2f} s | {ratio:.2f}x | "
            f"{kubelet.busy / pods * 1000:.0f} ms / {alone.busy / pods * 1000:.0f} ms | "
            + " / ".join(f"{kubelet.cpu[name]:.1f} s" for name in ("kubelet", "API server", "etcd"))
            + f" | {kubelet.load:.1f} / {alone.load:.1f} |")
    kubelet_p99 = median([kubelet.p99 for kubelet, _ in results])
    rss = max(kubelet.rss for kubelet, _ in results)
    peak = max(kubelet.peak for kubelet, _ in results)
    missing = sum(kubelet.pods - len(kubelet.took) for kubelet, _ in results)
    lines += [
        "",
        "| metric | value | target |",
        "|---|---|---|",
        f"| kubelet p99 / Docker alone p99, median of the rounds | {median(ratios):.2f}x "
        f"(rounds {min(ratios):.2f} to {max(ratios):.2f}) | ≤ {RATIO_TARGET:.2f}x |",
        f"| startup p99, median of the rounds | {kubelet_p99:.2f} s | < {P99_TARGET:.0f} s (upstream SLO 5 s) |",
        f"| kubelet RSS after the burst (VmRSS), highest round | {rss:.1f} MB | < {RSS_TARGET_MB:.0f} MB |",
        f"| kubelet peak RSS (VmHWM), highest round | {peak:.1f} MB | |",
        "",
    ]
    verdict = [f"ratio target {'met' if median(ratios) <= RATIO_TARGET and not missing else 'MISSED'}",
               f"p99 target {'met' if kubelet_p99 < P99_TARGET and not missing else 'MISSED'}",
               f"memory target {'met' if rss < RSS_TARGET_MB else 'MISSED'}"]
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
    parser.add_argument("--rounds", type=int, default=3, help="kubelet and Docker-alone bursts, in turns")
    parser.add_argument("--keep-log", metavar="PATH",
                        help="copy each round's kubelet log to PATH.<round> (with -- --v 4: timings)")
    parser.add_argument("kubelet_args", nargs="*", help="extra kubelet flags (after --), e.g. --pod-workers 8")
    args = parser.parse_args()
    print(run(args.pods, args.rounds, args.kubelet_args, args.keep_log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
