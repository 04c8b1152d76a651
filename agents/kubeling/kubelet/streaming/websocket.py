"""WebSocket streams: the handshake, and Kubernetes' channels carried in binary messages.

Kubernetes multiplexes several byte streams ("channels") over one WebSocket: every binary message starts with one
byte, the channel number, followed by that channel's bytes. For exec and attach the channels are the POSIX
descriptors plus two more: 0 stdin, 1 stdout, 2 stderr, 3 error (a `Status` when the command ends), 4 resize.
`v5.channel.k8s.io` adds one message, `[255, channel]`, that closes a channel (the client's end of stdin).
Port-forward over `v4.channel.k8s.io` gives every port two channels (data, then error).

kubectl ≥ 1.31 port-forwards over a third kind: `SPDY/3.1+portforward.k8s.io`, a WebSocket whose binary messages
carry a whole SPDY session; `TunnelSocket` makes such a WebSocket look like the socket the SPDY layer expects.

wsproto (sans-I/O, so it fits the kubelet's blocking sockets) parses and writes the WebSocket frames.

Upstream: `staging/src/k8s.io/apimachinery/pkg/util/httpstream/wsstream/conn.go` (channels),
`staging/src/k8s.io/client-go/tools/remotecommand/websocket.go` (v5), `.../tools/portforward/tunneling_connection.go`.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

CLOSE_CHANNEL = 255  # v5: [255, n] closes channel n
NORMAL_CLOSURE = 1000


class HandshakeError(Exception):
    """The request is not a WebSocket upgrade we can accept."""


class WebSocket:
    """A server-side WebSocket over a connection whose HTTP request was already read.

    Reads come from `reader` (the request handler's buffered file, which may already hold the client's first
    bytes) and writes go to `sock`. One thread may read while others write."""

    def __init__(self, reader: BinaryIO, sock: Any) -> None:
        self.reader, self.sock = reader, sock
        self.protocol = WSConnection(ConnectionType.SERVER)
        self.subprotocol = ""
        self._lock = threading.Lock()  # wsproto's state and the socket's writes
        self._pending: list[Any] = []
        self.closed = False  # nothing more can be sent
        self._ended = threading.Event()  # nothing more will be received

    # The handshake

    def accept(self, request_head: bytes, choose: Callable[[list[str]], str | None]) -> str:
        """Answer the upgrade with 101 and the subprotocol `choose` picks from the client's list; raise
        HandshakeError (nothing written) when it picks none."""
        self.protocol.receive_data(request_head)
        request = next((e for e in self.protocol.events() if isinstance(e, Request)), None)
        if request is None:
            raise HandshakeError("not a WebSocket upgrade request")
        chosen = choose(list(request.subprotocols))
        if chosen is None:
            raise HandshakeError(f"requested protocol(s) are not supported: {list(request.subprotocols)}")
        self.subprotocol = chosen
        self._write(self.protocol.send(AcceptConnection(subprotocol=chosen or None)))
        return chosen

    def reject(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        """Refuse the upgrade with a plain HTTP answer (kubectl then falls back to SPDY)."""
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        self._write(self.protocol.send(RejectConnection(status_code=status, headers=headers, has_body=True)))
        self._write(self.protocol.send(RejectData(data=body)))

    # Messages

    def receive(self) -> bytes | None:
        """The next whole binary (or text) message; None once the peer closed or the connection ended."""
        parts: list[bytes] = []
        while True:
            while self._pending:
                event = self._pending.pop(0)
                if isinstance(event, BytesMessage | TextMessage):
                    data = event.data.encode() if isinstance(event.data, str) else bytes(event.data)
                    parts.append(data)
                    if event.message_finished:
                        return b"".join(parts)
                elif isinstance(event, Ping):
                    self._send_event(event.response())
                elif isinstance(event, CloseConnection):
                    with contextlib.suppress(Exception):
                        self._send_event(event.response())
                    self._finish()
                    return None
            if self._ended.is_set():
                return None
            try:
                data = self.reader.read1(65536)  # type: ignore[attr-defined]
            except (OSError, ValueError):
                data = b""
            with self._lock:
                try:
                    self.protocol.receive_data(data or None)
                    self._pending.extend(self.protocol.events())
                except Exception:
                    data = b""
            if not data:
                self._finish()
                return None

    def send(self, data: bytes) -> None:
        """One binary message."""
        self._send_event(BytesMessage(data=data))

    def close(self, code: int = NORMAL_CLOSURE, reason: str = "", wait: float = 5.0) -> None:
        """Say goodbye with a close frame, then wait (bounded) for the peer's own close before ending the
        connection: closing a socket with unread bytes would reset it, and the peer could lose our last words."""
        if not self.closed:
            with contextlib.suppress(Exception):
                self._send_event(CloseConnection(code=code, reason=reason))
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)
        self._ended.wait(wait)
        self._finish()

    def _send_event(self, event: Any) -> None:
        with self._lock:
            if self.closed and not isinstance(event, CloseConnection):
                raise BrokenPipeError("the WebSocket is closed")
            self._write(self.protocol.send(event))

    def _write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _finish(self) -> None:
        self.closed = True
        self._ended.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class Channels:
    """Kubernetes' numbered channels over one WebSocket: one reader thread sorts incoming messages by their first
    byte; `Channel` objects read their own queue and write messages with their own prefix."""

    def __init__(self, ws: WebSocket, count: int, *, close_signal: bool = False) -> None:
        self.ws = ws
        self.close_signal = close_signal  # v5's [255, n]
        self.channels = [Channel(self, n) for n in range(count)]
        self.done = threading.Event()  # the client went away
        self._reader = threading.Thread(target=self._read_loop, name="ws-channels", daemon=True)

    def start(self) -> Channels:
        self._reader.start()
        return self

    def __getitem__(self, number: int) -> Channel:
        return self.channels[number]

    def _read_loop(self) -> None:
        try:
            while (message := self.ws.receive()) is not None:
                if not message:
                    continue
                number, payload = message[0], message[1:]
                if number == CLOSE_CHANNEL and self.close_signal and payload:
                    if payload[0] < len(self.channels):
                        self.channels[payload[0]].end_of_input()
                elif number < len(self.channels):
                    self.channels[number].deliver(payload)
        finally:
            for channel in self.channels:
                channel.end_of_input()
            self.done.set()

    def close(self) -> None:
        self.ws.close()


class Channel:
    """One numbered channel: `read` gives what the client sent on it, `write` sends to the client."""

    def __init__(self, channels: Channels, number: int) -> None:
        self.channels, self.number = channels, number
        self._incoming: queue.Queue[bytes] = queue.Queue()
        self._buffer = b""
        self._eof = False

    def deliver(self, data: bytes) -> None:
        if data:
            self._incoming.put(data)

    def end_of_input(self) -> None:
        self._incoming.put(b"")

    def read(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
        """Up to `max_bytes` the client sent; b"" once it closed the channel or went away."""
        if not self._buffer:
            if self._eof:
                return b""
            self._buffer = self._incoming.get(timeout=timeout)
            if not self._buffer:
                self._eof = True
                return b""
        data, self._buffer = self._buffer[:max_bytes], self._buffer[max_bytes:]
        return data

    def write(self, data: bytes) -> None:
        self.channels.ws.send(bytes([self.number]) + data)

    def close(self) -> None:
        """A channel has no end of its own on the wire: it ends with the connection."""


class TunnelSocket:
    """A WebSocket whose binary messages carry a byte stream (kubectl's SPDY-over-WebSocket port-forward),
    offered with the few socket methods the SPDY layer uses."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self._buffer = b""

    def recv(self, size: int) -> bytes:
        while not self._buffer:
            message = self.ws.receive()
            if message is None:
                return b""
            self._buffer = message
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def sendall(self, data: bytes) -> None:
        self.ws.send(data)

    def shutdown(self, how: int) -> None:
        self.ws.close()

    def close(self) -> None:
        self.ws.close()


def request_head(handler: Any) -> bytes:
    """The HTTP request as it came (request line and headers), for the WebSocket library to parse."""
    lines = [handler.requestline] + [f"{name}: {value}" for name, value in handler.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
