"""`pods/exec`, `pods/attach`, `pods/portforward`: hand the client's connection over to the pod's kubelet.

The API server does not speak the streaming protocols (SPDY/3.1, WebSocket channels). It checks the request the
way every request is checked (authenticated, authorized as `create` on the subresource: access.py, api/rbac.py),
finds the pod's container and node (clean Status errors before anything is upgraded), then sends the same upgrade
request to the kubelet over TLS with the API server's kubelet client certificate. The kubelet's answer goes back
to the client as it is: on `101 Switching Protocols` both connections are spliced together byte for byte until
either side closes; any other answer (say, 400 "unsupported protocol", on which kubectl falls back to SPDY) is
relayed as a normal response.

Upstream: `pkg/registry/core/pod/rest/subresources.go` (ExecREST, AttachREST, PortForwardREST) and
`pkg/registry/core/pod/strategy.go` (ExecLocation, streamLocation, PortForwardLocation) for the checks and the
kubelet URL; `staging/src/k8s.io/apimachinery/pkg/util/proxy/upgradeaware.go` for the splice.

Taking a connection over from cheroot: the gateways (tls.py) put cheroot's request object in the environ. Once the
kubelet said 101, this module writes the kubelet's response head to the client's socket itself, marks the request
as answered and not to be kept alive (cheroot then writes nothing and closes the connection when the handler
returns), and runs the splice in the request's own worker thread: one loop over both sockets, so each TLS
connection is only ever used by one thread.
"""

from __future__ import annotations

import contextlib
import logging
import select
import selectors
import socket
import ssl
import time
from typing import Any

import cheroot.server
from flask import Response, current_app, request
from OpenSSL import SSL

from kubeling.api import errors
from kubeling.api.resources import lookup
from kubeling.apiserver.listeners import HTTP_REQUEST
from kubeling.apiserver.logs import DEFAULT_KUBELET_PORT
from kubeling.apiserver.registry import Registry
from kubeling.apiserver.tls import TLSSocket

log = logging.getLogger(__name__)

CONNECT_SUBRESOURCES = ("exec", "attach", "portforward")
# Request headers the kubelet needs to answer the upgrade; credentials stay here (the kubelet trusts our certificate).
UPGRADE_HEADERS = ("Connection", "Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
                   "Sec-WebSocket-Extensions", "X-Stream-Protocol-Version", "Origin")
DIAL_TIMEOUT = 10.0  # connecting to the kubelet and reading its answer to the upgrade
MAX_HEAD_BYTES = 64 * 1024
CHUNK = 64 * 1024
BURST = 256 * 1024  # the most the splice reads from one side before writing it to the other
TLS_CONTEXT = "kubeling.kubelet_tls_context"  # app.extensions keys: built once, and the last session per kubelet
TLS_SESSIONS = "kubeling.kubelet_tls_sessions"
DRAIN_SECONDS = 10.0  # how long one direction may go on after the other ended

# kubectl's SPDY client sends one `X-Stream-Protocol-Version` line per protocol it speaks (v4, v3, v2, v1). cheroot
# keeps only the last line of a repeated header unless the header is listed as comma-separated, which would leave
# the kubelet choosing the oldest protocol; so list these two.
for _name in (b"X-Stream-Protocol-Version", b"Sec-Websocket-Protocol"):
    if _name not in cheroot.server.comma_separated_headers:
        cheroot.server.comma_separated_headers.append(_name)


def connect(registry: Registry, namespace: str, name: str, subresource: str) -> Response:
    """Check the request, open the same upgrade to the kubelet, and relay its answer (then the stream)."""
    pod = registry.get(lookup("", "pods"), namespace, name)
    if subresource == "portforward":
        path = f"/portForward/{namespace}/{name}"
    else:
        path = f"/{subresource}/{namespace}/{name}/{_container(pod, name)}"
    node_name = pod.get("spec", {}).get("nodeName")
    if not node_name:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    node = registry.get(lookup("", "nodes"), None, node_name)
    if "upgrade" not in request.headers.get("Connection", "").lower():
        raise errors.bad_request("Upgrade request required")
    http_request = request.environ.get(HTTP_REQUEST)
    if http_request is None:
        raise errors.StatusError(500, "this server cannot take over connections", "InternalError")
    query = request.query_string.decode("latin-1")
    kubelet = _dial(node)
    try:
        head, early = _send_upgrade(kubelet, path + (f"?{query}" if query else ""))
        _remember_session(kubelet, node)
    except (OSError, ssl.SSLError, ValueError) as exc:
        kubelet.close()
        raise errors.StatusError(500, f"error dialing backend: {exc}", "InternalError") from exc
    status = _status_code(head)
    if status != 101:
        return _relay_refusal(kubelet, head, early)
    _take_over(http_request, kubelet, head, early)
    return Response(status=101)  # never written: cheroot sees the response as sent


def _container(pod: dict[str, Any], name: str) -> str:
    spec = pod.get("spec", {})
    containers = [c["name"] for c in spec.get("containers") or []]
    others = [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("ephemeralContainers") or [])]
    container = request.args.get("container") or ""
    if not container:
        if len(containers) != 1:
            raise errors.bad_request(
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
            )
        return containers[0]
    if container not in containers + others:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    return container


# -- the kubelet's side --------------------------------------------------------------------------------------------


def _kubelet_address(node: dict[str, Any]) -> tuple[str, int]:
    status = node.get("status", {})
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname") or node["metadata"]["name"]
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
    return host, int(port)


def _tls_context(config: dict[str, Any]) -> ssl.SSLContext:
    """The kubelet client's TLS settings, as app.kubelet_session sets them for pods/log."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca = config.get("KUBELET_CERTIFICATE_AUTHORITY")
    if ca:
        context.load_verify_locations(ca)
    else:  # as upstream, without --kubelet-certificate-authority the kubelet's certificate is not verified
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.get("KUBELET_CLIENT_CERTIFICATE"):
        context.load_cert_chain(config["KUBELET_CLIENT_CERTIFICATE"], config.get("KUBELET_CLIENT_KEY") or None)
    return context


def _dial(node: dict[str, Any]) -> socket.socket:
    host, port = _kubelet_address(node)
    try:
        sock = socket.create_connection((host, port), timeout=DIAL_TIMEOUT)
    except OSError as exc:
        raise errors.StatusError(500, f"error dialing backend: dial tcp {host}:{port}: {exc}", "InternalError") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if current_app.config.get("KUBELET_SCHEME") != "https":
        return sock
    context = current_app.extensions.get(TLS_CONTEXT)
    if context is None:
        context = current_app.extensions[TLS_CONTEXT] = _tls_context(current_app.config)
    # Resume the last TLS session with this kubelet: a shorter handshake on every exec.
    sessions: dict[tuple[str, int], ssl.SSLSession] = current_app.extensions.setdefault(TLS_SESSIONS, {})
    try:
        tls = context.wrap_socket(sock, server_hostname=host, session=sessions.get((host, port)))
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise errors.StatusError(500, f"error dialing backend: {exc}", "InternalError") from exc
    return tls


def _remember_session(kubelet: socket.socket, node: dict[str, Any]) -> None:
    """Keep the kubelet's TLS session for the next dial (TLS 1.3 tickets arrive with the first read, so after it)."""
    session = getattr(kubelet, "session", None)
    if session is not None and session.has_ticket:
        current_app.extensions.setdefault(TLS_SESSIONS, {})[_kubelet_address(node)] = session


def _send_upgrade(kubelet: socket.socket, target: str) -> tuple[bytes, bytes]:
    """Send the client's upgrade request to the kubelet; return its response head and any bytes after it."""
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {request.host}"]
    for header in UPGRADE_HEADERS:
        value = request.headers.get(header)
        if value is not None:
            lines.append(f"{header}: {value}")
    lines.append("Content-Length: 0")
    kubelet.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = kubelet.recv(CHUNK)
        if not chunk:
            raise ValueError("the kubelet closed the connection before answering")
        received += chunk
        if len(received) > MAX_HEAD_BYTES:
            raise ValueError("the kubelet's response head is too large")
    head, _, early = received.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", early


def _status_code(head: bytes) -> int:
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 502


def _relay_refusal(kubelet: socket.socket, head: bytes, early: bytes) -> Response:
    """The kubelet did not upgrade: pass its status and body on as an ordinary response."""
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    body, length = early, -1
    try:
        length = int(headers.get("content-length", "-1"))
        kubelet.settimeout(DIAL_TIMEOUT)
        while (length < 0 or len(body) < length) and len(body) < MAX_HEAD_BYTES:
            chunk = kubelet.recv(CHUNK)
            if not chunk:
                break
            body += chunk
    except (OSError, ValueError):
        pass
    finally:
        kubelet.close()
    if length >= 0:
        body = body[:length]
    return Response(body, status=_status_code(head), content_type=headers.get("content-type", "text/plain"))


# -- the splice ----------------------------------------------------------------------------------------------------


class _SocketEnd:
    """A Python socket (plain or ssl) in non-blocking mode: the kubelet's connection, or a plain-HTTP client's."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def pending(self) -> int:
        pending = getattr(self.sock, "pending", None)  # bytes ssl already decrypted, invisible to select
        return pending() if pending else 0

    def recv_now(self) -> bytes | None:
        """What has arrived: bytes, b"" at the end of the stream, None when nothing has yet."""
        try:
            return self.sock.recv(CHUNK)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except (OSError, ssl.SSLError):
            return b""

    def send_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view):]
            except (BlockingIOError, ssl.SSLWantWriteError):
                select.select([], [self.sock], [])
            except ssl.SSLWantReadError:
                select.select([self.sock], [], [])

    def end_writing(self) -> None:
        # socket.socket's own shutdown: ssl.SSLSocket.shutdown would also drop TLS for the reading half.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        self.sock.close()


class _OpenSSLEnd:
    """The client's connection on the HTTPS listener: tls.TLSSocket over a non-blocking pyOpenSSL connection."""

    def __init__(self, sock: TLSSocket) -> None:
        self.sock = sock
        sock.settimeout(None)  # its sendall then waits for the client as long as it takes

    def fileno(self) -> int:
        return self.sock.fileno()

    def pending(self) -> int:
        return self.sock.connection.pending()

    def recv_now(self) -> bytes | None:
        try:
            return self.sock.connection.recv(CHUNK)
        except (SSL.WantReadError, SSL.WantWriteError):
            return None
        except (SSL.Error, OSError):  # close_notify, a reset, an alert: the client has gone
            return b""

    def send_all(self, data: bytes) -> None:
        self.sock.sendall(data)

    def end_writing(self) -> None:
        with contextlib.suppress(OSError, SSL.Error):
            self.sock.connection.shutdown()  # close_notify
        with contextlib.suppress(OSError, SSL.Error):
            self.sock.connection.sock_shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError, SSL.Error):
            self.sock.connection.sock_shutdown(socket.SHUT_RDWR)  # cheroot closes the socket itself


def _take_over(http_request: Any, kubelet: socket.socket, head: bytes, early: bytes) -> None:
    """Answer the client with the kubelet's 101, then splice the two connections until either closes."""
    http_request.sent_headers = True  # cheroot: the response is out, write nothing more
    http_request.close_connection = True  # and close the connection when the handler returns
    conn = http_request.conn
    client = _OpenSSLEnd(conn.socket) if isinstance(conn.socket, TLSSocket) else _SocketEnd(conn.socket)
    upstream = _SocketEnd(kubelet)
    # Bytes the client sent after its request head, already read into cheroot's buffer.
    reader = conn.rfile
    buffered = bytes(reader.buf[reader.pos:]) if hasattr(reader, "buf") else b""
    if hasattr(reader, "buf"):
        reader.pos = len(reader.buf)
    try:
        client.send_all(head + early)
        if buffered:
            upstream.send_all(buffered)
        splice(client, upstream)
    except (OSError, SSL.Error, ssl.SSLError) as exc:
        log.debug("stream ended: %s", exc)
    finally:
        upstream.close()
        client.close()


def _read_burst(source: _SocketEnd | _OpenSSLEnd) -> bytes | None:
    """What `source` has now, up to BURST bytes: one TLS record is at most 16 KiB, and passing several on in one
    write saves a round of select, recv and send for each."""
    first = source.recv_now()
    if not first:
        return first
    chunks, size = [first], len(first)
    while size < BURST:
        more = source.recv_now()
        if not more:
            break  # nothing more now (or the end, which the next round reads again)
        chunks.append(more)
        size += len(more)
    return b"".join(chunks)


def splice(a: _SocketEnd | _OpenSSLEnd, b: _SocketEnd | _OpenSSLEnd, drain_seconds: float = DRAIN_SECONDS) -> None:
    """Copy bytes both ways between `a` and `b` until both directions reached their end (or one failed).

    When one side ends its sending, the end is passed on (a half-close towards the other side), and the other
    direction may go on for up to `drain_seconds`: the last bytes the kubelet sends (the exit status) still reach
    the client after the client finished its input.
    """
    directions = {a.fileno(): (a, b), b.fileno(): (b, a)}
    deadline: float | None = None
    with selectors.DefaultSelector() as selector:
        for fd, pair in directions.items():
            selector.register(fd, selectors.EVENT_READ, pair)
        while directions:
            # TLS may hold decrypted bytes the descriptor no longer signals: read those without waiting.
            ready = [pair for pair in directions.values() if pair[0].pending()]
            if not ready:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready = [key.data for key, _ in selector.select(wait)]
                if not ready and deadline is not None and time.monotonic() >= deadline:
                    return
            for source, sink in ready:
                data = _read_burst(source)
                if data is None:
                    continue
                if data:
                    sink.send_all(data)
                    continue
                sink.end_writing()
                selector.unregister(source.fileno())
                del directions[source.fileno()]
                deadline = deadline or time.monotonic() + drain_seconds
