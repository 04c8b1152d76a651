"""Proxy benchmark: `kubeling proxy` (iptables mode) resident memory and rule-sync latency.

Starts a private etcd and API server (tests/cluster.py), creates Services with EndpointSlices, and runs the proxy in a
private network namespace (`unshare -n`), so its iptables rules never touch this machine's. The proxy reaches the
loopback-only API server through tests/support/relay.py (a UNIX socket crosses namespaces). Measures:
- RSS (VmRSS, and the peak VmHWM) with no services and with N services x M endpoints;
- full sync time as the proxy logs it, and the delay from an EndpointSlice update to the new DNAT rule.

Needs root (network namespaces, iptables).

    .venv/bin/python bench/proxy.py                 # 1000 services x 3 endpoints
    .venv/bin/python bench/proxy.py --services 50   # quicker
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "agents"))

from cluster import control_plane  # noqa: E402
from kubeling.proxy import rules  # noqa: E402
from support.relay import Relay  # noqa: E402


def memory_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def proxy_pid(pid: int) -> int:
    """`unshare` execs `sh`, which execs the proxy after starting the relay: one pid throughout."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if b"proxy" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
        time.sleep(0.05)
    raise RuntimeError("proxy process not found")


def nat_rules(pid: int) -> str:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables-save", "-t", "nat"], capture_output=True,
                          text=True, timeout=30).stdout


def chain_rules(pid: int, chain: str) -> str:
    """One chain only: milliseconds, where a whole iptables-save takes ~0.4 s at 1000 services."""
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables", "-t", "nat", "-S", chain],
                          capture_output=True, text=True, timeout=30).stdout


def wait_until(check, timeout: float, interval: float = 0.05) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(interval)
    raise TimeoutError("condition not met")


def run(services: int, endpoints: int) -> str:
    with control_plane(prefix="/bench-proxy") as (_etcd, server), tempfile.TemporaryDirectory() as tmp:
        ns = "bench"
        base = f"{server.url}/api/v1/namespaces"
        slices = f"{server.url}/apis/discovery.k8s.io/v1/namespaces"  # kube-proxy reads EndpointSlices
        requests.post(base, json={"metadata": {"name": ns}}, timeout=10).raise_for_status()
        relay = Relay(f"unix:{tmp}/api.sock", f"tcp:127.0.0.1:{server.port}", lifetime=3600).start()
        log_path = Path(tmp) / "proxy.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "agents")}
        script = (f"ip link set lo up && {sys.executable} {ROOT}/tests/support/relay.py --listen tcp:127.0.0.1:8080 "
                  f"--connect unix:{tmp}/api.sock --lifetime 3600 & exec {sys.executable} -m kubeling proxy "
                  "--master http://127.0.0.1:8080 --cluster-cidr 10.244.0.0/16 --healthz-port 0")
        with open(log_path, "wb") as log:
            shell = subprocess.Popen(["unshare", "-n", "sh", "-c", script], stdout=log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        try:
            pid = proxy_pid(shell.pid)
            wait_until(lambda: "KUBE-SERVICES" in nat_rules(pid), 30, 0.2)
            time.sleep(2)
            idle_rss, _ = memory_mb(pid)

            def make(i: int) -> None:
                name = f"svc-{i}"
                requests.post(f"{base}/{ns}/services", timeout=30, json={
                    "metadata": {"name": name},
                    "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
                }).raise_for_status()
                requests.post(f"{slices}/{ns}/endpointslices", timeout=30, json={
                    "metadata": {"name": name, "labels": {"kubernetes.io/service-name": name}},
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": [f"10.244.{(i * endpoints + j) // 250 % 250}."
                                                 f"{(i * endpoints + j) % 250 + 1}"]} for j in range(endpoints)],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                }).raise_for_status()

            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(make, range(services)))
            created = time.monotonic() - started
            want = services * endpoints
            wait_until(lambda: nat_rules(pid).count("-j DNAT") >= want, 600, 0.5)
            time.sleep(3)
            loaded_rss, peak = memory_mb(pid)

            # EndpointSlice change → rule: move one endpoint of svc-0 to a fresh address, several times, and poll
            # svc-0's KUBE-SVC chain for the jump to the new endpoint's KUBE-SEP chain.
            svc0 = rules.ServicePort(namespace=ns, name="svc-0", port_name="http", protocol="TCP",
                                     cluster_ip="", port=80)
            delays = []
            for k in range(5):
                ip = f"10.245.{k}.1"
                sep = rules.sep_chain(svc0, rules.Endpoint(ip, 8080))
                requests.put(f"{slices}/{ns}/endpointslices/svc-0", timeout=10, json={
                    "metadata": {"name": "svc-0", "namespace": ns, "labels": {"kubernetes.io/service-name": "svc-0"}},
                    "addressType": "IPv4", "endpoints": [{"addresses": [ip]}],
                    "ports": [{"name": "http", "port": 8080}],
                }).raise_for_status()
                delays.append(wait_until(lambda sep=sep: sep in chain_rules(pid, rules.svc_chain(svc0)), 60, 0.02))
                time.sleep(1.2)
            logged = re.findall(r"synced \d+ service ports .* in (\d+) ms \((full|partial), (\d+) lines",
                                log_path.read_text())
        finally:
            subprocess.run(["kill", "--", f"-{shell.pid}"], capture_output=True)
            shell.wait(10)
            relay.stop()

    full = [(float(ms), int(n)) for ms, kind, n in logged if kind == "full"][-1:] or [(0.0, 0)]
    partial = [(float(ms), int(n)) for ms, kind, n in logged if kind == "partial"][-5:] or [(0.0, 0)]
    return "\n".join([
        "## Proxy (bench/proxy.py)",
        "",
        f"Command: `.venv/bin/python bench/proxy.py --services {services} --endpoints {endpoints}` "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()}). `kubeling proxy` in iptables mode, in a private "
        "network namespace, against a private API server; Services (NodePort) and EndpointSlices written directly.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| proxy RSS, no services (VmRSS) | {idle_rss:.1f} MB |",
        f"| proxy RSS, {services} services x {endpoints} endpoints | {loaded_rss:.1f} MB |",
        f"| proxy peak RSS (VmHWM) | {peak:.1f} MB |",
        f"| services + endpoints created in | {created:.1f} s |",
        f"| last full sync (render, iptables-save, restore of {full[-1][1]} lines) | {full[-1][0]:.0f} ms |",
        f"| partial sync after one EndpointSlice change (median of 5; ~{partial[-1][1]} lines) "
        f"| {statistics.median(ms for ms, _ in partial):.0f} ms |",
        f"| EndpointSlice PUT → rule in place, median of 5 | {statistics.median(delays) * 1e3:.0f} ms |",
        f"| … max of 5 | {max(delays) * 1000:.0f} ms |",
        "",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/proxy.py needs root (network namespace, iptables)", file=sys.stderr)
        return 1
    print(run(args.services, args.endpoints))
    return 0


if __name__ == "__main__":
    sys.exit(main())
