"""What the fault battery (tests/ha/test_faults.py) runs beside each fault, and how it checks that nothing was lost.

- `WriteLoad`: writer threads creating and updating ConfigMaps through the API; every acknowledged write is recorded
  with its value (a per-key sequence number), and so is every write whose outcome is unknown (the connection broke:
  it may or may not have been applied). `lost_writes` compares that ledger with what the API holds afterwards.
- `ContainerEvents`: the `start`/`die` events of every container the kubelets run in one namespace, read from each
  worker's Docker (`docker events`), so that "no StatefulSet pod ever ran twice at once" is checked from what really
  ran, not from what the API says. `overlapping_runs` finds two containers of one pod name running at once.

The pure parts (`lost_writes`, `overlapping_runs`, `parse_event`) have unit tests in tests/unit/test_fault_checks.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from kubeling.api.resources import must_lookup
from kubeling.client import errors
from kubeling.client.api import Client

CONFIGMAPS = must_lookup("", "configmaps")


# The write ledger


@dataclasses.dataclass
class KeyRecord:
    """One ConfigMap's writes: the last acknowledged sequence number, and the highest one ever sent."""

    acked: int = 0
    sent: int = 0


def lost_writes(ledger: dict[str, KeyRecord], stored: dict[str, int]) -> list[str]:
    """What is wrong with `stored` (name → sequence number in the API) given the writers' `ledger`: an acknowledged
    write must be there, with its value or a later one that was sent (a write whose answer was lost may have been
    applied); nothing never sent may appear."""
    problems = []
    for name, record in sorted(ledger.items()):
        value = stored.get(name)
        if record.acked and value is None:
            problems.append(f"{name}: acknowledged write {record.acked} lost (the object is gone)")
        elif value is not None and value < record.acked:
            problems.append(f"{name}: holds {value}, older than the acknowledged {record.acked}")
        elif value is not None and value > record.sent:
            problems.append(f"{name}: holds {value}, which was never sent (last sent {record.sent})")
    return problems


class WriteLoad:
    """`writers` threads, each creating then updating its own `keys_per_writer` ConfigMaps in `namespace`, one
    write at a time. `pause()` waits for the writes in flight and holds the writers (to compare the ledger with the
    API); `resume()` lets them go on."""

    def __init__(self, client: Client, namespace: str, writers: int = 32, keys_per_writer: int = 2,
                 pause_between: float = 0.05) -> None:
        self.client, self.namespace = client, namespace
        self.writers, self.keys_per_writer, self.pause_between = writers, keys_per_writer, pause_between
        self.ledger = {f"w{w:02d}-{k}": KeyRecord() for w in range(writers) for k in range(keys_per_writer)}
        self.ack_times: list[float] = []  # monotonic time of every acknowledged write
        self.failures: list[tuple[float, str]] = []  # (monotonic time, error) of the last failures
        self.failure_count = 0
        self._go = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []

    def start(self) -> WriteLoad:
        self._go.set()
        for index in range(self.writers):
            names = [f"w{index:02d}-{k}" for k in range(self.keys_per_writer)]
            thread = threading.Thread(target=self._write_loop, args=(names,), name=f"writer {index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._go.set()
        for thread in self._threads:
            thread.join(30)

    def pause(self, timeout: float = 60.0) -> None:
        self._go.clear()
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(1.0)
            assert not self._in_flight, f"{self._in_flight} writes still in flight after {timeout:.0f}s"

    def resume(self) -> None:
        self._go.set()

    def acks_between(self, start: float, end: float) -> int:
        return sum(1 for t in list(self.ack_times) if start <= t <= end)

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time (seconds) between two acknowledged writes in [start, end], the ends included."""
        times = [start, *sorted(t for t in list(self.ack_times) if start <= t <= end), end]
        return max(b - a for a, b in itertools.pairwise(times))

    def stored(self) -> dict[str, int]:
        """Every ConfigMap of the load as the API has it now (name → sequence number)."""
        items = self.client.list_all(CONFIGMAPS, self.namespace).get("items") or []
        return {item["metadata"]["name"]: int((item.get("data") or {}).get("seq", "0")) for item in items
                if item["metadata"]["name"] in self.ledger}

    def check(self) -> list[str]:
        """Pause, compare the ledger with the API, resume: the problems found (empty: nothing lost)."""
        self.pause()
        try:
            return lost_writes(self.ledger, self.stored())
        finally:
            self.resume()

    def _write_loop(self, names: list[str]) -> None:
        turn = 0
        while not self._stop.is_set():
            self._go.wait()
            if self._stop.is_set():
                return
            with self._lock:
                if not self._go.is_set():
                    continue
                self._in_flight += 1
            try:
                self._write(names[turn % len(names)])
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()
            turn += 1
            self._stop.wait(self.pause_between)

    def _write(self, name: str) -> None:
        record = self.ledger[name]
        seq = record.sent + 1
        record.sent = seq
        data = {"seq": str(seq), "payload": f"{name}:{seq}"}
        try:
            if record.acked == 0:
                try:
                    self.client.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                                    "metadata": {"name": name}, "data": data}, self.namespace)
                except errors.AlreadyExists:
                    # An earlier create was applied though its answer was lost: update instead.
                    self.client.patch(CONFIGMAPS, name, {"data": data}, self.namespace)
            else:
                self.client.patch(CONFIGMAPS, name, {"data": data}, self.namespace)
        except Exception as exc:  # outcome unknown: `sent` covers it, `acked` stays
            with self._lock:
                self.failure_count += 1
                self.failures = [*self.failures[-199:], (time.monotonic(), f"{name}#{seq}: {exc!r}"[:300])]
            return
        record.acked = seq
        self.ack_times.append(time.monotonic())


# The kubelets' container events


@dataclasses.dataclass(frozen=True)
class ContainerEvent:
    worker: str
    pod: str  # the pod's name (a StatefulSet pod keeps it across re-creations)
    pod_uid: str
    container: str
    kind: str  # sandbox, init or app (the kubelet's label)
    id: str
    action: str  # start or die
    at: int  # nanoseconds since the epoch


def parse_event(worker: str, line: str) -> ContainerEvent | None:
    """One `docker events --format '{{json .}}'` line as a ContainerEvent (None: not a kubelet container's)."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    attributes = (raw.get("Actor") or {}).get("Attributes") or {}
    pod = attributes.get("io.kubernetes.pod.name")
    action = raw.get("status") or raw.get("Action")
    if not pod or action not in ("start", "die"):
        return None
    container_id = raw.get("id") or (raw.get("Actor") or {}).get("ID", "")
    return ContainerEvent(worker, pod, attributes.get("io.kubernetes.pod.uid", ""),
                          attributes.get("io.kubernetes.container.name", ""), attributes.get("io.kubeling.kind", ""),
                          container_id, action, int(raw.get("timeNano") or 0))


def overlapping_runs(events: list[ContainerEvent], pods: Callable[[str], bool], now: int) -> list[str]:
    """Pairs of app containers of one pod name (on any workers) that ran at the same time. A container runs from
    its `start` to its `die` (or `now` when it has not died); `pods` picks the pod names to look at."""
    runs: dict[str, list[tuple[int, int, ContainerEvent]]] = {}
    started: dict[str, ContainerEvent] = {}
    for event in sorted(events, key=lambda e: e.at):
        if event.kind != "app" or not pods(event.pod):
            continue
        if event.action == "start":
            started[event.id] = event
        elif event.id in started:
            begin = started.pop(event.id)
            runs.setdefault(event.pod, []).append((begin.at, event.at, begin))
    for begin in started.values():
        runs.setdefault(begin.pod, []).append((begin.at, now, begin))
    problems = []
    for pod, spans in sorted(runs.items()):
        spans.sort(key=lambda span: span[0])
        for (_a_start, a_end, a), (b_start, _, b) in itertools.pairwise(spans):
            if b_start < a_end:
                problems.append(f"{pod} ran twice at once: container {a.id[:12]} on {a.worker} (pod uid "
                                f"{a.pod_uid[:8]}) until {a_end}, container {b.id[:12]} on {b.worker} (pod uid "
                                f"{b.pod_uid[:8]}) from {b_start}")
    return problems


class ContainerEvents:
    """Follows `docker events` inside each worker container (through `docker exec`, which needs no network: it
    goes on while a worker is partitioned) for the kubelet's containers of `namespace`."""

    def __init__(self, containers: dict[str, str], namespace: str) -> None:
        """`containers`: worker name → its Docker container on the host."""
        self.containers, self.namespace = containers, namespace
        self.events: list[ContainerEvent] = []
        self._seen: set[tuple[str, str, int]] = set()
        self._stop = threading.Event()
        self._procs: dict[str, subprocess.Popen[str]] = {}
        self._threads: list[threading.Thread] = []
        self.since = time.time()

    def start(self) -> ContainerEvents:
        for worker in self.containers:
            thread = threading.Thread(target=self._follow, args=(worker,), name=f"events {worker}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for proc in list(self._procs.values()):
            with contextlib.suppress(OSError):
                proc.kill()
        for thread in self._threads:
            thread.join(10)

    def overlapping(self, pods: Callable[[str], bool]) -> list[str]:
        return overlapping_runs(list(self.events), pods, time.time_ns())

    def _follow(self, worker: str) -> None:
        since = self.since
        while not self._stop.is_set():
            argv = ["docker", "exec", self.containers[worker], "docker", "events", "--since", f"{since:.3f}",
                    "--filter", "type=container", "--filter", "event=start", "--filter", "event=die",
                    "--filter", f"label=io.kubernetes.pod.namespace={self.namespace}", "--format", "{{json .}}"]
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self._procs[worker] = proc
            assert proc.stdout is not None
            for line in proc.stdout:
                event = parse_event(worker, line)
                if event is None or (event.id, event.action, event.at) in self._seen:
                    continue
                self._seen.add((event.id, event.action, event.at))
                self.events.append(event)
                since = max(since, event.at / 1e9 - 1)  # a reconnection replays the last second: deduplicated
            proc.wait()
            self._stop.wait(1.0)  # the worker's Docker restarted, or the container was stopped: follow again


def problems_of(**checks: list[str]) -> dict[str, Any]:
    """The non-empty lists of problems, by check name (for one assertion that shows them all)."""
    return {name: found for name, found in checks.items() if found}
