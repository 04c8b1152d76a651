"""A watch whose connection went silent is broken off, and an informer watches again from where it was.

This is what a moved virtual address leaves a client with (issue 17): its end of the connection to the master that
held the address stays open, and nothing ever arrives on it again. The "API server" here is a few lines on a local
socket that answers a list, then each watch with one event and then silence (a real API server bookmarks every
10 s, so it is never silent that long).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from kubeling.api.resources import must_lookup
from kubeling.client import api
from kubeling.client.api import Client
from kubeling.client.config import ClientConfig
from kubeling.client.informer import Informer

CONFIGMAPS = must_lookup("", "configmaps")


def configmap(name: str, version: int) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(version), "uid": name}}


class SilentServer:
    """Answers lists with resourceVersion 4 and no items; the n-th watch gets one ADDED event of `cm-n` at
    resourceVersion 4+n, then nothing, its connection held open until `close()`. Records every request's query."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[dict[str, list[str]]] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()

    def watches(self) -> list[dict[str, list[str]]]:
        return [q for q in self.requests if q.get("watch") == ["true"]]

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            while not self.closed.is_set():
                line = reader.readline()
                if not line:
                    return
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # the headers: no request here has a body
                query = parse_qs(urlsplit(line.split()[1].decode()).query)
                self.requests.append(query)
                if query.get("watch") != ["true"]:
                    body = json.dumps({"kind": "ConfigMapList", "apiVersion": "v1", "items": [],
                                       "metadata": {"resourceVersion": "4"}}).encode()
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                    continue
                n = len(self.watches())
                event = json.dumps({"type": "ADDED", "object": configmap(f"cm-{n}", 4 + n)}).encode() + b"\n"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(event), event))
                self.closed.wait(60)  # then silence, the connection open
                return


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SilentServer]:
    monkeypatch.setattr(api, "WATCH_IDLE_TIMEOUT", 1.0)
    server = SilentServer()
    yield server
    server.close()


def test_a_silent_watch_stream_is_broken_off(server: SilentServer) -> None:
    client = Client(ClientConfig(server=server.url), retries=0)
    seen: list[str] = []
    began = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        for _kind, obj in client.watch(CONFIGMAPS, "ns", resource_version="4"):
            seen.append(obj["metadata"]["name"])
    assert seen == ["cm-1"]
    assert time.monotonic() - began < 30  # broken off, not waiting for the (never coming) end of the stream


def test_an_informer_watches_again_from_its_last_version_after_a_silent_stream(server: SilentServer) -> None:
    names: list[str] = []
    informer = Informer(Client(ClientConfig(server=server.url), retries=0), CONFIGMAPS, "ns")
    informer.add_handler(lambda obj: names.append(obj["metadata"]["name"]), None, None)
    informer.start()
    try:
        deadline = time.monotonic() + 30
        while len(names) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        informer.stop()
    assert names[:2] == ["cm-1", "cm-2"]
    watches = server.watches()
    assert [w["resourceVersion"] for w in watches[:2]] == [["4"], ["5"]]  # resumed, from the last event seen
    assert len(server.requests) - len(watches) == 1  # one list: no relist
