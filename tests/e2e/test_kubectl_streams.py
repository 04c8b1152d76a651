"""Into the pods, as a user does it: `kubectl exec`, `exec -it`, `cp`, `run -it --rm`, `attach` and `port-forward`
(kubectl 1.32 and 1.20), and the official Python client's `stream` and `portforward`, through a TLS API server to a
real kubelet on real Docker.

kubectl 1.32 speaks WebSocket (`v5.channel.k8s.io` for exec/attach, the SPDY tunnel for port-forward); kubectl 1.20
speaks SPDY/3.1; the Python client speaks WebSocket `v4.channel.k8s.io`. The cluster is the session's
`secure_plane`; pods live in this module's own namespace.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import hashlib
import json
import os
import pty
import re
import select
import socket
import struct
import subprocess
import termios
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubelet_harness import BUSYBOX, container, pod
from test_kubelet_tls import Cluster, eventually

from support.streams import open_spdy

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BINARIES = {"1.32": "/usr/bin/kubectl", "1.20": str(ROOT / ".cache/kubectl-1.20/usr/bin/kubectl")}
WEB = ("mkdir -p /www && echo hello-web > /www/index.html && "
       "dd if=/dev/urandom of=/www/big bs=1048576 count=10 2>/dev/null && "
       "httpd -p 8080 -h /www && httpd -p 127.0.0.1:8081 -h /www && exec sleep 3600")

Kubectl = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def ns(secure_plane: Cluster) -> str:
    """This module's namespace, with `web` (two containers, `web` the default; httpd on 8080 for everyone and on
    127.0.0.1:8081 for the pod alone; a 10 MiB file) behind a Service and a Deployment's selector."""
    plane = secure_plane
    ns = plane.namespace()
    web = pod("web", plane.node, [container("web", WEB, env=[{"name": "WHO", "value": "web"}]),
                                  container("side", "exec sleep 3600", env=[{"name": "WHO", "value": "side"}])],
              terminationGracePeriodSeconds=0)
    web["metadata"].update(labels={"app": "web"}, annotations={"kubectl.kubernetes.io/default-container": "web"})
    plane.create(ns, "pods", web)
    plane.create(ns, "services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                  "spec": {"selector": {"app": "web"},
                                           "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    response = plane.call("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": BUSYBOX}]}}}})
    assert response.status_code == 201, response.text
    plane.wait_running(ns, "web", timeout=60)
    eventually(lambda: plane.kubectl("exec", "-n", ns, "web", "--", "ls", "/www/big", check=False).strip()
               == "/www/big", "the web pod's files")
    return ns


@pytest.fixture(params=sorted(BINARIES))
def kubectl(request: pytest.FixtureRequest, secure_plane: Cluster, ns: str) -> Kubectl:
    """`kubectl(*args, input=..., timeout=...)` as the admin, with kubectl 1.32 and with 1.20."""
    binary = BINARIES[request.param]
    if not Path(binary).exists():
        pytest.fail(f"{binary} is missing: run `make deps`")
    argv = admin_argv(secure_plane, binary, request.param)

    def run(*args: str, input: str | bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*argv, "-n", ns, *args], capture_output=True, input=input, timeout=timeout,
                              text=not isinstance(input, bytes), env=kubectl_env(secure_plane, request.param))

    run.argv = [*argv, "-n", ns]  # type: ignore[attr-defined]
    run.env = kubectl_env(secure_plane, request.param)  # type: ignore[attr-defined]
    run.version = request.param  # type: ignore[attr-defined]
    return run


def admin_argv(plane: Cluster, binary: str, version: str) -> list[str]:
    return [binary, f"--kubeconfig={plane.kubeconfig('admin', plane.admin)}",
            f"--cache-dir={plane.workdir / f'kubectl-cache-{version}'}"]


def kubectl_env(plane: Cluster, version: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(plane.workdir / f"kubectl-home-{version}")}


def in_pod(plane: Cluster, ns: str, script: str) -> str:
    return plane.kubectl("exec", "-n", ns, "web", "-c", "web", "--", "sh", "-c", script)


# -- exec ----------------------------------------------------------------------------------------------------------


def test_exec_separates_stdout_and_stderr_and_returns_the_exit_code(kubectl: Kubectl) -> None:
    result = kubectl("exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3, result.stderr
    assert result.stdout == "out\n"
    assert "err\n" in result.stderr
    assert "command terminated with exit code 3" in result.stderr
    assert kubectl("exec", "web", "--", "true").returncode == 0


def test_exec_passes_stdin_to_the_command(kubectl: Kubectl) -> None:
    data = "".join(f"line {n}\n" for n in range(20000))
    result = kubectl("exec", "-i", "web", "--", "sh", "-c", "wc -c; echo end")
    assert result.returncode == 0  # no stdin asked: the command sees an empty one
    result = kubectl("exec", "-i", "web", "--", "sh", "-c", "wc -c; echo end", input=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(len(data)), "end"]


def test_exec_picks_the_default_container_and_honours_c(kubectl: Kubectl) -> None:
    assert kubectl("exec", "web", "--", "sh", "-c", "echo $WHO").stdout == "web\n"
    assert kubectl("exec", "web", "-c", "side", "--", "sh", "-c", "echo $WHO").stdout == "side\n"
    missing = kubectl("exec", "web", "-c", "nope", "--", "true")
    assert missing.returncode != 0
    assert "nope" in missing.stderr


def test_exec_with_a_terminal_sizes_it_and_returns_the_exit_code(kubectl: Kubectl) -> None:
    code, output = in_terminal([*kubectl.argv, "exec", "-it", "web", "--", "sh"], kubectl.env,  # type: ignore[attr-defined]
                               # kubectl sends the size as the session opens; give the resize a moment to land
                               "sleep 1; stty size; echo $((6*7)); exit 5\n", rows=33, cols=101)
    assert "33 101" in output, output
    assert "42" in output, output
    assert code == 5, output


# -- cp --------------------------------------------------------------------------------------------------------------


def test_cp_copies_a_file_both_ways_intact(kubectl: Kubectl, secure_plane: Cluster, ns: str,
                                           tmp_path: Path) -> None:
    payload = os.urandom(5 * 1024 * 1024)
    local = tmp_path / "up.bin"
    local.write_bytes(payload)
    remote = f"/tmp/up-{kubectl.version}.bin"  # type: ignore[attr-defined]
    result = kubectl("cp", str(local), f"{ns}/web:{remote}", "-c", "web")
    assert result.returncode == 0, result.stderr
    assert in_pod(secure_plane, ns, f"sha256sum {remote}").split()[0] == hashlib.sha256(payload).hexdigest()
    back = tmp_path / "back.bin"
    result = kubectl("cp", f"{ns}/web:{remote}", str(back), "-c", "web")
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(back.read_bytes()).hexdigest() == hashlib.sha256(payload).hexdigest()


# -- run -it and attach ------------------------------------------------------------------------------------------


def test_run_it_rm_gives_a_shell_and_removes_the_pod(kubectl: Kubectl, secure_plane: Cluster, ns: str) -> None:
    name = f"run-{uuid.uuid4().hex[:6]}"
    overrides = json.dumps({"apiVersion": "v1", "spec": {"nodeName": secure_plane.node,
                                                         "terminationGracePeriodSeconds": 0}})
    code, output = in_terminal(
        [*kubectl.argv, "run", name, f"--image={BUSYBOX}", "--restart=Never", "-it", "--rm",  # type: ignore[attr-defined]
         f"--overrides={overrides}", "--", "sh"], kubectl.env,  # type: ignore[attr-defined]
        "echo $((6*7)); exit\n", timeout=90)
    assert "42" in output, output
    assert code == 0, output
    assert f'pod "{name}" deleted' in output
    eventually(lambda: secure_plane.get(f"/api/v1/namespaces/{ns}/pods/{name}") is None, "the pod to go")


def test_attach_joins_the_container_stdio(kubectl: Kubectl, secure_plane: Cluster, ns: str) -> None:
    name = f"talker-{kubectl.version.replace('.', '')}"  # type: ignore[attr-defined]
    talker = pod(name, secure_plane.node, [container("talker", "read line; echo got:$line", stdin=True,
                                                     stdinOnce=True)], terminationGracePeriodSeconds=0,
                 restartPolicy="Never")
    secure_plane.create(ns, "pods", talker)
    secure_plane.wait_running(ns, name, timeout=60)
    result = kubectl("attach", "-i", name, input="hello\n")
    assert result.returncode == 0, result.stderr
    assert "got:hello" in result.stdout


# -- port-forward --------------------------------------------------------------------------------------------------


class PortForward:
    """A running `kubectl port-forward`, and the local ports it listens on, in the order asked."""

    def __init__(self, kubectl: Kubectl, target: str, remote_ports: list[int]) -> None:
        argv = [*kubectl.argv, "port-forward", target, *[f":{p}" for p in remote_ports]]  # type: ignore[attr-defined]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=kubectl.env)  # type: ignore[attr-defined]
        self.local: dict[int, int] = {}  # the port asked for → the local port kubectl listens on
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        while len(self.local) < len(remote_ports):
            assert time.monotonic() < deadline, "kubectl port-forward did not start listening"
            line = self.proc.stdout.readline()
            assert line, f"kubectl port-forward ended: {self.proc.stderr.read() if self.proc.stderr else ''}"
            # One line per port, in the order asked (a Service's port is printed as the pod port it maps to).
            match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
            if match:
                self.local[remote_ports[len(self.local)]] = int(match[1])

    def get(self, remote_port: int, path: str = "/index.html") -> bytes:
        url = f"http://127.0.0.1:{self.local[remote_port]}{path}"
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


@pytest.fixture
def forward(kubectl: Kubectl) -> Iterator[Callable[[str, list[int]], PortForward]]:
    started: list[PortForward] = []

    def start(target: str, ports: list[int]) -> PortForward:
        started.append(PortForward(kubectl, target, ports))
        return started[-1]

    yield start
    for forwarder in started:
        forwarder.stop()


def test_port_forward_to_a_pod_carries_many_connections_and_large_transfers(
        forward: Callable[[str, list[int]], PortForward], secure_plane: Cluster, ns: str) -> None:
    pf = forward("pod/web", [8080, 8081])
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: pf.get(8080), range(20)))
    assert answers == [b"hello-web\n"] * 20
    # A server bound to 127.0.0.1 inside the pod is reachable: the kubelet dials from the pod's network namespace.
    assert pf.get(8081) == b"hello-web\n"
    expected = in_pod(secure_plane, ns, "sha256sum /www/big").split()[0]
    assert hashlib.sha256(pf.get(8080, "/big")).hexdigest() == expected


def test_port_forward_reports_a_closed_port_on_its_connection_only(
        forward: Callable[[str, list[int]], PortForward], kubectl: Kubectl) -> None:
    pf = forward("pod/web", [8080, 9999])
    assert pf.get(8080) == b"hello-web\n"
    with socket.create_connection(("127.0.0.1", pf.local[9999]), timeout=30) as conn:
        conn.settimeout(30)
        try:
            data = conn.recv(100)
        except ConnectionResetError:
            data = b""
    assert data == b""  # closed by the forwarder: nothing listens on 9999 in the pod
    if kubectl.version == "1.20":  # type: ignore[attr-defined]
        assert pf.get(8080) == b"hello-web\n"  # the session goes on for the other connections
    else:  # client-go ≥ 1.29 ends its whole session on a connection's error (the server's side goes on: below)
        pf.proc.wait(30)
    assert "error forwarding port 9999" in pf.stop()


def test_a_port_forward_session_survives_an_error_on_one_connection(secure_plane: Cluster, ns: str) -> None:
    """On one SPDY session: a connection to a closed port gets its error on its own error stream; connections
    opened before and after it carry their data."""
    conn, head = open_spdy(secure_plane, f"/api/v1/namespaces/{ns}/pods/web/portforward", ["portforward.k8s.io"])
    assert b"portforward.k8s.io" in head.lower()

    def connect(request_id: int, port: int) -> tuple[Any, Any]:
        headers = {"port": str(port), "requestID": str(request_id)}
        error = conn.open_stream({"streamType": "error", **headers}, fin=True)
        return conn.open_stream({"streamType": "data", **headers}), error

    def fetch(request_id: int) -> bytes:
        data, error = connect(request_id, 8080)
        data.write(b"GET /index.html HTTP/1.0\r\n\r\n")
        reply = b"".join(iter(lambda: data.read(timeout=30), b""))
        assert error.read(timeout=30) == b""
        return reply

    try:
        first = fetch(1)
        _, error = connect(2, 9999)
        message = b"".join(iter(lambda: error.read(timeout=30), b""))
        assert b"error forwarding port 9999 to pod web" in message
        assert first.endswith(b"hello-web\n") and fetch(3).endswith(b"hello-web\n")
    finally:
        conn.close()


def test_port_forward_to_a_service_and_a_deployment(forward: Callable[[str, list[int]], PortForward]) -> None:
    assert forward("svc/web", [80]).get(80) == b"hello-web\n"  # the Service's port 80 is the pod's 8080
    assert forward("deploy/web", [8080]).get(8080) == b"hello-web\n"


# -- the official Python client ----------------------------------------------------------------------------------


def python_client(plane: Cluster) -> Any:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = plane.url
    configuration.ssl_ca_cert = str(plane.ca.cert)
    configuration.cert_file, configuration.key_file = str(plane.admin.cert), str(plane.admin.key)
    return client.CoreV1Api(client.ApiClient(configuration))


def test_python_client_stream_exec(secure_plane: Cluster, ns: str) -> None:
    from kubernetes.stream import stream

    api = python_client(secure_plane)
    output = stream(api.connect_get_namespaced_pod_exec, "web", ns, container="web",
                    command=["sh", "-c", "echo $WHO; echo oops >&2"], stderr=True, stdin=False, stdout=True,
                    tty=False)
    assert "web\n" in output
    session = stream(api.connect_get_namespaced_pod_exec, "web", ns, container="web",
                     command=["sh", "-c", "read x; echo got:$x; exit 4"], stderr=True, stdin=True, stdout=True,
                     tty=False, _preload_content=False)
    session.write_stdin("hi\n")
    session.run_forever(timeout=30)
    assert session.returncode == 4  # from the error channel's Status (read_all would consume it)
    assert "got:hi" in session.read_stdout()


def test_python_client_portforward(secure_plane: Cluster, ns: str) -> None:
    from kubernetes.stream import portforward

    api = python_client(secure_plane)
    forwarded = portforward(api.connect_get_namespaced_pod_portforward, "web", ns, ports="8080")
    conn = forwarded.socket(8080)
    conn.setblocking(True)
    conn.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
    reply = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (chunk := conn.recv(65536)):
        reply += chunk
    conn.close()
    assert reply.startswith(b"HTTP/1.") and reply.endswith(b"hello-web\n"), reply[:200]
    assert forwarded.error(8080) is None


# -- a terminal for kubectl -it ----------------------------------------------------------------------------------


def in_terminal(argv: list[str], env: dict[str, str], script: str, *, rows: int = 24, cols: int = 80,
                timeout: float = 60) -> tuple[int, str]:
    """Run `argv` on a pseudo-terminal of `rows` by `cols`, type `script` once it printed something (a prompt) or
    after 3 s, and return its exit code and everything it printed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm"},
                            start_new_session=True)
    os.close(slave)
    output = b""
    typed = False
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal closed: kubectl ended
                    break
                if not chunk:
                    break
                output += chunk
            if not typed and (output or time.monotonic() - started > 3):
                os.write(master, script.encode())
                typed = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, output.decode(errors="replace")


# -- clients that go away --------------------------------------------------------------------------------------------


def test_a_client_that_goes_away_leaves_no_command_behind(kubectl: Kubectl, secure_plane: Cluster, ns: str) -> None:
    marker = f"{7000 + int(kubectl.version.replace('.', ''))}"  # type: ignore[attr-defined]
    proc = subprocess.Popen([*kubectl.argv, "exec", "-i", "web", "--", "sleep", marker],  # type: ignore[attr-defined]
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=kubectl.env)  # type: ignore[attr-defined]
    eventually(lambda: f"sleep {marker}" in in_pod(secure_plane, ns, "ps -o args"), "the command to run")
    proc.kill()  # no goodbye: the connection just ends
    proc.wait(10)
    eventually(lambda: f"sleep {marker}" not in in_pod(secure_plane, ns, "ps -o args"),
               "the command to be stopped with its client gone", timeout=30)
    assert kubectl("exec", "web", "--", "echo", "still fine").stdout == "still fine\n"


def test_a_container_that_is_not_running_is_refused(kubectl: Kubectl, secure_plane: Cluster, ns: str) -> None:
    name = f"half-{kubectl.version.replace('.', '')}"  # type: ignore[attr-defined]
    secure_plane.create(ns, "pods", pod(name, secure_plane.node, [container("done", "true"),
                                                                  container("up", "exec sleep 3600")],
                                        restartPolicy="Never", terminationGracePeriodSeconds=0))
    eventually(lambda: any((s.get("state") or {}).get("terminated") for s in (
        (secure_plane.get(f"/api/v1/namespaces/{ns}/pods/{name}") or {}).get("status", {}).get(
            "containerStatuses") or []) if s["name"] == "done"), "the first container to finish", 60)
    result = kubectl("exec", name, "-c", "done", "--", "true")
    assert result.returncode != 0
    assert f'container "done" in pod "{name}" is not running' in result.stderr
    assert kubectl("exec", name, "-c", "up", "--", "true").returncode == 0


def test_a_session_whose_streams_never_come_is_closed(secure_plane: Cluster, ns: str) -> None:
    """An exec upgraded over SPDY whose client never opens its streams: the kubelet gives up after upstream's
    stream creation timeout (30 s) and closes the session; nothing runs in the pod."""
    query = "container=web&command=sleep&command=999&stdout=true"
    conn, _ = open_spdy(secure_plane, f"/api/v1/namespaces/{ns}/pods/web/exec?{query}", ["v4.channel.k8s.io"])
    try:
        assert conn.wait_closed(45), "the session was not closed"
    finally:
        conn.close()
    assert "sleep 999" not in in_pod(secure_plane, ns, "ps -o args")
