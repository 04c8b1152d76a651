"""Cluster DNS benchmark: `kubeling dns` next to dnsmasq, in one run, on the same machine and the same names.

Starts a private etcd and API server (tests/cluster.py), creates N ClusterIP Services, and runs `kubeling dns` on a
loopback port; dnsmasq (Debian's package) serves the same N names from a hosts file on another port. Both forward
other names to a stub upstream in this process and cache its answers. The same load generator (P processes, each
keeping C queries in flight over UDP) then asks each server, in turn:

- *cluster*: `svc-<i>.bench.svc.cluster.local A`, i random among the N Services;
- *outside*: `host-<j>.outside.example A`, j among 50 names the server has already cached.

and reports queries per second and p50/p99 latency. Every phase is bounded in time; traffic stays on 127.0.0.1.

    .venv/bin/python bench/dns.py                  # 1000 Services, 10 s per phase
    .venv/bin/python bench/dns.py --quick          # a few seconds, to check the script works
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "agents"))

from cluster import control_plane, free_port, wait_for  # noqa: E402

ZONE = "cluster.local"
NAMESPACE = "bench"
OUTSIDE = 50


def stub_upstream() -> int:
    """A resolver for `host-<j>.outside.example` (192.0.2.x, TTL 3600) in a thread of this process."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            packet, client = sock.recvfrom(4096)
            request = DNSRecord.parse(packet)
            reply = request.reply()
            name = str(request.q.qname)
            if name.endswith(".outside.example.") and request.q.qtype == QTYPE.A:
                reply.add_answer(RR(name, QTYPE.A, ttl=3600, rdata=A(f"192.0.2.{hash(name) % 250 + 1}")))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            sock.sendto(reply.pack(), client)

    threading.Thread(target=serve, daemon=True).start()
    return sock.getsockname()[1]


def create_services(api: str, count: int) -> dict[str, str]:
    """N ClusterIP Services in the bench namespace; name → cluster IP."""
    session = requests.Session()
    session.post(f"{api}/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}}).raise_for_status()
    ips = {}
    for i in range(count):
        response = session.post(f"{api}/api/v1/namespaces/{NAMESPACE}/services", json={
            "metadata": {"name": f"svc-{i}"}, "spec": {"ports": [{"port": 80}], "selector": {"app": f"a{i}"}}})
        response.raise_for_status()
        ips[f"svc-{i}"] = response.json()["spec"]["clusterIP"]
    return ips


def start_kubeling_dns(api: str, workdir: Path, upstream: int) -> tuple[subprocess.Popen, int]:
    port, health = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "agents")}
    log = open(workdir / "dns.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", "kubeling", "dns", "--master", api, "--port", str(health),
                             "--dns-bind-address", "127.0.0.1", "--dns-port", str(port),
                             "--upstream-nameservers", f"127.0.0.1:{upstream}"], stdout=log, stderr=subprocess.STDOUT,
                            env=env)
    wait_for(f"http://127.0.0.1:{health}/healthz", proc=proc)
    return proc, port


def start_dnsmasq(ips: dict[str, str], workdir: Path, upstream: int) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not Path(binary).exists():
        raise SystemExit("dnsmasq is missing: apt-get install dnsmasq-base (make bench installs it)")
    hosts = workdir / "hosts"
    hosts.write_text("".join(f"{ip} {name}.{NAMESPACE}.svc.{ZONE}\n" for name, ip in ips.items()))
    port = free_port()
    proc = subprocess.Popen([binary, "--keep-in-foreground", "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
                             "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={port}",
                             f"--server=127.0.0.1#{upstream}", "--cache-size=10000", "--user=root",
                             f"--pid-file={workdir / 'dnsmasq.pid'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, port


def _worker(port: int, names: list[str], in_flight: int, seconds: float, results: multiprocessing.Queue) -> None:
    """Keep `in_flight` queries outstanding on one socket for `seconds`; put (answered, latencies)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(1.0)
    queries = [DNSRecord.question(name).pack() for name in names]
    sent: dict[int, float] = {}
    latencies: list[float] = []
    next_id = 0

    def send() -> None:
        nonlocal next_id
        next_id = (next_id + 1) & 0xFFFF
        query = random.choice(queries)
        sent[next_id] = time.perf_counter()
        sock.send(next_id.to_bytes(2, "big") + query[2:])

    deadline = time.perf_counter() + seconds
    for _ in range(in_flight):
        send()
    while time.perf_counter() < deadline:
        try:
            reply = sock.recv(4096)
        except TimeoutError:
            sent.clear()  # lost: start over
            for _ in range(in_flight):
                send()
            continue
        started = sent.pop(int.from_bytes(reply[:2], "big"), None)
        if started is not None:
            latencies.append(time.perf_counter() - started)
        send()
    results.put(latencies)


def load(port: int, names: list[str], processes: int, in_flight: int, seconds: float) -> dict[str, float]:
    results: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_worker, args=(port, names, in_flight, seconds, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    latencies = [x for _ in workers for x in results.get(timeout=seconds + 30)]
    for worker in workers:
        worker.join(10)
    latencies.sort()
    return {"qps": len(latencies) / seconds,
            "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")}


def socket_ask(port: int, query: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(query, ("127.0.0.1", port))
        return sock.recv(65535)


def check(port: int, name: str, expected: str) -> None:
    reply = DNSRecord.parse(DNSRecord.question(name).send("127.0.0.1", port, timeout=5))
    got = [str(rr.rdata) for rr in reply.rr]
    assert got == [expected], f"{name} on port {port}: {got}, expected {expected}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--in-flight", type=int, default=8, help="queries outstanding per process")
    parser.add_argument("--quick", action="store_true", help="20 Services, 2 s phases")
    args = parser.parse_args()
    if args.quick:
        args.services, args.seconds = 20, 2.0
    upstream = stub_upstream()
    with control_plane(prefix="/bench-dns") as (_etcd, api), tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        ips = create_services(api.url, args.services)
        print(f"{args.services} Services created in {time.monotonic() - started:.1f}s", flush=True)
        kubeling, kubeling_port = start_kubeling_dns(api.url, workdir, upstream)
        dnsmasq, dnsmasq_port = start_dnsmasq(ips, workdir, upstream)
        try:
            cluster_names = [f"{name}.{NAMESPACE}.svc.{ZONE}" for name in ips]
            outside_names = [f"host-{j}.outside.example" for j in range(OUTSIDE)]
            last = f"svc-{args.services - 1}"
            for port in (kubeling_port, dnsmasq_port):
                deadline = time.monotonic() + 30
                while True:  # kubeling dns answers once its informers have every Service
                    try:
                        check(port, f"{last}.{NAMESPACE}.svc.{ZONE}", ips[last])
                        break
                    except (AssertionError, OSError):
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
                for name in outside_names:  # warm both caches
                    DNSRecord.parse(DNSRecord.question(name).send("127.0.0.1", port, timeout=5))
            # How soon a change shows: a new Service, asked for until kubeling dns answers it.
            session = requests.Session()
            delays = []
            for n in range(5):
                name = f"late-{n}"
                sent = time.monotonic()
                session.post(f"{api.url}/api/v1/namespaces/{NAMESPACE}/services", json={
                    "metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}).raise_for_status()
                query = DNSRecord.question(f"{name}.{NAMESPACE}.svc.{ZONE}").pack()
                while time.monotonic() - sent < 10:
                    reply = DNSRecord.parse(socket_ask(kubeling_port, query))
                    if reply.rr:
                        break
                    time.sleep(0.005)
                delays.append(time.monotonic() - sent)
            print(f"a new Service answered after {1000 * statistics.median(delays):.0f} ms "
                  f"(median of 5; max {1000 * max(delays):.0f} ms), counted from the POST", flush=True)
            rows = []
            for kind, names in (("cluster", cluster_names), ("outside (cached)", outside_names)):
                for server, port in (("kubeling dns", kubeling_port), ("dnsmasq", dnsmasq_port)):
                    result = load(port, names, args.processes, args.in_flight, args.seconds)
                    rows.append((kind, server, result))
                    print(f"{kind:17} {server:13} {result['qps']:8.0f} q/s  p50 {result['p50_ms']:.2f} ms  "
                          f"p99 {result['p99_ms']:.2f} ms", flush=True)
            print()
            print("| names | server | queries/s | p50 | p99 | queries/s, ratio to dnsmasq |")
            print("|---|---|---:|---:|---:|---:|")
            for ours, theirs in zip(rows[0::2], rows[1::2], strict=True):
                for kind, server, result in (ours, theirs):
                    ratio = result["qps"] / theirs[2]["qps"]
                    print(f"| {kind} | {server} | {result['qps']:.0f} | {result['p50_ms']:.2f} ms | "
                          f"{result['p99_ms']:.2f} ms | {ratio:.2f} |")
        finally:
            for proc in (kubeling, dnsmasq):
                proc.terminate()
                proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
