"""Watches over WebSocket (issue 20): the same events as an HTTP watch, one JSON event per text message; a bad
watch is a plain Status before any upgrade; the client's close ends the watch. Driven with
websocket-client (the official Python client's WebSocket library) against the session's real API server.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests
import websocket

TIMEOUT = 10


@pytest.fixture
def ns(apiserver) -> str:
    name = f"ws-{uuid.uuid4().hex[:8]}"
    requests.post(f"{apiserver.url}/api/v1/namespaces", json={"metadata": {"name": name}},
                  timeout=TIMEOUT).raise_for_status()
    return name


def ws_url(apiserver, path: str) -> str:
    return apiserver.url.replace("http://", "ws://") + path


def test_a_watch_over_websocket_sends_each_event_as_a_text_message(apiserver, ns: str) -> None:
    listing = requests.get(f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps", timeout=TIMEOUT).json()
    rv = listing["metadata"]["resourceVersion"]
    ws = websocket.create_connection(ws_url(apiserver, f"/api/v1/namespaces/{ns}/configmaps?watch=1&"
                                                       f"resourceVersion={rv}"), timeout=TIMEOUT)
    try:
        for name in ("one", "two"):
            requests.post(f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps",
                          json={"metadata": {"name": name}, "data": {"k": name}}, timeout=TIMEOUT).raise_for_status()
        requests.delete(f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps/one", timeout=TIMEOUT)
        seen = []
        while len(seen) < 3:
            opcode, data = ws.recv_data()
            assert opcode == websocket.ABNF.OPCODE_TEXT
            event = json.loads(data)
            seen.append((event["type"], event["object"]["metadata"]["name"]))
        assert seen == [("ADDED", "one"), ("ADDED", "two"), ("DELETED", "one")]
    finally:
        ws.close()


def test_a_named_group_watch_and_the_clients_close(apiserver, ns: str) -> None:
    ws = websocket.create_connection(ws_url(apiserver, f"/apis/apps/v1/namespaces/{ns}/deployments?watch=true"),
                                     timeout=TIMEOUT, subprotocols=["base64.binary.k8s.io"])
    try:
        assert ws.getsubprotocol() == "base64.binary.k8s.io"
        ws.ping()
        ws.close()  # answered by the server's close frame: websocket-client waits for it
        assert not ws.connected
    finally:
        ws.shutdown()
    # The server is fine and serves the next watch.
    again = websocket.create_connection(ws_url(apiserver, f"/api/v1/namespaces/{ns}/configmaps?watch=1"),
                                        timeout=TIMEOUT)
    again.close()


def test_a_bad_watch_is_a_plain_status_before_the_upgrade(apiserver, ns: str) -> None:
    """The watch is opened before upgrading, so its errors (a malformed or too old resourceVersion) come back as
    plain HTTP answers the client can read."""
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url(apiserver, f"/api/v1/namespaces/{ns}/configmaps?watch=1&"
                                                      "resourceVersion=not-a-number"), timeout=TIMEOUT)
    assert refused.value.status_code == 400
