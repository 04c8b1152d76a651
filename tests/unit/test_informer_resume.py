"""The informer's list/watch loop on a scripted client (upstream: client-go tools/cache/reflector_test.go): a broken
watch connection resumes from the last resourceVersion seen, without a relist; a 410 relists."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import requests

from kubeling.api.resources import must_lookup
from kubeling.client import errors
from kubeling.client.informer import Informer

CONFIGMAPS = must_lookup("", "configmaps")


def configmap(name: str, rv: int) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)}}


class ScriptedClient:
    """Lists return resourceVersion 10; each watch plays the next script step: events, then an ending (None: the
    server closes the stream normally; an exception: the watch fails with it)."""

    def __init__(self, steps: list[tuple[list[tuple[str, dict]], Exception | None]]) -> None:
        self.steps = steps
        self.lists = 0
        self.watched_from: list[str] = []
        self.done = threading.Event()

    def list_all(self, rtype: Any, namespace: Any = None, **options: Any) -> dict:
        self.lists += 1
        return {"metadata": {"resourceVersion": "10"}, "items": [configmap("a", 10)]}

    def watch(self, rtype: Any, namespace: Any = None, *, resource_version: str | None = None,
              **options: Any) -> Iterator[tuple[str, dict]]:
        self.watched_from.append(resource_version or "")
        if not self.steps:
            self.done.set()
            threading.Event().wait(5)
            return
        events, ending = self.steps.pop(0)
        yield from events
        if ending is not None:
            raise ending


def run_informer(client: ScriptedClient) -> Informer:
    informer = Informer(client, CONFIGMAPS)  # type: ignore[arg-type]
    informer.start()
    assert client.done.wait(10), "the script did not run to its end"
    informer.stop()
    return informer


def test_a_broken_connection_resumes_the_watch_from_the_last_resource_version_without_relisting() -> None:
    client = ScriptedClient([
        ([("MODIFIED", configmap("a", 11)), ("ADDED", configmap("b", 12))],
         requests.exceptions.ChunkedEncodingError("the API server went away")),
        ([], errors.Unavailable(0, "ConnectionError", "connection refused")),
        ([("ADDED", configmap("c", 13))], None),
    ])
    informer = run_informer(client)
    assert client.lists == 1
    assert client.watched_from == ["10", "12", "12", "13"]
    assert sorted(informer.store.list_keys()) == ["default/a", "default/b", "default/c"]


def test_an_expired_watch_relists() -> None:
    client = ScriptedClient([([], errors.Expired(410, "Expired", "too old resource version"))])
    run_informer(client)
    assert client.lists == 2
    assert client.watched_from == ["10", "10"]
