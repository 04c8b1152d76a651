"""kubeling.client's informer, work queue and event recorder against a real API server and etcd."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

import pytest
import requests

from cluster import APIServer
from kubeling.api.resources import lookup
from kubeling.client.api import Client
from kubeling.client.config import ClientConfig
from kubeling.client.events import EventRecorder
from kubeling.client.informer import Informer
from kubeling.client.workqueue import WorkQueue
from support.polling import wait_until

pytestmark = pytest.mark.e2e

CONFIGMAPS = lookup("", "configmaps")
EVENTS = lookup("", "events")



def make_namespace(client: Client) -> str:
    name = f"lib-{uuid.uuid4().hex[:6]}"
    client.create(lookup("", "namespaces"), {"metadata": {"name": name}})
    return name


def compact(etcd_url: str) -> None:
    revision = requests.post(f"{etcd_url}/v3/kv/range", json={"key": "AA==", "count_only": True},
                             timeout=10).json()["header"]["revision"]
    requests.post(f"{etcd_url}/v3/kv/compaction", json={"revision": revision, "physical": True},
                  timeout=10).raise_for_status()


class Recorder:
    """What an informer's handlers were told, as (kind, name) pairs."""

    def __init__(self, informer: Informer) -> None:
        self.seen: list[tuple[str, str]] = []
        informer.add_handler(on_add=lambda obj: self.seen.append(("add", obj["metadata"]["name"])),
                             on_update=lambda old, new: self.seen.append(("update", new["metadata"]["name"])),
                             on_delete=lambda obj: self.seen.append(("delete", obj["metadata"]["name"])))


def names(informer: Informer) -> set[str]:
    return {obj["metadata"]["name"] for obj in informer.store.list()}


def test_informer_catches_up_after_its_server_restarts(private_apiserver: APIServer, apiserver: APIServer) -> None:
    client = Client(ClientConfig(server=private_apiserver.url), retries=0)
    other = Client(ClientConfig(server=apiserver.url))
    ns = make_namespace(other)
    other.create(CONFIGMAPS, {"metadata": {"name": "kept"}}, ns)
    other.create(CONFIGMAPS, {"metadata": {"name": "gone"}}, ns)
    informer = Informer(client, CONFIGMAPS, ns)
    recorder = Recorder(informer)
    informer.start()
    try:
        assert informer.wait_for_sync(10)
        assert names(informer) == {"kept", "gone"}

        private_apiserver.stop()  # the watch stream drops; meanwhile the world moves on through another server
        other.delete(CONFIGMAPS, "gone", ns)
        other.create(CONFIGMAPS, {"metadata": {"name": "new"}}, ns)
        private_apiserver.start()

        wait_until(lambda: names(informer) == {"kept", "new"}, 20, "the informer to catch up")
        assert ("delete", "gone") in recorder.seen and ("add", "new") in recorder.seen
        other.create(CONFIGMAPS, {"metadata": {"name": "later"}}, ns)  # and it is watching again
        wait_until(lambda: "later" in names(informer), 10, "the new watch to deliver")
    finally:
        informer.stop()


def test_informer_relists_when_its_watch_gets_410(private_apiserver: APIServer, apiserver: APIServer, etcd: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """The list's resourceVersion is compacted away before the watch starts: the watch gets 410 Expired, and the
    informer lists again instead of missing what happened in between."""
    client = Client(ClientConfig(server=private_apiserver.url))
    other = Client(ClientConfig(server=apiserver.url))
    ns = make_namespace(other)
    other.create(CONFIGMAPS, {"metadata": {"name": "first"}}, ns)
    listed = threading.Event()
    real_list_all = client.list_all

    def list_then_lose_history(*args: Any, **kwargs: Any) -> Any:
        result = real_list_all(*args, **kwargs)
        if not listed.is_set():
            listed.set()
            # A server restarted after this list only has etcd to resume the watch from, and etcd has
            # compacted the list's revision.
            private_apiserver.stop()
            other.create(CONFIGMAPS, {"metadata": {"name": "missed"}}, ns)
            other.create(CONFIGMAPS, {"metadata": {"name": "also-missed"}}, ns)
            compact(etcd.url)  # at the last write: the first one after the list is history now
            private_apiserver.start()
        return result

    client.list_all = list_then_lose_history  # type: ignore[method-assign]
    informer = Informer(client, CONFIGMAPS, ns)
    caplog.set_level(logging.INFO, logger="kubeling.client.informer")
    informer.start()
    try:
        wait_until(lambda: names(informer) == {"first", "missed", "also-missed"}, 30, "the informer to relist")
        assert "watch expired; relisting" in caplog.text
    finally:
        informer.stop()


def test_informer_resyncs_its_cache_to_the_handlers(apiserver: APIServer) -> None:
    client = Client(ClientConfig(server=apiserver.url))
    ns = make_namespace(client)
    client.create(CONFIGMAPS, {"metadata": {"name": "steady"}}, ns)
    informer = Informer(client, CONFIGMAPS, ns, resync_period=0.3)
    recorder = Recorder(informer)
    informer.start()
    try:
        assert informer.wait_for_sync(10)
        # Nothing changes, yet the handlers hear about the object again and again (level-triggered controllers).
        wait_until(lambda: recorder.seen.count(("update", "steady")) >= 2, 10, "two resyncs")
        assert recorder.seen[0] == ("add", "steady")
    finally:
        informer.stop()


def test_work_queue_folds_duplicates_and_backs_off_failures() -> None:
    queue = WorkQueue(base_delay=0.05)
    for _ in range(3):
        queue.add("ns/a")
    queue.add("ns/b")
    assert len(queue) == 2
    assert queue.get(1) == "ns/a"
    queue.add("ns/a")  # changed again while being processed: comes back once, after done()
    queue.add("ns/a")
    assert queue.get(1) == "ns/b"
    queue.done("ns/b")
    assert queue.get(0.2) is None  # ns/a is still being processed
    queue.done("ns/a")
    assert queue.get(1) == "ns/a"
    queue.done("ns/a")

    # Each failure doubles the wait before the key comes back; forget() starts over.
    waits = []
    for _ in range(3):
        started = time.monotonic()
        queue.add_rate_limited("ns/c")
        assert queue.get(5) == "ns/c"
        waits.append(time.monotonic() - started)
        queue.done("ns/c")
    assert queue.failures("ns/c") == 3
    assert waits[0] >= 0.05 and waits[1] >= 0.1 and waits[2] >= 0.2, waits
    queue.forget("ns/c")
    assert queue.failures("ns/c") == 0
    queue.shutdown()
    assert queue.get(1) is None


def test_event_recorder_folds_repeats_into_a_count(apiserver: APIServer) -> None:
    client = Client(ClientConfig(server=apiserver.url))
    ns = make_namespace(client)
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": ns, "uid": str(uuid.uuid4())}}
    recorder = EventRecorder(client, "test-component")
    for _ in range(3):
        recorder.event(pod, "Warning", "BackOff", "Back-off restarting failed container")
    recorder.event(pod, "Normal", "Pulled", "Container image already present")
    recorder.flush()

    def events() -> list[dict]:
        return client.list(EVENTS, ns)["items"]

    wait_until(lambda: sorted(e.get("count") for e in events()) == [1, 3], 10, "the events to be recorded")
    backoff = next(e for e in events() if e["reason"] == "BackOff")
    assert backoff["involvedObject"]["name"] == "p" and backoff["type"] == "Warning"
    assert backoff["source"]["component"] == "test-component"
