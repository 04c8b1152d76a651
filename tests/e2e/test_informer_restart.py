"""Informers across an API server restart: 20 informers watch ConfigMaps while the fault battery's write load
(tests/support/faultload.py) writes; the API server is stopped and started again. Each informer resumes its watch
from the last resourceVersion it saw (no relist) and misses no change: its revisions are checked against etcd's own
history (`etcdctl watch --rev`). Nor is any acknowledged write lost. The fault battery does the same with every API
server of the HA cluster (tests/ha/test_faults.py)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from typing import Any

import requests

from cluster import APIServer, Etcd
from kubeling.api.resources import must_lookup
from kubeling.client.api import Client
from kubeling.client.config import ClientConfig
from kubeling.client.informer import Informer
from support.faultload import WriteLoad, lost_writes
from support.polling import wait_until

CONFIGMAPS = must_lookup("", "configmaps")
INFORMERS = 20


class CountingClient(Client):
    """A client that counts its lists (an informer's relists)."""

    lists = 0

    def list_all(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.lists += 1
        return super().list_all(*args, **kwargs)


def etcd_revisions(etcd: Etcd, prefix: str, after: int, until: int) -> set[int]:
    """The revisions of every change under `prefix` in (after, until], from etcd's history."""
    result = subprocess.run(["timeout", "5", "etcdctl", f"--endpoints={etcd.url}", "watch", "--prefix",
                             f"--rev={after + 1}", "-w", "json", prefix], capture_output=True, text=True, timeout=60,
                            env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
    decoder, text, found, position = json.JSONDecoder(), result.stdout, set(), 0
    while (start := text.find("{", position)) >= 0:
        response, position = decoder.raw_decode(text, start)
        found |= {int(e["kv"]["mod_revision"]) for e in response.get("Events") or []
                  if int(e["kv"]["mod_revision"]) <= until}
    return found


def test_informers_resume_their_watch_across_an_api_server_restart_without_relisting(
        etcd: Etcd, private_apiserver: APIServer) -> None:
    server = private_apiserver
    namespace = f"restart-{uuid.uuid4().hex[:6]}"
    requests.post(f"{server.url}/api/v1/namespaces", json={"metadata": {"name": namespace}},
                  timeout=10).raise_for_status()
    url = f"{server.url}/api/v1/namespaces/{namespace}/configmaps"
    informers, seen = [], []
    for _ in range(INFORMERS):
        revisions: set[int] = set()
        informer = Informer(CountingClient(ClientConfig(server.url), retries=0), CONFIGMAPS, namespace)

        def note(obj: dict[str, Any], into: set[int] = revisions) -> None:
            into.add(int(obj["metadata"]["resourceVersion"]))

        def note_new(old: dict[str, Any], new: dict[str, Any], into: set[int] = revisions) -> None:
            into.add(int(new["metadata"]["resourceVersion"]))

        informer.add_handler(note, note_new, note)
        informers.append(informer.start())
        seen.append(revisions)
    load = WriteLoad(Client(ClientConfig(server.url), retries=0, timeout=5), namespace, writers=4)
    try:
        assert all(i.wait_for_sync(60) for i in informers)
        since = int(requests.get(url, timeout=10).json()["metadata"]["resourceVersion"])
        load.start()
        time.sleep(2)
        server.stop()
        time.sleep(2)  # writes fail meanwhile; informers back off and try again
        server.start()
        time.sleep(3)
        load.pause()
        until = int(requests.get(url, timeout=10).json()["metadata"]["resourceVersion"])
        expected = etcd_revisions(etcd, f"{server.prefix}/configmaps/{namespace}/", since, until)
        assert len(expected) > 10, expected
        wait_until(lambda: all(expected <= s for s in seen), 60, "every informer to see every revision etcd has")
        assert [i.client.lists for i in informers] == [1] * INFORMERS  # type: ignore[attr-defined]
        assert lost_writes(load.ledger, load.stored()) == []  # the fault battery's ledger, across the restart
        assert load.failure_count > 0  # some writes did meet the stopped server
    finally:
        load.stop()
        for informer in informers:
            informer.stop()
