"""Secrets encrypted at rest: what encryption costs the API server, next to the same server without it.

Starts one etcd and three API servers on it (tests/cluster.py), each under its own prefix: one without
`--encryption-provider-config`, one encrypting Secrets with aescbc, one with aesgcm. Then measures Secret create
and get throughput on each at two concurrencies. The servers take turns in short rounds that are pooled, so a
burst of other load on the machine falls on every side of a ratio instead of on one. Prints a Markdown table and
whether the target holds (encryption costs under 20 % of Secret throughput).

    .venv/bin/python bench/secrets.py            # full run, a few minutes on 2 cores
    .venv/bin/python bench/secrets.py --quick    # a tiny run that checks the script works
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

sys.path.insert(0, str(ROOT / "agents"))

from cluster import APIServer, Etcd  # noqa: E402
from kubeling.api.resources import RESOURCES  # noqa: E402
from kubeling.apiserver import encryption  # noqa: E402

TARGET = 0.20  # encryption may cost at most this share of Secret throughput
TIMEOUT = 10.0
# A Secret of a realistic size: a TLS key and certificate are 2 to 5 KiB.
PAYLOAD = {"tls.key": base64.b64encode(os.urandom(1700)).decode(),
           "tls.crt": base64.b64encode(os.urandom(1300)).decode()}


def encryption_config(path: Path, provider: str) -> str:
    key = {"name": "key1", "secret": base64.b64encode(os.urandom(32)).decode()}
    path.write_text(yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [{provider: {"keys": [key]}}, {"identity": {}}]}],
    }))
    return str(path)


@contextlib.contextmanager
def servers(workdir: Path) -> Iterator[dict[str, APIServer]]:
    """One etcd; an API server per setting, each on its own prefix."""
    etcd = Etcd(workdir).start()
    started: dict[str, APIServer] = {}
    try:
        for name in ("off", "aescbc", "aesgcm"):
            extra = [] if name == "off" else ["--encryption-provider-config",
                                              encryption_config(workdir / f"{name}.yaml", name)]
            started[name] = APIServer(etcd.url, workdir, prefix=f"/bench-{name}", extra=extra).start()
        yield started
    finally:
        for server in started.values():
            server.stop()
        etcd.stop()


def phase(op: Callable[[requests.Session, int], None], ops: int, concurrency: int) -> tuple[int, float]:
    """Run `ops` operations over `concurrency` threads; (operations that succeeded, seconds)."""
    counter = iter(range(ops))
    lock = threading.Lock()
    done = [0]

    def worker() -> None:
        with requests.Session() as session:
            session.trust_env = False
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                op(session, index)
                with lock:
                    done[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return done[0], time.perf_counter() - began


def measure(server: APIServer, kind: str, ops: int, concurrency: int, run: str) -> tuple[int, float]:
    base = f"{server.url}/api/v1/namespaces/default/secrets"

    def create(session: requests.Session, index: int) -> None:
        body = {"metadata": {"name": f"{run}-{index}"}, "type": "kubernetes.io/tls", "data": PAYLOAD}
        response = session.post(base, json=body, timeout=TIMEOUT)
        response.raise_for_status()

    def get(session: requests.Session, index: int) -> None:
        response = session.get(f"{base}/{run}-{index % max(ops, 1)}", timeout=TIMEOUT)
        response.raise_for_status()

    return phase(create if kind == "create" else get, ops, concurrency)


def transform_cost(workdir: Path, provider: str, rounds: int = 2000) -> float:
    """Microseconds to seal and open one such Secret with `provider`, in this process: the cost itself, free of
    the HTTP, JSON and etcd work around it."""
    transformer = encryption.for_resources(
        encryption.load(encryption_config(workdir / f"micro-{provider}.yaml", provider)), RESOURCES)["secrets"]
    value = yaml.safe_dump(PAYLOAD).encode()
    key = b"/registry/secrets/default/bench"
    began = time.perf_counter()
    for _ in range(rounds):
        transformer.from_storage(transformer.to_storage(value, key), key)
    return (time.perf_counter() - began) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    ops, rounds, concurrencies = (40, 1, (1, 4)) if args.quick else (300, 4, (1, 8))
    workdir = Path(tempfile.mkdtemp(prefix="kubeling-bench-secrets-"))
    totals: dict[tuple[str, str, int], list[float]] = {}
    try:
        micro = {provider: transform_cost(workdir, provider) for provider in ("aescbc", "aesgcm", "secretbox")}
        with servers(workdir) as started:
            for concurrency in concurrencies:
                for round_index in range(rounds):
                    run = f"c{concurrency}r{round_index}-{uuid.uuid4().hex[:6]}"
                    for kind in ("create", "get"):
                        for name, server in started.items():
                            done, seconds = measure(server, kind, ops, concurrency, run)
                            total = totals.setdefault((kind, name, concurrency), [0, 0.0])
                            total[0] += done
                            total[1] += seconds
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    load = os.getloadavg()[0]
    print(f"### Run of {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC: {os.cpu_count()} cores, "
          f"{platform.machine()}, Python {platform.python_version()}, load average {load:.1f} at the end\n")
    print(f"Secret create and get, {ops * rounds} operations per cell in {rounds} pooled rounds, ~3 KiB of data.\n")
    print("| operation | concurrency | off (ops/s) | aescbc (ops/s) | aesgcm (ops/s) | aescbc / off | aesgcm / off |")
    print("|---|---|---|---|---|---|---|")
    worst = 1.0
    for kind in ("create", "get"):
        for concurrency in concurrencies:
            rate = {name: totals[(kind, name, concurrency)][0] / totals[(kind, name, concurrency)][1]
                    for name in ("off", "aescbc", "aesgcm")}
            ratios = [rate[name] / rate["off"] for name in ("aescbc", "aesgcm")]
            worst = min(worst, *ratios)
            print(f"| {kind} | {concurrency} | {rate['off']:.0f} | {rate['aescbc']:.0f} | {rate['aesgcm']:.0f} | "
                  f"{ratios[0]:.2f} | {ratios[1]:.2f} |")
    print("\nSealing and opening one such Secret in-process (the whole cost encryption adds to a create and a "
          "get): " + ", ".join(f"{name} {cost:.0f} µs" for name, cost in micro.items()) + ".")
    verdict = "met" if worst >= 1 - TARGET else "NOT met"
    print(f"\nTarget (encryption costs under {TARGET:.0%} of Secret throughput: every ratio at least "
          f"{1 - TARGET:.2f}): {verdict}; lowest ratio {worst:.2f}.")


if __name__ == "__main__":
    main()
