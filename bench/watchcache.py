"""Lists from the API server's watch cache next to etcd's own range of the same keys (issue 21).

One etcd, two API servers on it: one with the watch cache (the default), one with `--watch-cache=false` (every
list is an etcd range, decoded). 10,000 ConfigMaps are created through the API, then, in interleaved rounds so
that load on the machine hits every path alike:

- `GET .../configmaps` on the cached server: a consistent list (no resourceVersion), what kubectl asks;
- the same with `resourceVersion=0`, what informers ask on start;
- the same on the uncached server (the path before this change);
- etcd's `/v3/kv/range` over the same prefix (the objects as etcd returns them, base64 in JSON).

Each timing is the request until the whole body is read: the server's work and the wire, not the client's parse
of the JSON (which costs the same for any server sending the same list).

Then each server's resident memory (VmRSS) and the cached server's /metrics figures. Every phase is bounded in
rounds and time. Usage: `.venv/bin/python bench/watchcache.py [--objects N] [--rounds N] [--quick]`.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cluster import APIServer, Etcd  # noqa: E402

DEADLINE_SECONDS = 600


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (the API server's worker), MiB."""
    total = 0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for one in pids:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def populate(url: str, namespace: str, count: int) -> None:
    requests.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": namespace}}, timeout=30).raise_for_status()
    path = f"{url}/api/v1/namespaces/{namespace}/configmaps"

    def create(start: int) -> None:
        with requests.Session() as session:
            for i in range(start, count, 8):
                body = {"metadata": {"name": f"cm-{i:05}", "labels": {"app": "bench"}},
                        "data": {"key": f"value-{i}", "other": "x" * 64}}
                session.post(path, json=body, timeout=30).raise_for_status()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(8)))


def timed(call: Callable[[bool], int]) -> tuple[float, int]:
    began = time.perf_counter()
    items = call(False)
    return (time.perf_counter() - began) * 1000, items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="300 objects, 3 rounds: checks the script works")
    args = parser.parse_args(argv)
    objects, rounds = (300, 3) if args.quick else (args.objects, args.rounds)
    began = time.monotonic()
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="bench-watchcache-"))
    etcd = Etcd(workdir).start()
    cached = uncached = None
    try:
        cached = APIServer(etcd.url, workdir).start()
        uncached = APIServer(etcd.url, workdir, extra=["--watch-cache=false"]).start()
        namespace = "bench-list"
        populate(cached.url, namespace, objects)
        prefix = f"/registry/configmaps/{namespace}/"
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        session = requests.Session()
        session.trust_env = False

        # Timed: the request and the whole body read (what the server and the wire cost); the body is parsed
        # only once per path, outside the timing, to check it holds every object.
        def api(url: str, **params: str) -> Callable[[bool], int]:
            def call(parse: bool) -> int:
                response = session.get(f"{url}/api/v1/namespaces/{namespace}/configmaps", params=params, timeout=120)
                response.raise_for_status()
                return len(response.json()["items"]) if parse else len(response.content)
            return call

        def etcd_range(parse: bool) -> int:
            response = session.post(f"{etcd.url}/v3/kv/range", timeout=120,
                                    data=json.dumps({"key": b64(prefix), "range_end": b64(end)}))
            response.raise_for_status()
            return len(response.json().get("kvs", [])) if parse else len(response.content)

        paths: dict[str, Callable[[bool], int]] = {
            "API, watch cache, consistent list (no resourceVersion)": api(cached.url),
            "API, watch cache, resourceVersion=0": api(cached.url, resourceVersion="0"),
            "API, --watch-cache=false (etcd range, decoded)": api(uncached.url),
            "etcd /v3/kv/range of the same keys": etcd_range,
        }
        times: dict[str, list[float]] = {name: [] for name in paths}
        for call in paths.values():
            assert call(True) == objects, "a path did not list every object"  # and warms it up
        for _ in range(rounds):
            if time.monotonic() - began > DEADLINE_SECONDS:
                break
            for name, call in paths.items():
                elapsed, _size = timed(call)
                times[name].append(elapsed)
        memory = {"cached": rss_mib(cached.proc.pid), "uncached": rss_mib(uncached.proc.pid)}  # type: ignore[union-attr]
        metrics = {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1]
                   for line in session.get(f"{cached.url}/metrics", timeout=30).text.splitlines()
                   if line.startswith("kubeling_watch_cache_") and 'resource="configmaps"' in line}
    finally:
        for server in (cached, uncached):
            if server is not None:
                server.stop()
        etcd.stop()

    raw = statistics.median(times["etcd /v3/kv/range of the same keys"])
    print(f"Command: `.venv/bin/python bench/watchcache.py{' --quick' if args.quick else ''}`; "
          f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {objects} ConfigMaps, "
          f"{len(times[next(iter(times))])} interleaved rounds; load average before / after: {load_before:.2f} / "
          f"{os.getloadavg()[0]:.2f}; run time {time.monotonic() - began:.0f} s.")
    print()
    print("| path | p50 ms | min ms | max ms | p50 / etcd range p50 |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        p50 = statistics.median(values)
        print(f"| {name} | {p50:.0f} | {min(values):.0f} | {max(values):.0f} | {p50 / raw:.2f} |")
    print()
    print(f"Resident memory: API server with the watch cache {memory['cached']:.0f} MiB, without "
          f"{memory['uncached']:.0f} MiB (both hold every resource's watch hub: the hubs are what serve watches; "
          "the cache adds no copy). Cached configmaps: "
          + ", ".join(f"{k.split('{')[0].removeprefix('kubeling_watch_cache_')} {v}" for k, v in metrics.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
