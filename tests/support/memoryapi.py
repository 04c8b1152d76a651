"""The API server's Flask application on an in-memory etcd, driven through Flask's test client.

For tests of API semantics (status codes, Status bodies, objects, watch streams) that need no etcd process and no
socket: a request costs well under a millisecond. What only a real etcd or a real server shows stays in tests/e2e.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from kubeling.apiserver.app import create_app
from kubeling.storage.memory import MemoryEtcd
from kubeling.storage.store import Store

JSON = "application/json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


class MemoryAPI:
    """One API server application on its own in-memory etcd."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.etcd = MemoryEtcd()
        self.store = Store(self.etcd)
        self.app: Flask = create_app(self.store, config)
        self.client: FlaskClient = self.app.test_client()

    def close(self) -> None:
        self.app.extensions["kubeling.watcher"].stop()

    # Requests

    def get(self, path: str, **query: Any) -> TestResponse:
        return self.client.get(path, query_string=query)

    def post(self, path: str, body: Any, **query: Any) -> TestResponse:
        return self.client.post(path, json=body, query_string=query)

    def put(self, path: str, body: Any, **query: Any) -> TestResponse:
        return self.client.put(path, json=body, query_string=query)

    def patch(self, path: str, body: Any, content_type: str = MERGE, **query: Any) -> TestResponse:
        data = body if isinstance(body, str) else json.dumps(body)
        return self.client.patch(path, data=data, content_type=content_type, query_string=query)

    def delete(self, path: str, body: Any = None, **query: Any) -> TestResponse:
        if body is None:
            return self.client.delete(path, query_string=query)
        return self.client.delete(path, json=body, query_string=query)

    def create(self, path: str, body: Any) -> dict[str, Any]:
        """POST that must succeed; the created object."""
        response = self.post(path, body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    # Watch

    def settle(self, resource: str, revision: int, timeout: float = 5.0) -> None:
        """Wait until the server's watch hub of `resource` (a plural) has seen the write at `revision`: the hubs
        follow etcd in a thread of their own."""
        hub = self.app.extensions["kubeling.watcher"].hubs[resource]
        deadline = time.monotonic() + timeout
        while hub.last_revision < revision:
            assert time.monotonic() < deadline, f"the {resource} watch hub did not reach revision {revision}"
            time.sleep(0.005)

    def watch(self, path: str, count: int, timeout: float = 5.0, **query: Any) -> list[dict[str, Any]]:
        """The first `count` events of a watch on `path` (fewer if the server ends it or `timeout` passes)."""
        query = {"watch": "true", "timeoutSeconds": max(1, int(timeout)), **query}
        response = self.client.get(path, query_string=query)
        if response.status_code != 200:
            return [{"status": response.status_code, "body": response.get_json()}]
        try:
            return list(_first(_events(response), count, time.monotonic() + timeout))
        finally:
            response.close()


def _events(response: TestResponse) -> Iterator[dict[str, Any]]:
    pending = b""
    for chunk in response.response:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _first(events: Iterator[dict[str, Any]], count: int, deadline: float) -> Iterator[dict[str, Any]]:
    for number, event in enumerate(events, 1):
        yield event
        if number >= count or time.monotonic() > deadline:
            return
