"""The kubelet's `/exec`, `/attach` and `/portForward` endpoints: check the request, pick the protocol, upgrade.

    /exec/{namespace}/{pod}/{container}?command=…&input=1&output=1&error=1&tty=0
    /attach/{namespace}/{pod}/{container}?input=1&output=1&error=1
    /portForward/{namespace}/{pod}[?ports=80,8080]

Everything that can be refused is refused before the upgrade, with a plain HTTP answer and a `Status` body that the
API server relays to the client: kubectl falls back from WebSocket to SPDY only on such a clean refusal, never on a
dropped connection. After the 101, the request's thread serves the session until it ends, and the connection is
closed.

Upstream: `pkg/kubelet/server/server.go` (getExec, getAttach, getPortForward), `pkg/kubelet/cri/streaming/server.go`,
`staging/src/k8s.io/apimachinery/pkg/util/httpstream/httpstream.go` (Handshake: the client's protocol order wins).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from typing import Any, Protocol

from kubeling.kubelet.runtime import Runtime
from kubeling.kubelet.streaming import portforward, remotecommand, spdy
from kubeling.kubelet.streaming.websocket import Channels, HandshakeError, TunnelSocket, WebSocket, request_head

log = logging.getLogger(__name__)

TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
PORTFORWARD_CHANNEL_PROTOCOLS = [remotecommand.V4, remotecommand.V1, portforward.PROTOCOL]
STREAM_CREATION_TIMEOUT = 30.0  # upstream's default: how long the client has to open the streams it asked for


class StreamTarget(Protocol):
    """What the kubelet tells the streaming server about its pods."""

    runtime: Runtime

    def stream_container(self, namespace: str, pod: str, container: str) -> str: ...  # a running container's id

    def stream_sandbox(self, namespace: str, pod: str) -> tuple[int, str]: ...  # (netns pid, pod IP)


class RequestError(Exception):
    """Refused before the upgrade with this HTTP code."""

    def __init__(self, code: int, message: str, reason: str = "BadRequest") -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


def status_body(code: int, message: str, reason: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code}).encode()


def serve(handler: Any, target: StreamTarget, kind: str, parts: list[str], query: dict[str, list[str]]) -> None:
    """Serve one streaming request on `handler` (the kubelet API's request handler)."""
    handler.close_connection = True  # after an upgrade (or a refusal of one) the connection is not reused
    try:
        session = _prepare(target, kind, parts, query)
        upgrade = (handler.headers.get("Upgrade") or "").lower()
        if upgrade == "websocket":
            _serve_websocket(handler, session)
        elif upgrade.startswith("spdy/"):
            _serve_spdy(handler, session)
        else:
            raise RequestError(400, "Upgrade request required")
    except RequestError as exc:
        _refuse(handler, exc.code, str(exc), exc.reason)


class _Session:
    """What a request asks for, checked: the kind, the container (or pod), and the options."""

    def __init__(self, target: StreamTarget, kind: str, pod: str, container_id: str = "",
                 options: remotecommand.Options | None = None, dial: portforward.Dial | None = None,
                 ports: list[int] | None = None) -> None:
        self.target, self.kind, self.pod = target, kind, pod
        self.container_id, self.options, self.dial, self.ports = container_id, options, dial, ports or []


def _prepare(target: StreamTarget, kind: str, parts: list[str], query: dict[str, list[str]]) -> _Session:
    if kind in ("exec", "attach"):
        if len(parts) not in (3, 4):  # upstream also accepts /{ns}/{pod}/{uid}/{container}
            raise RequestError(404, f"expected /{kind}/<namespace>/<pod>/<container>", "NotFound")
        namespace, pod, container = parts[0], parts[1], parts[-1]
        try:
            options = remotecommand.Options.from_query(query, exec_=kind == "exec")
        except remotecommand.OptionsError as exc:
            raise RequestError(400, str(exc)) from exc
        container_id = _lookup(lambda: target.stream_container(namespace, pod, container))
        return _Session(target, kind, pod, container_id=container_id, options=options)
    if len(parts) not in (2, 3):
        raise RequestError(404, "expected /portForward/<namespace>/<pod>", "NotFound")
    namespace, pod = parts[0], parts[1]
    pid, ip = _lookup(lambda: target.stream_sandbox(namespace, pod))
    try:
        ports = portforward.ports_from_query(query) if query.get("ports") else []
    except ValueError as exc:
        raise RequestError(400, str(exc)) from exc
    return _Session(target, "portforward", pod, dial=portforward.dialer(pid, ip), ports=ports)


def _lookup(call: Any) -> Any:
    try:
        return call()
    except RequestError:
        raise
    except Exception as exc:  # the kubelet's own errors carry an HTTP code
        code = getattr(exc, "code", 500)
        reason = {404: "NotFound", 400: "BadRequest"}.get(code, "InternalError")
        raise RequestError(code, str(exc), reason) from exc


def _refuse(handler: Any, code: int, message: str, reason: str) -> None:
    body = status_body(code, message, reason)
    with contextlib.suppress(OSError):
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)


# WebSocket

def _serve_websocket(handler: Any, session: _Session) -> None:
    ws = WebSocket(handler.rfile, handler.connection)
    offered = [*PORTFORWARD_CHANNEL_PROTOCOLS, TUNNEL_PROTOCOL] if session.kind == "portforward" \
        else remotecommand.WEBSOCKET_PROTOCOLS

    def choose(asked: list[str]) -> str | None:
        if session.kind == "portforward" and TUNNEL_PROTOCOL in asked:
            return TUNNEL_PROTOCOL
        return next((p for p in offered if p in asked), None)

    try:
        protocol = ws.accept(request_head(handler), choose)
    except HandshakeError as exc:
        raise RequestError(400, f"unable to upgrade: {exc}; supported: {offered}") from exc
    log.debug("%s on %s over WebSocket %s", session.kind, session.pod, protocol)
    if protocol == TUNNEL_PROTOCOL:
        connection = spdy.Connection(TunnelSocket(ws), server=True)
        portforward.serve_spdy(connection, _require(session.dial), session.pod)
        return
    if session.kind == "portforward":
        if not session.ports:
            ws.close(1008, "query parameter \"ports\" is required")
            return
        channels = Channels(ws, 2 * len(session.ports)).start()
        portforward.serve_channels(channels, session.ports, _require(session.dial), session.pod)
        return
    options = _require(session.options)
    channels = Channels(ws, 5, close_signal=protocol == remotecommand.V5).start()
    streams = remotecommand.Streams(
        error=channels[remotecommand.ERROR], gone=channels.done, protocol=protocol,
        stdin=channels[remotecommand.STDIN] if options.stdin else None,
        stdout=channels[remotecommand.STDOUT] if options.stdout else None,
        stderr=channels[remotecommand.STDERR] if options.stderr else None,
        resize=channels[remotecommand.RESIZE] if options.tty else None,
        on_end=channels.close)
    # Upstream writes an empty message on the first output channel, telling the client the session is open.
    first = streams.stdout or streams.stderr or streams.error
    first.write(b"")
    _run_command(session, streams)


# SPDY

class _HandlerSocket:
    """The request's connection, as the SPDY layer uses it: reads through the handler's buffered file (which may
    already hold the client's first frames), writes straight to the socket."""

    def __init__(self, handler: Any) -> None:
        self.reader, self.sock = handler.rfile, handler.connection

    def recv(self, size: int) -> bytes:
        try:
            return self.reader.read1(size)
        except (OSError, ValueError):
            return b""

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown(self, how: int) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(how)

    def close(self) -> None:
        self.shutdown(socket.SHUT_RDWR)


def _serve_spdy(handler: Any, session: _Session) -> None:
    supported = [portforward.PROTOCOL] if session.kind == "portforward" else remotecommand.SPDY_PROTOCOLS
    asked = [p.strip() for value in handler.headers.get_all("X-Stream-Protocol-Version") or []
             for p in value.split(",") if p.strip()]
    protocol = next((p for p in asked if p in supported), None)
    if protocol is None:
        raise RequestError(403, f"unable to upgrade: unable to negotiate protocol: client supports {asked}, "
                                f"server supports {supported}", "Forbidden")
    handler.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                         f"X-Stream-Protocol-Version: {protocol}\r\n\r\n").encode())
    handler.wfile.flush()
    connection = spdy.Connection(_HandlerSocket(handler), server=True)
    log.debug("%s on %s over SPDY %s", session.kind, session.pod, protocol)
    if session.kind == "portforward":
        portforward.serve_spdy(connection, _require(session.dial), session.pod)
        return
    options = _require(session.options)
    streams = _spdy_streams(connection, options, protocol)
    if streams is not None:
        _run_command(session, streams)


def _spdy_streams(connection: spdy.Connection, options: remotecommand.Options,
                  protocol: str) -> remotecommand.Streams | None:
    """Wait for the client to open every stream it asked for (upstream: `waitStreamReply` with a creation
    timeout); None, and the session closed, when it does not in time."""
    expected = {"error"} | {name for name, on in (("stdin", options.stdin), ("stdout", options.stdout),
                                                   ("stderr", options.stderr)) if on}
    if options.tty and protocol != remotecommand.V1 and protocol != remotecommand.V2:
        expected.add("resize")
    streams: dict[str, spdy.Stream] = {}
    deadline = time.monotonic() + STREAM_CREATION_TIMEOUT
    while not expected <= streams.keys():
        remaining = deadline - time.monotonic()
        stream = connection.accept_stream(timeout=max(remaining, 0.001)) if remaining > 0 else None
        if stream is None:
            log.info("exec: the client did not open the streams %s in time", sorted(expected - streams.keys()))
            connection.close()
            return None
        stream.reply()
        streams[stream.headers.get("streamtype", "")] = stream
    gone = threading.Event()

    def watch() -> None:
        connection.wait_closed()
        gone.set()

    threading.Thread(target=watch, name="spdy-watch", daemon=True).start()
    return remotecommand.Streams(
        error=streams["error"], gone=gone, protocol=protocol, stdin=streams.get("stdin"),
        stdout=streams.get("stdout"), stderr=streams.get("stderr"), resize=streams.get("resize"),
        on_end=lambda: _end_spdy(connection, streams))


def _end_spdy(connection: spdy.Connection, streams: dict[str, spdy.Stream]) -> None:
    for name in ("stdout", "stderr", "error"):
        if name in streams:
            with contextlib.suppress(OSError):
                streams[name].close()
    connection.close()


def _run_command(session: _Session, streams: remotecommand.Streams) -> None:
    options = _require(session.options)
    if session.kind == "exec":
        remotecommand.run_exec(session.target.runtime, session.container_id, options, streams)
    else:
        remotecommand.run_attach(session.target.runtime, session.container_id, options, streams)


def _require(value: Any) -> Any:
    assert value is not None
    return value
