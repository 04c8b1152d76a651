"""API server benchmark: every number next to the same operation done directly on etcd, in the same run.

Starts a private etcd and API server (tests/cluster.py), then measures ConfigMap create and get throughput and
latency at several concurrencies, full-list latency at two sizes, and watch delivery latency, each beside etcd's
JSON gateway doing the equivalent (`/v3/kv/put`, `/v3/kv/range`, `/v3/watch`). Prints Markdown tables, the
API/raw ratios and whether the targets hold. The load generator, etcd and the API server share this machine, so
the raw etcd numbers are what the same Python client gets from etcd here, not etcd's own ceiling.

    .venv/bin/python bench/api.py            # full run, one to two minutes on 2 cores
    .venv/bin/python bench/api.py --quick    # a tiny run that checks the script works
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime
import itertools
import json
import math
import os
import platform
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cluster import control_plane  # noqa: E402

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
TIMEOUT = 10.0  # per request: a stuck request cannot hold a phase past its time budget by more than this
RAW = "/rawbench"  # raw etcd keys live beside, never inside, the API server's /registry


@dataclasses.dataclass(frozen=True)
class Plan:
    concurrency: tuple[int, ...] = (1, 8, 32)
    write_ops: int = 1500  # per create / put phase
    read_ops: int = 3000  # per get / range phase
    phase_seconds: float = 12.0  # each measured phase stops at its op count or after this long
    list_sizes: tuple[int, ...] = (1000, 10000)
    list_rounds: int = 20
    list_seconds: float = 30.0
    populate_seconds: float = 150.0
    watch_writes: int = 200
    deadline: float = 450.0  # the whole run; phases that would start after it are skipped
    # Create and put phases alternate this many times (write_ops split between them) and are pooled: a burst of
    # other load on the machine then falls on both sides of a ratio instead of on one.
    rounds: int = 3


FULL = Plan()
QUICK = Plan(write_ops=60, read_ops=120, phase_seconds=3.0, list_sizes=(50, 200), list_rounds=5, list_seconds=3.0,
             populate_seconds=20.0, watch_writes=20, deadline=90.0, rounds=1)


# Measurements


@dataclasses.dataclass
class Sample:
    """One phase: latencies of the successful operations, failures, wall time and CPU used by each process."""

    latencies: list[float] = dataclasses.field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    wall: float = 0.0
    cpu: dict[str, float] = dataclasses.field(default_factory=dict)
    skipped: bool = False
    early: int = 0  # watch only: events that arrived before the write's response did
    from_send: list[float] = dataclasses.field(default_factory=list)  # watch only: from sending the write

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall > 0 else 0.0

    def pct(self, p: float, values: list[float] | None = None) -> float:
        """Nearest-rank percentile in milliseconds of `values` (the latencies by default); nan if there are none."""
        values = self.latencies if values is None else values
        if not values:
            return math.nan
        ranked = sorted(values)
        return 1000 * ranked[min(len(ranked) - 1, max(0, math.ceil(p / 100 * len(ranked)) - 1))]


def pooled(samples: list[Sample]) -> Sample:
    """Several phases of the same operation as one: all their operations over all their time."""
    merged = Sample(skipped=all(sample.skipped for sample in samples))
    for sample in samples:
        merged.latencies += sample.latencies
        merged.errors += sample.errors
        merged.first_error = merged.first_error or sample.first_error
        merged.wall += sample.wall
        for name, seconds in sample.cpu.items():
            merged.cpu[name] = merged.cpu.get(name, 0.0) + seconds
    return merged


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the API server runs in one process; children are counted too)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return _proc_cpu(pid) + sum(_proc_cpu(int(child)) for child in children)


class CpuMeter:
    def __init__(self, apiserver_pid: int, etcd_pid: int) -> None:
        self.pids = {"apiserver": apiserver_pid, "etcd": etcd_pid}

    def snapshot(self) -> dict[str, float]:
        times = os.times()
        return {"client": times.user + times.system, **{name: _tree_cpu(pid) for name, pid in self.pids.items()}}

    @staticmethod
    def used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {name: after[name] - before[name] for name in before}


Op = Callable[[int], None]  # one request; a negative index is a warm-up; raises when the request failed


def session() -> requests.Session:
    """A client session that skips requests' per-request proxy lookups in os.environ (costly, and we use loopback)."""
    new = requests.Session()
    new.trust_env = False
    return new


def expect(resp: requests.Response, status: int) -> requests.Response:
    if resp.status_code != status:
        raise RuntimeError(f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text[:200]}")
    return resp


def run_phase(meter: CpuMeter, concurrency: int, ops: int, seconds: float,
              make_op: Callable[[int, requests.Session], Op], *, warmup: bool = True) -> Sample:
    """Run `ops` operations over `concurrency` threads, one Session each, stopping early after `seconds`."""
    sample = Sample()
    counter = itertools.count()
    stop = threading.Event()
    clock: dict[str, Any] = {}

    def go() -> None:
        # Runs once, in the last thread to arrive, just before all are released: the phase starts now.
        clock["cpu"], clock["start"] = meter.snapshot(), time.perf_counter()

    ready = threading.Barrier(concurrency, action=go)
    per_thread: list[list[float]] = [[] for _ in range(concurrency)]
    finished: list[float] = [0.0] * concurrency
    lock = threading.Lock()

    def fail(exc: Exception) -> None:
        with lock:
            sample.errors += 1
            sample.first_error = sample.first_error or repr(exc)[:300]

    def worker(index: int) -> None:
        with session() as client:
            op = make_op(index, client)
            if warmup:
                try:
                    op(-1 - index)  # opens the keep-alive connection before the clock starts
                except Exception as exc:
                    fail(exc)
            try:
                ready.wait(timeout=60)
            except threading.BrokenBarrierError:
                return
            latencies = per_thread[index]
            while not stop.is_set():
                i = next(counter)
                if i >= ops:
                    break
                start = time.perf_counter()
                try:
                    op(i)
                except Exception as exc:
                    fail(exc)
                    continue
                latencies.append(time.perf_counter() - start)
            finished[index] = time.perf_counter()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    end_by = time.perf_counter() + 60 + seconds  # warm-ups are bounded by the barrier's own timeout
    while "start" not in clock and time.perf_counter() < end_by and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    end_by = clock.get("start", time.perf_counter()) + seconds
    for thread in threads:
        thread.join(max(0.0, end_by - time.perf_counter()))
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT + 5)
    start = clock.get("start", end_by)
    sample.cpu = CpuMeter.used(clock.get("cpu") or meter.snapshot(), meter.snapshot())
    sample.wall = max(max(finished), start) - start
    if any(t.is_alive() for t in threads):
        sample.wall = time.perf_counter() - start  # a straggler still in a request: count it until now
    sample.latencies = [lat for chunk in per_thread for lat in chunk]
    return sample


# Operations: the API server, and etcd's JSON gateway doing the same


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def prefix_end(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)  # our prefixes end in "/" (or another ASCII character)


def configmap(name: str, seq: int = 0) -> dict[str, Any]:
    """A small ConfigMap, the kind of object most clusters have thousands of."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "data": {"greeting": "hello world", "seq": str(seq)}}


def api_create(url: str, namespace: str, tag: str) -> Callable[[int, requests.Session], Op]:
    def make(thread: int, client: requests.Session) -> Op:
        def op(i: int) -> None:
            name = f"{tag}-{i}" if i >= 0 else f"{tag}-warm{-i}"
            resp = client.post(f"{url}/api/v1/namespaces/{namespace}/configmaps", data=json.dumps(configmap(name)),
                                headers=JSON, timeout=TIMEOUT)
            expect(resp, 201)

        return op

    return make


def raw_put(etcd: str, prefix: str, value: bytes) -> Callable[[int, requests.Session], Op]:
    encoded = b64(value)

    def make(thread: int, client: requests.Session) -> Op:
        def op(i: int) -> None:
            body = {"key": b64(f"{prefix}{i}" if i >= 0 else f"{prefix}warm{-i}"), "value": encoded}
            expect(client.post(f"{etcd}/v3/kv/put", data=json.dumps(body), timeout=TIMEOUT), 200)

        return op

    return make


def api_get(url: str, namespace: str, name: str) -> Callable[[int, requests.Session], Op]:
    path = f"{url}/api/v1/namespaces/{namespace}/configmaps/{name}"

    def make(thread: int, client: requests.Session) -> Op:
        def op(i: int) -> None:
            expect(client.get(path, headers=JSON, timeout=TIMEOUT), 200)

        return op

    return make


def raw_range(etcd: str, key: str, range_end: str | None = None) -> Callable[[int, requests.Session], Op]:
    body = {"key": b64(key)} | ({"range_end": b64(range_end)} if range_end else {})
    data = json.dumps(body)

    def make(thread: int, client: requests.Session) -> Op:
        def op(i: int) -> None:
            resp = expect(client.post(f"{etcd}/v3/kv/range", data=data, timeout=TIMEOUT), 200)
            if b'"kvs"' not in resp.content:
                raise RuntimeError(f"etcd range of {key!r} found nothing")

        return op

    return make


def api_list(url: str, namespace: str) -> Callable[[int, requests.Session], Op]:
    path = f"{url}/api/v1/namespaces/{namespace}/configmaps"

    def make(thread: int, client: requests.Session) -> Op:
        def op(i: int) -> None:
            expect(client.get(path, headers=JSON, timeout=60), 200)

        return op

    return make


def create_namespace(url: str, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    expect(requests.post(f"{url}/api/v1/namespaces", data=json.dumps(body), headers=JSON, timeout=TIMEOUT), 201)


# Watch delivery


def _lines(resp: requests.Response) -> Iterator[bytes]:
    """Lines of a streamed response as soon as each arrives (iter_lines would wait to fill its buffer)."""
    pending = b""
    for chunk in resp.iter_content(chunk_size=None):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())


class Stream:
    """A watch response read by its own thread, which also opens it: a server may hold the response headers back
    until the first event. Each message's sequence numbers are queued with the time the message arrived."""

    def __init__(self, open_stream: Callable[[], requests.Response],
                 seqs_of: Callable[[dict[str, Any]], list[int]]) -> None:
        self.open_stream, self.seqs_of = open_stream, seqs_of
        self.arrivals: queue.Queue[tuple[int, float]] = queue.Queue()
        self.first_line = threading.Event()  # set by the first message, or when the stream fails
        self.response: requests.Response | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            self.response = expect(self.open_stream(), 200)
            for line in _lines(self.response):
                now = time.perf_counter()
                message = json.loads(line)
                self.first_line.set()
                for seq in self.seqs_of(message):
                    self.arrivals.put((seq, now))
        except Exception:  # closed under us when the phase ends; a failed stream shows as missing events
            return
        finally:
            self.first_line.set()

    def close(self) -> None:
        """End the stream now: close() alone would wait until the reader's blocked recv times out."""
        if self.response is None:
            return  # still waiting for headers: the daemon thread ends at its read timeout or with the server
        sock = getattr(self.response.raw.connection, "sock", None)  # urllib3's connection; None once released
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.response.close()


def _await(arrivals: queue.Queue[tuple[int, float]], seq: int, timeout: float) -> float | None:
    """When the event carrying `seq` arrived, or None if it did not within `timeout`; older events are skipped."""
    deadline = time.perf_counter() + timeout
    while (left := deadline - time.perf_counter()) > 0:
        try:
            got, at = arrivals.get(timeout=left)
        except queue.Empty:
            return None
        if got == seq:
            return at
    return None


def watch_latency(meter: CpuMeter, writes: int, seconds: float, write: Callable[[int], None],
                  arrivals: queue.Queue[tuple[int, float]]) -> Sample:
    """Write, then time from the write's response to the event on the open watch; one write in flight at a time."""
    sample = Sample()
    for warm in range(1, 4):
        write(-warm)
        _await(arrivals, -warm, 5.0)
    before, start = meter.snapshot(), time.perf_counter()
    for i in range(writes):
        if time.perf_counter() - start > seconds:
            break
        sent = time.perf_counter()
        try:
            write(i)
        except Exception as exc:
            sample.errors += 1
            sample.first_error = sample.first_error or repr(exc)[:300]
            continue
        returned = time.perf_counter()
        arrived = _await(arrivals, i, 5.0)
        if arrived is None:
            sample.errors += 1
            sample.first_error = sample.first_error or f"no event for write {i} within 5s"
            continue
        sample.early += arrived < returned
        sample.latencies.append(max(0.0, arrived - returned))
        sample.from_send.append(arrived - sent)
    sample.wall = time.perf_counter() - start
    sample.cpu = CpuMeter.used(before, meter.snapshot())
    return sample


def api_watch(meter: CpuMeter, url: str, namespace: str, writes: int, seconds: float) -> Sample:
    client = session()
    base = f"{url}/api/v1/namespaces/{namespace}/configmaps"
    current = expect(client.post(base, data=json.dumps(configmap("watched")), headers=JSON, timeout=TIMEOUT),
                     201).json()
    # From the object's resourceVersion: every later write is delivered, however late the stream connects.
    params = {"watch": "1", "resourceVersion": current["metadata"]["resourceVersion"],
              "timeoutSeconds": str(int(seconds) + 60)}

    def seqs_of(message: dict[str, Any]) -> list[int]:
        return [int(message.get("object", {}).get("data", {}).get("seq", "-999"))]

    stream = Stream(lambda: session().get(base, params=params, headers=JSON, stream=True,
                                          timeout=(TIMEOUT, seconds + 60)), seqs_of)

    def write(i: int) -> None:
        nonlocal current
        current["data"]["seq"] = str(i)  # the body keeps the last resourceVersion: a conditional update
        resp = client.put(f"{base}/watched", data=json.dumps(current), headers=JSON, timeout=TIMEOUT)
        current = expect(resp, 200).json()

    try:
        return watch_latency(meter, writes, seconds, write, stream.arrivals)
    finally:
        stream.close()
        client.close()


def raw_watch(meter: CpuMeter, etcd: str, writes: int, seconds: float) -> Sample:
    client = session()
    prefix = f"{RAW}/watch/"
    create = json.dumps({"create_request": {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}})

    def seqs_of(message: dict[str, Any]) -> list[int]:
        events = message.get("result", {}).get("events", [])
        return [int(json.loads(base64.b64decode(e["kv"]["value"]))["data"]["seq"]) for e in events]

    stream = Stream(lambda: session().post(f"{etcd}/v3/watch", data=create, stream=True,
                                           timeout=(TIMEOUT, seconds + 60)), seqs_of)
    stream.first_line.wait(TIMEOUT)  # etcd's first line says the watch exists; writes before it would be missed

    def write(i: int) -> None:
        value = json.dumps(configmap("watched", i)).encode()  # the same bytes an API object would take
        body = {"key": b64(f"{prefix}watched"), "value": b64(value)}
        expect(client.post(f"{etcd}/v3/kv/put", data=json.dumps(body), timeout=TIMEOUT), 200)

    try:
        return watch_latency(meter, writes, seconds, write, stream.arrivals)
    finally:
        stream.close()
        client.close()


# The run


@dataclasses.dataclass
class Results:
    create: dict[int, tuple[Sample, Sample]] = dataclasses.field(default_factory=dict)  # API, raw
    get: dict[int, tuple[Sample, Sample]] = dataclasses.field(default_factory=dict)
    lists: dict[int, tuple[Sample, Sample]] = dataclasses.field(default_factory=dict)  # by object count
    watch: tuple[Sample, Sample] | None = None
    info: dict[str, str] = dataclasses.field(default_factory=dict)


STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f}s] {message}", file=sys.stderr, flush=True)


def run(plan: Plan) -> Results:
    results = Results()
    begin = time.monotonic()
    load_before = os.getloadavg()[0]

    def budget(wanted: float) -> float:
        """Time left for a phase under the overall deadline; 0 means skip it."""
        left = plan.deadline - (time.monotonic() - begin)
        return min(wanted, left) if left > 1 else 0.0

    def phase(label: str, concurrency: int, ops: int, seconds: float, make_op: Any, **kw: Any) -> Sample:
        allowed = budget(seconds)
        if not allowed:
            say(f"  {label}: skipped (overall deadline)")
            return Sample(skipped=True)
        sample = run_phase(meter, concurrency, ops, allowed, make_op, **kw)
        errors = f", {sample.errors} errors ({sample.first_error})" if sample.errors else ""
        say(f"  {label}: {len(sample.latencies)} ops in {sample.wall:.1f}s = {sample.rate:.0f}/s, "
            f"p50 {sample.pct(50):.1f}ms p99 {sample.pct(99):.1f}ms{errors}")
        return sample

    with control_plane() as (etcd, server):
        assert etcd.proc is not None and server.proc is not None
        meter = CpuMeter(server.proc.pid, etcd.proc.pid)
        url, raw = server.url, etcd.url
        say(f"etcd {raw}, API server {url}")
        for namespace in ["bench-get", "bench-watch"] + [f"bench-create-{c}" for c in plan.concurrency]:
            create_namespace(url, namespace)
        created = expect(requests.post(f"{url}/api/v1/namespaces/bench-get/configmaps",
                                       data=json.dumps(configmap("target")), headers=JSON, timeout=TIMEOUT), 201)
        # Raw puts write the bytes the API server stores for such an object: the same payload size.
        stored = json.dumps(created.json(), separators=(",", ":")).encode()
        target_key = "/registry/configmaps/bench-get/target"

        say("create (API) vs put (raw etcd)")
        ops, seconds = plan.write_ops // plan.rounds, plan.phase_seconds / plan.rounds
        for c in plan.concurrency:
            creates, puts = [], []
            for r in range(plan.rounds):
                creates.append(phase(f"create c={c} round {r + 1}", c, ops, seconds,
                                     api_create(url, f"bench-create-{c}", f"cm{r}")))
                puts.append(phase(f"etcd put c={c} round {r + 1}", c, ops, seconds,
                                  raw_put(raw, f"{RAW}/put-{c}/{r}/", stored)))
            results.create[c] = (pooled(creates), pooled(puts))

        say("get (API) vs range of one key (raw etcd)")
        for c in plan.concurrency:
            api = phase(f"get c={c}", c, plan.read_ops, plan.phase_seconds, api_get(url, "bench-get", "target"))
            rng = phase(f"etcd range c={c}", c, plan.read_ops, plan.phase_seconds, raw_range(raw, target_key))
            results.get[c] = (api, rng)

        say("full list (API) vs prefix range (raw etcd)")
        for size in plan.list_sizes:
            namespace = f"bench-list-{size}"
            create_namespace(url, namespace)
            fill = phase(f"populate {size}", 8, size, plan.populate_seconds, api_create(url, namespace, "o"),
                         warmup=False)
            if fill.skipped:
                results.lists[size] = (Sample(skipped=True), Sample(skipped=True))
                continue
            prefix = f"/registry/configmaps/{namespace}/"
            items = expect(requests.get(f"{url}/api/v1/namespaces/{namespace}/configmaps", headers=JSON,
                                        timeout=60), 200).json()["items"]
            counted = expect(requests.post(f"{raw}/v3/kv/range", timeout=60, data=json.dumps(
                {"key": b64(prefix), "range_end": b64(prefix_end(prefix)), "count_only": True})), 200).json()
            count = int(counted.get("count", 0))
            if len(items) != count or count != size:
                say(f"  list {size}: API lists {len(items)}, etcd counts {count}; reporting {count} (continuing)")
            api = phase(f"list {count}", 1, plan.list_rounds, plan.list_seconds, api_list(url, namespace))
            rng = phase(f"etcd prefix range {count}", 1, plan.list_rounds, plan.list_seconds,
                        raw_range(raw, prefix, prefix_end(prefix)))
            results.lists[count] = (api, rng)

        say("watch delivery (write returned -> event arrived)")
        seconds = budget(60.0)
        if seconds:
            api_w = api_watch(meter, url, "bench-watch", plan.watch_writes, seconds / 2)
            raw_w = raw_watch(meter, raw, plan.watch_writes, seconds / 2)
            for label, sample in (("API watch", api_w), ("etcd watch", raw_w)):
                say(f"  {label}: {len(sample.latencies)} events, p50 {sample.pct(50):.2f}ms "
                    f"p99 {sample.pct(99):.2f}ms, {sample.errors} errors")
            results.watch = (api_w, raw_w)
        results.info["duration"] = f"{time.monotonic() - begin:.0f}s"
        results.info["load"] = f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"
    return results


# Report


def machine() -> dict[str, str]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    try:
        etcd = subprocess.run(["etcd", "--version"], capture_output=True, text=True, timeout=10).stdout.split("\n")[0]
    except (OSError, subprocess.SubprocessError):
        etcd = "etcd (version unknown)"
    return {"cpus": str(os.cpu_count()), "cpu": model, "python": platform.python_version(), "etcd": etcd}


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 and not math.isnan(a) and not math.isnan(b) else "n/a"


def _cpu(sample: Sample) -> str:
    """CPU seconds per 1000 operations for apiserver / etcd / client (the load generator)."""
    n = len(sample.latencies)
    if not n:
        return "n/a"
    return " / ".join(f"{1000 * sample.cpu.get(k, 0.0) / n:.1f}" for k in ("apiserver", "etcd", "client"))


def report(results: Results, quick: bool) -> tuple[str, bool]:
    """The Markdown report, and whether every phase ran without errors."""
    out: list[str] = []
    info = machine()
    command = ".venv/bin/python bench/api.py" + (" --quick" if quick else "")
    out.append(f"Command: `{command}`; date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; "
               f"run time {results.info.get('duration', '?')}.")
    out.append(f"Machine: {info['cpus']} cores ({info['cpu']}), Python {info['python']}, {info['etcd']}; etcd, the "
               "API server (cheroot, 1 process, a thread per request) and the load generator all share these cores.")
    out.append(f"Load average (1 min) before / after the run: {results.info.get('load', '?')} (other work on the "
               "machine shows up here).")
    out.append("")
    out.append("Throughput and latency (ms). `create` is `POST .../configmaps` vs an etcd `/v3/kv/put` of the same "
               "bytes; `get` is `GET .../configmaps/<name>` vs an etcd `/v3/kv/range` of that object's key. CPU is "
               "seconds per 1000 ops used by apiserver / etcd / load generator.")
    out.append("")
    out.append("| operation | concurrency | API ops/s | raw etcd ops/s | API/raw | API p50 | API p99 | raw p50 | "
               "raw p99 | CPU s/1000 ops (API run) | CPU s/1000 ops (raw run) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    clean = True
    for name, table in (("create", results.create), ("get", results.get)):
        for c, (api, rawp) in table.items():
            out.append(f"| {name} | {c} | {api.rate:.0f} | {rawp.rate:.0f} | {_ratio(api.rate, rawp.rate)} | "
                       f"{_ms(api.pct(50))} | {_ms(api.pct(99))} | {_ms(rawp.pct(50))} | {_ms(rawp.pct(99))} | "
                       f"{_cpu(api)} | {_cpu(rawp)} |")
    out.append("")
    out.append("Full list latency (ms): `GET .../namespaces/<ns>/configmaps` (JSON, no limit) vs one etcd prefix "
               "range of the same keys; sequential requests.")
    out.append("")
    out.append("| objects | rounds | API p50 | API p99 | raw p50 | raw p99 | API/raw (p50) | API ms per 1000 objects |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, (api, rawp) in results.lists.items():
        per_k = _ms(api.pct(50) * 1000 / size) if size else "n/a"
        out.append(f"| {size} | {len(api.latencies)} | {_ms(api.pct(50))} | {_ms(api.pct(99))} | "
                   f"{_ms(rawp.pct(50))} | {_ms(rawp.pct(99))} | {_ratio(api.pct(50), rawp.pct(50))} | {per_k} |")
    out.append("")
    if results.watch:
        api, rawp = results.watch
        out.append("Watch delivery (ms): from a PUT's response to its event arriving on an already open watch, one "
                   "write at a time. An event that arrives before the PUT's response counts as 0 (\"early\").")
        out.append("")
        out.append("| path | events | p50 | p99 | max | early | p50 from PUT sent | p99 from PUT sent |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, sample in (("API watch (`?watch=1`)", api), ("etcd `/v3/watch`", rawp)):
            out.append(f"| {label} | {len(sample.latencies)} | {_ms(sample.pct(50))} | {_ms(sample.pct(99))} | "
                       f"{_ms(sample.pct(100))} | {sample.early} | {_ms(sample.pct(50, sample.from_send))} | "
                       f"{_ms(sample.pct(99, sample.from_send))} |")
        out.append("")
    out.append("Targets:")
    out.append("")
    for c, (api, rawp) in results.create.items():
        if api.skipped or rawp.skipped:
            out.append(f"- create throughput >= 0.5 x etcd put at concurrency {c}: NOT MEASURED (skipped)")
            continue
        ok = api.rate >= 0.5 * rawp.rate
        out.append(f"- create throughput >= 0.5 x etcd put at concurrency {c}: {api.rate:.0f}/s vs "
                   f"0.5 x {rawp.rate:.0f}/s = {0.5 * rawp.rate:.0f}/s (ratio {_ratio(api.rate, rawp.rate)}) → "
                   f"{'MET' if ok else 'MISSED'}")
    if 8 in results.create and not results.create[8][0].skipped:
        p99 = results.create[8][0].pct(99)
        out.append(f"- create p99 < 50 ms at concurrency 8: {_ms(p99)} ms → {'MET' if p99 < 50 else 'MISSED'}")
    samples = [s for pair in (*results.create.values(), *results.get.values(), *results.lists.values()) for s in pair]
    samples += list(results.watch or ())
    failed = [s for s in samples if s.errors or s.skipped]
    if failed:
        clean = False
        out.append("")
        out.append(f"{len(failed)} phase(s) had errors or were skipped; first error: "
                   f"{next((s.first_error for s in failed if s.first_error), 'skipped by the deadline')}")
    return "\n".join(out), clean


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds) that checks the script works")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    results = run(plan)
    text, clean = report(results, args.quick)
    print(text)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
