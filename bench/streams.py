"""Streams benchmark: exec round trips and port-forward throughput, each next to the same thing done without us.

Starts a private etcd, a TLS API server (Node,RBAC) and a TLS kubelet on the real Docker engine, as
tests/e2e/test_kubelet_tls.py does, and one busybox pod. Then, in one run:

- exec round trip of `true`: `kubectl exec POD -- true` (kubectl 1.32: WebSocket v5 through the API server to
  the kubelet), the official Python client's `stream(connect_get_namespaced_pod_exec, …)` (WebSocket v4), and
  `docker exec CONTAINER true` on the node (the floor: what the kubelet itself asks Docker for). p50 and p99.
- port-forward throughput: bytes read through `kubectl port-forward` (WebSocket tunnel carrying SPDY) from a
  server in the pod, next to a direct TCP connection from the node to the pod IP.

Targets (issue 14): exec p50 within 2x of `docker exec`; port-forward at least 30 % of the direct throughput.
Every phase is bounded in count and time. Prints a Markdown section for docs/benchmarks.md.

    .venv/bin/python bench/streams.py            # 30 execs per kind, 3 x 32 MiB transfers per path
    .venv/bin/python bench/streams.py --quick    # a small run that checks the script works
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import kubernetes  # noqa: E402
from kubelet_harness import container, ensure_images, node_containers, pod, remove_node_containers  # noqa: E402
from kubernetes.stream import stream  # noqa: E402
from test_kubelet_tls import Cluster  # noqa: E402

from cluster import Etcd  # noqa: E402

KUBECTL = "/usr/bin/kubectl"
EXEC_P50_RATIO_TARGET = 2.0
FORWARD_SHARE_TARGET = 0.30
SOURCE_PORT = 9000
SOURCE_MIB = 40
# The pod's byte source: busybox httpd serving one large file (the reader stops after its share of it).
SOURCE_SCRIPT = (f"mkdir -p /www && head -c {SOURCE_MIB << 20} /dev/zero > /www/big && "
                 f"exec httpd -f -p {SOURCE_PORT} -h /www")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def timed(runs: int, seconds: float, action: Callable[[], None]) -> list[float]:
    """Durations of `action`, run up to `runs` times or until `seconds` have passed (after one warm-up run)."""
    action()
    durations: list[float] = []
    deadline = time.monotonic() + seconds
    while len(durations) < runs and time.monotonic() < deadline:
        start = time.perf_counter()
        action()
        durations.append(time.perf_counter() - start)
    return durations


def read_bytes(port: int, host: str, size: int, timeout: float) -> float:
    """Seconds to read `size` bytes from a fresh connection to host:port."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as sock:
        start = time.perf_counter()
        sock.sendall(b"GET /big HTTP/1.0\r\n\r\n")  # the file is larger than `size`: headers count too
        left = size
        while left > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {size - left} of {size} bytes in {timeout} s")
            chunk = sock.recv(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError(f"closed after {size - left} of {size} bytes")
            left -= len(chunk)
        return time.perf_counter() - start


def throughput(rounds: int, size: int, connect: Callable[[], float]) -> list[float]:
    """MiB/s of `rounds` transfers of `size` bytes."""
    results = []
    for _ in range(rounds):
        for attempt in range(10):
            try:
                results.append(size / (1 << 20) / connect())
                break
            except (ConnectionError, TimeoutError):  # a slow start of the pod's server
                if attempt == 9:
                    raise
                time.sleep(0.3)
    return results


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(check: Callable[[], object], what: str, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few runs only, to check the script works")
    args = parser.parse_args()
    runs, size, rounds = (5, 4 << 20, 1) if args.quick else (30, 32 << 20, 3)
    assert size < SOURCE_MIB << 20
    ensure_images()
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as tmp:
        workdir = Path(tmp)
        (workdir / "etcd").mkdir()
        etcd = Etcd(workdir / "etcd").start()
        plane = Cluster(workdir, etcd.url)
        forward: subprocess.Popen | None = None
        try:
            plane.server.start()
            plane.controllers.start()
            plane.kubelet.start()
            wait_for(lambda: (plane.get(f"/api/v1/nodes/{plane.node}") or {}).get("status", {}).get("nodeInfo"),
                     "the node to register", 60)
            ns = plane.namespace()
            created = plane.create(ns, "pods", pod("bench", plane.node, [container("c", SOURCE_SCRIPT)],
                                                   terminationGracePeriodSeconds=0))
            running = plane.wait_running(ns, "bench", 60)
            pod_ip = running["status"]["podIP"]
            ids = [cid for cid, name in node_containers(plane.node, created["metadata"]["uid"]).items()
                   if name.startswith("k8s_c_")]
            kubeconfig = str(plane.kubeconfig("admin", plane.admin))
            env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir / "kubectl-home")}

            def kubectl_get() -> None:  # kubectl's own start and one request, for scale
                subprocess.run([KUBECTL, f"--kubeconfig={kubeconfig}", "get", "pod", "-n", ns, "bench"],
                               check=True, capture_output=True, timeout=30, env=env)

            def kubectl_exec() -> None:
                subprocess.run([KUBECTL, f"--kubeconfig={kubeconfig}", "exec", "-n", ns, "bench", "--", "true"],
                               check=True, capture_output=True, timeout=30, env=env)

            config = kubernetes.client.Configuration()
            config.host = plane.url
            config.ssl_ca_cert = str(plane.ca.cert)
            config.cert_file, config.key_file = str(plane.admin.cert), str(plane.admin.key)
            api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))

            def python_exec() -> None:
                stream(api.connect_get_namespaced_pod_exec, "bench", ns, command=["true"], stdout=True,
                       stderr=True, stdin=False, tty=False, _request_timeout=30)

            def docker_exec() -> None:
                subprocess.run(["docker", "exec", ids[0], "true"], check=True, capture_output=True, timeout=30)

            execs = {"docker exec (node)": timed(runs, 120, docker_exec),
                     "kubectl exec": timed(runs, 120, kubectl_exec),
                     "Python client exec": timed(runs, 120, python_exec),
                     "(kubectl get pod, no stream)": timed(runs, 120, kubectl_get)}

            local = _free_port()
            forward = subprocess.Popen([KUBECTL, f"--kubeconfig={kubeconfig}", "port-forward", "-n", ns, "pod/bench",
                                        f"{local}:{SOURCE_PORT}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       env=env, text=True)
            wait_for(lambda: "Forwarding from" in (forward.stdout.readline() if forward.stdout else ""),
                     "kubectl port-forward to listen", 30)
            direct = throughput(rounds, size, lambda: read_bytes(SOURCE_PORT, pod_ip, size, 60))
            pids = {"API server": plane.server.proc.pid, "kubelet": plane.kubelet.proc.pid, "kubectl": forward.pid}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            forwarded = throughput(rounds, size, lambda: read_bytes(local, "127.0.0.1", size, 120))
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        finally:
            if forward is not None:
                forward.kill()
                forward.wait(10)
            plane.kubelet.stop()
            remove_node_containers(plane.node)
            subprocess.run(["docker", "network", "rm", plane.network], capture_output=True)
            plane.controllers.stop()
            plane.server.stop()
            etcd.stop()
    report(execs, direct, forwarded, size, args.quick)
    gib = rounds * size / (1 << 30)
    shares = ", ".join(f"{name} {seconds / gib:.1f}" for name, seconds in cpu.items())
    print(f"\nCPU seconds per GiB forwarded: {shares}.")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def report(execs: dict[str, list[float]], direct: list[float], forwarded: list[float], size: int,
           quick: bool) -> None:
    floor = percentile(execs["docker exec (node)"], 0.5)
    print(f"### Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
          f"{' (--quick)' if quick else ''}: {os.cpu_count()} cores, {platform.machine()}, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| exec of `true` | runs | p50 ms | p99 ms | p50 / docker exec |")
    print("|---|---|---|---|---|")
    for name, durations in execs.items():
        p50, p99 = percentile(durations, 0.5), percentile(durations, 0.99)
        print(f"| {name} | {len(durations)} | {p50 * 1000:.0f} | {p99 * 1000:.0f} | {p50 / floor:.2f} |")
    best_direct, best_forwarded = max(direct), max(forwarded)
    share = sorted(forwarded)[len(forwarded) // 2] / sorted(direct)[len(direct) // 2]
    print(f"\n| {size >> 20} MiB read from the pod | transfers | median MiB/s | best MiB/s |")
    print("|---|---|---|---|")
    print(f"| direct TCP to the pod IP | {len(direct)} | {sorted(direct)[len(direct) // 2]:.0f} | {best_direct:.0f} |")
    print(f"| kubectl port-forward | {len(forwarded)} | {sorted(forwarded)[len(forwarded) // 2]:.0f} | "
          f"{best_forwarded:.0f} |")
    exec_ok = all(percentile(d, 0.5) <= EXEC_P50_RATIO_TARGET * floor for n, d in execs.items() if "exec" in n)
    print(f"\nTargets: exec p50 within {EXEC_P50_RATIO_TARGET:g}x of docker exec: "
          f"{'met' if exec_ok else 'NOT met'}; port-forward at {share:.0%} of direct (target "
          f"{FORWARD_SHARE_TARGET:.0%}): {'met' if share >= FORWARD_SHARE_TARGET else 'NOT met'}.")


if __name__ == "__main__":
    main()
