"""The fault battery's checkers (tests/support/faultload.py) on hand-made inputs: the write ledger against what the
API holds, and the containers of one pod name running twice at once; and the write load against an in-memory API
(nothing lost when nothing fails)."""

from __future__ import annotations

import json
import time

from kubeling.client import errors
from support.fakeclient import FakeClient
from support.faultload import ContainerEvent, KeyRecord, WriteLoad, lost_writes, overlapping_runs, parse_event


def test_an_acknowledged_write_must_be_there_with_its_value_or_a_later_one_that_was_sent() -> None:
    ledger = {"ok": KeyRecord(3, 3), "newer": KeyRecord(3, 4), "lost": KeyRecord(2, 2), "stale": KeyRecord(5, 5),
              "invented": KeyRecord(1, 1), "never-acked": KeyRecord(0, 1)}
    stored = {"ok": 3, "newer": 4, "stale": 4, "invented": 7}
    assert lost_writes(ledger, stored) == [
        "invented: holds 7, which was never sent (last sent 1)",
        "lost: acknowledged write 2 lost (the object is gone)",
        "stale: holds 4, older than the acknowledged 5",
    ]


def event(pod: str, cid: str, action: str, at: int, worker: str = "worker-1", kind: str = "app") -> ContainerEvent:
    return ContainerEvent(worker, pod, f"uid-{cid}", "web", kind, cid, action, at)


def test_two_containers_of_one_pod_name_running_at_once_are_found() -> None:
    events = [event("db-0", "a", "start", 10), event("db-0", "b", "start", 15, "worker-2"),
              event("db-0", "a", "die", 20),
              event("db-1", "c", "start", 10), event("db-1", "c", "die", 20), event("db-1", "d", "start", 20),
              event("db-2", "e", "start", 10), event("db-2", "s", "start", 12, kind="sandbox")]
    (problem,) = overlapping_runs(events, lambda pod: pod.startswith("db-"), now=100)
    assert problem.startswith("db-0 ran twice at once: container a on worker-1")


def test_a_container_still_running_counts_until_now() -> None:
    events = [event("db-0", "a", "start", 10), event("db-0", "b", "start", 50, "worker-2"),
              event("db-0", "b", "die", 60)]
    assert overlapping_runs(events, lambda pod: True, now=100) != []
    assert overlapping_runs(events[1:], lambda pod: True, now=100) == []


def test_docker_event_lines_become_container_events() -> None:
    line = json.dumps({"status": "start", "id": "abc", "timeNano": 1700000000123456789,
                       "Actor": {"ID": "abc", "Attributes": {"io.kubernetes.pod.name": "db-0",
                                                             "io.kubernetes.pod.uid": "u1",
                                                             "io.kubernetes.container.name": "web",
                                                             "io.kubeling.kind": "app"}}})
    assert parse_event("worker-1", line) == ContainerEvent("worker-1", "db-0", "u1", "web", "app", "abc", "start",
                                                           1700000000123456789)
    assert parse_event("worker-1", json.dumps({"status": "start", "id": "x", "Actor": {}})) is None
    assert parse_event("worker-1", "not json") is None


def test_the_write_load_loses_nothing_on_a_healthy_api_and_records_what_failed() -> None:
    client = FakeClient()
    failing = {"count": 0}

    def flaky(action: object) -> Exception | None:
        failing["count"] += 1
        return errors.Unavailable(503, "ServiceUnavailable", "etcd is away") if failing["count"] % 7 == 0 else None

    client.fail("patch", "configmaps", flaky)
    load = WriteLoad(client, "default", writers=4, keys_per_writer=2,  # type: ignore[arg-type]
                     pause_between=0.001).start()
    try:
        deadline = time.monotonic() + 10
        while len(load.ack_times) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert load.check() == []
    finally:
        load.stop()
    assert len(load.ack_times) >= 200
    assert load.failure_count > 0
    assert lost_writes(load.ledger, load.stored()) == []
