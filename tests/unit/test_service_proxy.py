"""`services/proxy` and `pods/proxy` (apiserver/proxy.py): which endpoint a request goes to, what reaches it and what
comes back, and what is refused. The API server is the in-memory one; the backend is a real HTTP server on loopback.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeling.api.rbac import request_attributes
from kubeling.dashboard import cli as dashboard
from support.memoryapi import MemoryAPI
from support.pki import CA

PROXY = "/api/v1/namespaces/kube-system/services/http:dash:http/proxy"


class Backend(http.server.BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers),
                           "body": self.rfile.read(length).decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Backend", "yes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def backend() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def api(backend: int) -> Iterator[MemoryAPI]:
    api = MemoryAPI()
    api.post("/api/v1/nodes", {"metadata": {"name": "master-1"}})
    api.patch("/api/v1/nodes/master-1/status",
              {"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}})
    api.post("/api/v1/namespaces/kube-system/services", {
        "metadata": {"name": "dash"}, "spec": {"ports": [{"name": "http", "port": 80, "targetPort": backend}]}})
    yield api
    api.close()


def endpoints(api: MemoryAPI, port: int, target_ref: dict[str, str] | None) -> None:
    address: dict[str, Any] = {"ip": "127.0.0.1"}
    if target_ref is not None:
        address["targetRef"] = target_ref
    response = api.post("/api/v1/namespaces/kube-system/endpoints", {
        "metadata": {"name": "dash"}, "subsets": [{"addresses": [address], "ports": [{"name": "http", "port": port}]}]})
    assert response.status_code == 201, response.get_data(as_text=True)


NODE_REF = {"kind": "Node", "name": "master-1"}


def test_a_request_reaches_the_endpoint_with_its_path_query_and_body_but_not_the_credential(api: MemoryAPI,
                                                                                            backend: int) -> None:
    endpoints(api, backend, NODE_REF)
    response = api.client.get(PROXY + "/static/app.js?x=1&y=2", headers={"Authorization": "Bearer secret",
                                                                          "Accept": "text/javascript"})
    assert response.status_code == 200
    assert response.headers["X-Backend"] == "yes"
    seen = response.get_json()
    assert seen["method"] == "GET" and seen["path"] == "/static/app.js?x=1&y=2"
    assert "Authorization" not in seen["headers"] and seen["headers"]["Accept"] == "text/javascript"
    posted = api.client.post(PROXY + "/form", data=b"a=1", content_type="application/x-www-form-urlencoded").get_json()
    assert posted["method"] == "POST" and posted["body"] == "a=1"


def test_the_proxy_root_without_a_slash_redirects_to_it_with_one(api: MemoryAPI, backend: int) -> None:
    endpoints(api, backend, NODE_REF)
    response = api.client.get(PROXY)
    assert response.status_code == 301
    assert response.headers["Location"].endswith(PROXY + "/")
    assert api.client.get(PROXY + "/").get_json()["path"] == "/"


@pytest.mark.parametrize("name", ["dash", "dash:http", "http:dash:http", "dash:80", "http:dash:80"])
def test_the_port_is_named_or_numbered(api: MemoryAPI, backend: int, name: str) -> None:
    endpoints(api, backend, NODE_REF)
    response = api.client.get(f"/api/v1/namespaces/kube-system/services/{name}/proxy/x")
    if name == "dash":  # no port: the unnamed port, which this Service does not have
        assert response.status_code == 503
    else:
        assert response.status_code == 200 and response.get_json()["path"] == "/x"


def test_an_unknown_port_number_or_a_service_without_endpoints_is_unavailable(api: MemoryAPI, backend: int) -> None:
    response = api.client.get(PROXY + "/")
    assert response.status_code == 404  # no Endpoints object at all
    endpoints(api, backend, NODE_REF)
    response = api.client.get("/api/v1/namespaces/kube-system/services/dash:81/proxy/")
    assert response.status_code == 503
    assert "no service port 81" in response.get_json()["message"]


@pytest.mark.parametrize("target_ref", [None, {"kind": "Node", "name": "elsewhere"}, {"kind": "Pod", "name": "p"},
                                        {"kind": "Service", "name": "dash"}])
def test_an_address_that_is_not_what_its_target_ref_says_is_never_proxied_to(api: MemoryAPI, backend: int,
                                                                             target_ref: dict[str, str] | None) -> None:
    endpoints(api, backend, target_ref)
    response = api.client.get(PROXY + "/")
    assert response.status_code == 503
    assert response.get_json()["reason"] == "ServiceUnavailable"


def test_a_backend_that_does_not_answer_is_a_503(api: MemoryAPI) -> None:
    endpoints(api, 1, NODE_REF)  # nothing listens on port 1
    response = api.client.get(PROXY + "/")
    assert response.status_code == 503
    assert "error trying to reach service" in response.get_json()["message"]


def test_an_https_backend_is_reached_over_tls_without_verifying_it(api: MemoryAPI, tmp_path: Path) -> None:
    """The dashboard's own server (kubeling dashboard) with a certificate of a CA the API server does not know."""
    pair = CA.create(tmp_path / "ca", "elsewhere").issue("dash", server=True, client=False, sans=["127.0.0.1"])
    server = dashboard.make_server("127.0.0.1", 0, str(pair.cert), str(pair.key))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoints(api, server.server_address[1], NODE_REF)
        page = api.client.get("/api/v1/namespaces/kube-system/services/https:dash:http/proxy/")
        assert page.status_code == 200 and b"kubeling live view" in page.get_data()
        assert page.headers["Content-Type"].startswith("text/html")
        assert api.client.get("/api/v1/namespaces/kube-system/services/https:dash:http/proxy/app.js").status_code == 200
        assert api.client.get("/api/v1/namespaces/kube-system/services/https:dash:http/proxy/../cli.py").status_code \
            == 404
        # Plain HTTP to a TLS port: the backend does not answer it.
        assert api.client.get("/api/v1/namespaces/kube-system/services/http:dash:http/proxy/").status_code == 503
    finally:
        server.shutdown()
        server.server_close()


def test_pods_proxy_refuses_a_loopback_pod_address(api: MemoryAPI) -> None:
    api.post("/api/v1/namespaces/default/pods", {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "x", "ports": [{"containerPort": 8080}]}]}})
    assert api.client.get("/api/v1/namespaces/default/pods/p/proxy/").status_code == 400  # no IP yet
    api.patch("/api/v1/namespaces/default/pods/p/status", {"status": {"podIP": "127.0.0.1",
                                                                      "podIPs": [{"ip": "127.0.0.1"}]}})
    response = api.client.get("/api/v1/namespaces/default/pods/p/proxy/")
    assert response.status_code == 400 and "address not allowed" in response.get_json()["message"]


@pytest.mark.parametrize(("method", "verb"), [("GET", "get"), ("POST", "create"), ("PUT", "update"),
                                              ("PATCH", "patch"), ("DELETE", "delete")])
def test_authorization_sees_the_method_as_a_verb_on_the_proxy_subresource(method: str, verb: str) -> None:
    attrs = request_attributes(method, PROXY + "/api/v1/pods", "watch=1")
    assert (attrs.verb, attrs.resource, attrs.subresource, attrs.name, attrs.namespace) == (
        verb, "services", "proxy", "http:dash:http", "kube-system")


def test_discovery_lists_the_proxy_subresources() -> None:
    api = MemoryAPI()
    try:
        resources = {r["name"]: r for r in api.get("/api/v1").get_json()["resources"]}
    finally:
        api.close()
    assert resources["services/proxy"]["kind"] == "ServiceProxyOptions"
    assert resources["pods/proxy"]["kind"] == "PodProxyOptions"
    assert set(resources["pods/proxy"]["verbs"]) == {"create", "delete", "get", "patch", "update"}
