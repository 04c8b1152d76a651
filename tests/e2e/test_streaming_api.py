"""The API server's side of `pods/exec`, `pods/attach` and `pods/portforward`: discovery, authorization, the checks
made before any upgrade, and the splice to a real kubelet over TLS.

One secured cluster for the module (TLS API server with Node,RBAC; the kubelet on real Docker serving TLS and
requiring the API server's client certificate). Users are client certificates from the cluster CA.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket
from kubelet_harness import container, pod
from test_kubelet_tls import Cluster, eventually

from support.pki import Pair
from support.streams import open_spdy

pytestmark = pytest.mark.e2e

KUBECTL = "/usr/bin/kubectl"
KUBECTL_120 = str(Path(__file__).resolve().parents[2] / ".cache/kubectl-1.20/usr/bin/kubectl")
TIMEOUT = 10
SPDY_HEADERS = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"}


@pytest.fixture(scope="module")
def plane(secure_plane: Cluster) -> Cluster:
    """The session's secured cluster (tests/e2e/conftest.py), shared with the kubectl stream tests."""
    return secure_plane


@pytest.fixture(scope="module")
def shell(plane: Cluster) -> tuple[str, str]:
    """A running pod with one container `c`, in its own namespace."""
    ns = plane.namespace()
    plane.create(ns, "pods", pod("shell", plane.node, [container("c", "exec sleep 3600")],
                                 terminationGracePeriodSeconds=0))
    plane.wait_running(ns, "shell")
    return ns, "shell"


def kubectl_as(plane: Cluster, user: Pair, *args: str, binary: str = KUBECTL, stdin: str | None = None,
               timeout: float = 30) -> subprocess.CompletedProcess[str]:
    cache = plane.workdir / f"kubectl-cache-{Path(binary).stat().st_size}"
    return subprocess.run([binary, f"--kubeconfig={plane.kubeconfig(user.cert.stem, user)}", f"--cache-dir={cache}",
                           *args], capture_output=True, text=True, timeout=timeout, input=stdin,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cache)})


def stream_request(plane: Cluster, method: str, path: str, user: Pair | None = None,
                   headers: dict[str, str] | None = None) -> requests.Response:
    user = user or plane.admin
    return requests.request(method, plane.url + path, headers=SPDY_HEADERS if headers is None else headers,
                            verify=str(plane.ca.cert), cert=(str(user.cert), str(user.key)), timeout=TIMEOUT)


def status_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    assert body["code"] == response.status_code
    return body


# -- discovery ---------------------------------------------------------------------------------------------------


def test_discovery_lists_the_stream_subresources(plane: Cluster) -> None:
    resources = {r["name"]: r for r in plane.get("/api/v1")["resources"]}
    for sub, kind in (("exec", "PodExecOptions"), ("attach", "PodAttachOptions"),
                      ("portforward", "PodPortForwardOptions")):
        assert resources[f"pods/{sub}"]["verbs"] == ["create", "get"]
        assert resources[f"pods/{sub}"]["kind"] == kind
        assert resources[f"pods/{sub}"]["namespaced"] is True


# -- the checks before any upgrade -------------------------------------------------------------------------------


def test_bad_input_gets_an_upstream_shaped_status(plane: Cluster, shell: tuple[str, str]) -> None:
    ns, name = shell
    missing = stream_request(plane, "POST", f"/api/v1/namespaces/{ns}/pods/nope/exec?command=true&stdout=true")
    assert missing.status_code == 404
    assert status_of(missing)["message"] == 'pods "nope" not found'

    wrong = stream_request(plane, "POST", f"/api/v1/namespaces/{ns}/pods/{name}/exec?container=x&command=true")
    assert wrong.status_code == 400
    assert status_of(wrong)["message"] == f"container x is not valid for pod {name}"

    # Not scheduled: no nodeName, and no scheduler runs in this cluster.
    plane.create(ns, "pods", {"metadata": {"name": "pending"}, "spec": {"containers": [container("c", "true")]}})
    for sub in ("exec", "attach", "portforward"):
        pending = stream_request(plane, "POST", f"/api/v1/namespaces/{ns}/pods/pending/{sub}?command=true")
        assert pending.status_code == 400
        assert status_of(pending)["message"] == "pod pending does not have a host assigned"

    # Bound to a node whose object does not exist.
    plane.create(ns, "pods", pod("orphan", f"gone-{uuid.uuid4().hex[:6]}", [container("c", "true")]))
    orphan = stream_request(plane, "POST", f"/api/v1/namespaces/{ns}/pods/orphan/exec?command=true")
    assert orphan.status_code == 404
    assert "not found" in status_of(orphan)["message"]

    # A node whose kubelet does not answer: the dial error, as a 500 InternalError.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    dead = f"dead-{uuid.uuid4().hex[:6]}"
    response = plane.call("POST", "/api/v1/nodes", {"metadata": {"name": dead}})
    assert response.status_code == 201, response.text
    node = plane.get(f"/api/v1/nodes/{dead}")
    node["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                      "daemonEndpoints": {"kubeletEndpoint": {"Port": dead_port}}}
    assert plane.call("PUT", f"/api/v1/nodes/{dead}/status", node).status_code == 200
    plane.create(ns, "pods", pod("stranded", dead, [container("c", "true")]))
    unreachable = stream_request(plane, "POST", f"/api/v1/namespaces/{ns}/pods/stranded/exec?command=true")
    assert unreachable.status_code == 500
    body = status_of(unreachable)
    assert body["reason"] == "InternalError" and body["message"].startswith("error dialing backend")

    # Not an upgrade at all.
    plain = stream_request(plane, "POST", f"/api/v1/namespaces/{ns}/pods/{name}/exec?command=true", headers={})
    assert plain.status_code == 400 and status_of(plain)["message"] == "Upgrade request required"


def test_a_protocol_the_kubelet_does_not_speak_is_refused_cleanly(plane: Cluster, shell: tuple[str, str]) -> None:
    """kubectl falls back from WebSocket to SPDY only on a clean refusal: an HTTP answer, not a dropped line."""
    ns, name = shell
    refused = stream_request(plane, "GET", f"/api/v1/namespaces/{ns}/pods/{name}/exec?command=true&stdout=true",
                             headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                      "Sec-WebSocket-Protocol": "v99.channel.example"})
    assert 400 <= refused.status_code < 500, refused.text


# -- RBAC: `create` on the subresource, whatever the method -------------------------------------------------------


def _user_with_role(plane: Cluster, ns: str, user: str, rules: list[dict[str, Any]]) -> Pair:
    cert = plane.ca.issue(user)
    assert plane.call("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
                      {"metadata": {"name": user}, "rules": rules}).status_code == 201
    assert plane.call("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }).status_code == 201
    return cert


def test_rbac_needs_create_on_each_stream_subresource(plane: Cluster, shell: tuple[str, str]) -> None:
    ns, name = shell
    reader = _user_with_role(plane, ns, f"reader-{uuid.uuid4().hex[:6]}",
                             [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
                              # `get` on the stream subresources is not enough: they are created.
                              {"apiGroups": [""], "resources": ["pods/exec", "pods/portforward", "pods/attach"],
                               "verbs": ["get"]}])
    for sub in ("exec", "attach", "portforward"):
        for method in ("GET", "POST"):
            denied = stream_request(plane, method, f"/api/v1/namespaces/{ns}/pods/{name}/{sub}?command=true",
                                    user=reader)
            assert denied.status_code == 403, (sub, method, denied.text)
            body = status_of(denied)
            assert body["reason"] == "Forbidden"
            assert f'cannot create resource "pods/{sub}"' in body["message"]
    result = kubectl_as(plane, reader, "exec", "-n", ns, name, "--", "true")
    assert result.returncode != 0 and "forbidden" in result.stderr.lower(), result.stderr
    result = kubectl_as(plane, reader, "port-forward", "-n", ns, f"pod/{name}", ":80", timeout=20)
    assert result.returncode != 0 and "forbidden" in result.stderr.lower(), result.stderr

    operator = _user_with_role(plane, ns, f"operator-{uuid.uuid4().hex[:6]}",
                               [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                                {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}])
    result = kubectl_as(plane, operator, "exec", "-n", ns, name, "--", "echo", "allowed")
    assert result.returncode == 0 and result.stdout == "allowed\n", result.stderr
    assert _upgrade_status(plane, operator, f"/api/v1/namespaces/{ns}/pods/{name}/portforward") == 403

    forwarder = _user_with_role(plane, ns, f"forwarder-{uuid.uuid4().hex[:6]}",
                                [{"apiGroups": [""], "resources": ["pods/portforward", "pods/attach"],
                                  "verbs": ["create"]}])
    for sub in ("portforward", "attach"):
        assert _upgrade_status(plane, forwarder, f"/api/v1/namespaces/{ns}/pods/{name}/{sub}?stdout=true") == 101
    assert _upgrade_status(plane, forwarder, f"/api/v1/namespaces/{ns}/pods/{name}/exec?command=true") == 403


def _upgrade_status(plane: Cluster, user: Pair, path: str) -> int:
    """The status of a SPDY upgrade of `path` asked as `user` (the connection is closed right after the head)."""
    context = ssl.create_default_context(cafile=str(plane.ca.cert))
    context.load_cert_chain(str(user.cert), str(user.key))
    protocol = "portforward.k8s.io" if "/portforward" in path else "v4.channel.k8s.io"
    with context.wrap_socket(socket.create_connection(("127.0.0.1", plane.secure_port), timeout=TIMEOUT),
                             server_hostname="127.0.0.1") as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                      f"X-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


# -- the splice --------------------------------------------------------------------------------------------------


def _spdy_exec(plane: Cluster, ns: str, name: str, command: list[str], stdin: bytes) -> tuple[bytes, bytes, dict]:
    """exec over SPDY with our own client session: stdin in, stdout and stderr back, and the error stream's Status."""
    query = urllib.parse.urlencode([*(("command", c) for c in command), ("stdin", "true"), ("stdout", "true"),
                                    ("stderr", "true")])
    conn, head = open_spdy(plane, f"/api/v1/namespaces/{ns}/pods/{name}/exec?{query}",
                           ["v4.channel.k8s.io", "channel.k8s.io"])
    assert b"x-stream-protocol-version: v4.channel.k8s.io" in head.lower()
    try:
        streams = {kind: conn.open_stream({"streamType": kind}) for kind in ("error", "stdin", "stdout", "stderr")}
        streams["error"].close()
        for stream in streams.values():
            assert stream.wait_reply(TIMEOUT)
        streams["stdin"].write(stdin)
        streams["stdin"].close()
        out, err, error = (b"".join(iter(lambda s=streams[k]: s.read(timeout=TIMEOUT), b""))
                           for k in ("stdout", "stderr", "error"))
    finally:
        conn.close()
    return out, err, json.loads(error) if error else {}


def test_spdy_exec_through_the_api_server(plane: Cluster, shell: tuple[str, str]) -> None:
    ns, name = shell
    payload = os.urandom(300 * 1024)  # crosses SPDY windows and TLS records both ways
    out, err, status = _spdy_exec(plane, ns, name, ["sh", "-c", "cat; echo done >&2; exit 7"], payload)
    assert out == payload
    assert err == b"done\n"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    out, err, status = _spdy_exec(plane, ns, name, ["echo", "fine"], b"")
    assert (out, err) == (b"fine\n", b"") and status.get("status") == "Success"


@pytest.mark.parametrize("binary", [KUBECTL, KUBECTL_120], ids=["kubectl-1.32", "kubectl-1.20"])
def test_kubectl_exec_through_the_api_server(plane: Cluster, shell: tuple[str, str], binary: str) -> None:
    if not Path(binary).exists():
        pytest.skip(f"{binary} is not installed")
    ns, name = shell
    result = kubectl_as(plane, plane.admin, "exec", "-i", "-n", ns, name, "--", "sh", "-c",
                        "read line; echo got $line; echo oops >&2; exit 3", binary=binary, stdin="hello\n")
    assert (result.returncode, result.stdout) == (3, "got hello\n"), result.stderr
    assert "oops" in result.stderr


def test_streams_leave_no_connection_or_thread_behind(plane: Cluster, shell: tuple[str, str]) -> None:
    ns, name = shell
    pid = plane.server.proc.pid

    def counts() -> tuple[int, int, int]:
        """The API server's connections to the kubelet, its clients' connections, and its threads."""
        lines = subprocess.run(["ss", "-tanpH", "state", "established"], capture_output=True, text=True,
                               check=True).stdout.splitlines()
        mine = [line.split() for line in lines if f"pid={pid}," in line]
        to_kubelet = sum(1 for cols in mine if cols[3].endswith(f":{plane.kubelet.port}"))
        from_clients = sum(1 for cols in mine if cols[2].endswith(f":{plane.secure_port}"))
        threads = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                           if line.startswith("Threads:")))
        return to_kubelet, from_clients, threads

    # Other modules on the shared cluster may keep pooled connections to the kubelet (pods/log): count from here.
    kubelet_before, clients_before, threads_before = counts()
    for _ in range(3):
        assert kubectl_as(plane, plane.admin, "exec", "-n", ns, name, "--", "true").returncode == 0
        _spdy_exec(plane, ns, name, ["true"], b"")
    # A client that goes away mid-stream.
    proc = subprocess.Popen([KUBECTL, f"--kubeconfig={plane.kubeconfig('admin', plane.admin)}", "exec", "-n", ns,
                             name, "--", "sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    eventually(lambda: counts()[0] > kubelet_before, "the stream to reach the kubelet")
    proc.kill()
    proc.wait(10)
    # Seven streams; a thread or connection left per stream would show. (Two threads of slack: the server may start
    # one for other reasons meanwhile.)
    eventually(lambda: (c := counts())[0] <= kubelet_before and c[1] <= clients_before and c[2] <= threads_before + 2,
               "the API server's streams and threads to end", timeout=20)


def test_websocket_exec_through_the_api_server(plane: Cluster, shell: tuple[str, str]) -> None:
    """A WebSocket upgrade (GET) reaches the kubelet: v4 channels, as the Python client speaks them."""
    ns, name = shell
    query = urllib.parse.urlencode([("command", "sh"), ("command", "-c"), ("command", "echo out; echo err >&2"),
                                    ("stdout", "true"), ("stderr", "true")])
    ws = websocket.create_connection(
        f"wss://127.0.0.1:{plane.secure_port}/api/v1/namespaces/{ns}/pods/{name}/exec?{query}",
        subprotocols=["v4.channel.k8s.io"], timeout=TIMEOUT,
        sslopt={"ca_certs": str(plane.ca.cert), "certfile": str(plane.admin.cert), "keyfile": str(plane.admin.key)})
    assert ws.getsubprotocol() == "v4.channel.k8s.io"
    channels: dict[int, bytes] = {}
    try:
        while True:
            opcode, data = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            if data:
                channels[data[0]] = channels.get(data[0], b"") + data[1:]
    except websocket.WebSocketConnectionClosedException:
        pass
    finally:
        ws.close()
    assert channels.get(1) == b"out\n" and channels.get(2) == b"err\n"
    assert json.loads(channels[3])["status"] == "Success"  # the error channel's last word, before the close
