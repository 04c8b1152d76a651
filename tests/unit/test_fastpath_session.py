"""kubeling.fastpath.transport.Session prepares the same requests as a plain `requests.Session`."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from kubeling.fastpath import transport


class Recorder(BaseAdapter):
    """Answers 200 to everything and remembers what it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response.request = request
        return response

    def close(self) -> None:
        pass


def sent_by(session: requests.Session, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    recorder = Recorder()
    session.mount("http://", recorder)
    session.trust_env = False
    session.headers["User-Agent"] = "kubeling/test"
    session.request(*args, **kwargs)
    prepared = recorder.sent[0]
    return prepared.method, prepared.url, dict(prepared.headers), prepared.body


@pytest.mark.parametrize("args, kwargs", [
    (("GET", "http://127.0.0.1:8080/api/v1/pods"), {}),
    (("get", "http://127.0.0.1:8080/api/v1/namespaces/a/pods"),
     {"params": {"labelSelector": "tier in (web,db)", "limit": 5, "continue": None}}),
    (("POST", "http://127.0.0.1:8080/api/v1/namespaces"),
     {"data": b'{"metadata":{"name":"a"}}', "headers": {"Content-Type": "application/json"}}),
    (("PATCH", "http://127.0.0.1:8080/api/v1/nodes/n1/status"),
     {"data": b"{}", "headers": {"Content-Type": "application/merge-patch+json"}, "params": {"fieldManager": "x"}}),
    (("DELETE", "http://127.0.0.1:8080/api/v1/namespaces/a"), {"data": b'{"kind":"DeleteOptions"}'}),
    (("GET", "http://127.0.0.1:8080/api/v1/pods?watch=true"), {"params": {"resourceVersion": "12"}}),
    (("POST", "http://127.0.0.1:8080/api/v1/namespaces/a/pods/p/eviction"), {}),
])
def test_same_request_as_requests(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    assert sent_by(transport.Session(), *args, **kwargs) == sent_by(requests.Session(), *args, **kwargs)


def test_calls_it_does_not_simplify_go_through_requests() -> None:
    fast = sent_by(transport.Session(), "POST", "http://127.0.0.1:8080/x", json={"a": 1}, cookies={"c": "1"})
    plain = sent_by(requests.Session(), "POST", "http://127.0.0.1:8080/x", json={"a": 1}, cookies={"c": "1"})
    assert fast == plain
    assert fast[2]["Cookie"] == "c=1"
