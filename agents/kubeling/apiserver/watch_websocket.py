"""Watches over WebSocket, as kube-apiserver serves them: a watch request (`?watch=1`) that asks to upgrade to a
WebSocket gets the same events, one JSON event per text message, instead of a chunked HTTP body (Headlamp's
backend and some browser clients watch this way, since a browser can read a WebSocket as it arrives).

The watch is opened before the upgrade, so a resourceVersion that is too old is still answered with a plain
410 Status. Between events the connection is checked for the client's messages: a close frame is answered and
ends the watch, a ping gets its pong.

Upstream: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/watch.go (HandleWS, text framing for JSON).
"""

from __future__ import annotations

import contextlib
import logging
import select
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, request
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

from kubeling.api import errors
from kubeling.apiserver.listeners import HTTP_REQUEST, SOCKET

log = logging.getLogger(__name__)

# Headers the WebSocket handshake reads; the rest of the request was already handled by Flask.
HANDSHAKE_HEADERS = ("Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                     "Sec-WebSocket-Protocol")


def is_upgrade() -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


class WatchSocket:
    """The server's end of one WebSocket carrying a watch, over the connection cheroot accepted."""

    def __init__(self, http_request: Any) -> None:
        self.conn = http_request.conn
        self.protocol = WSConnection(ConnectionType.SERVER)
        self.peer = request.environ.get(SOCKET)  # readable when the client sent something (or went away)
        self.closed = False

    def accept(self) -> None:
        path = request.full_path if request.query_string else request.path
        lines = [f"GET {path} HTTP/1.1"] + [f"{name}: {request.headers[name]}" for name in HANDSHAKE_HEADERS
                                            if name in request.headers]
        self.protocol.receive_data(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        handshake = next((e for e in self.protocol.events() if isinstance(e, Request)), None)
        if handshake is None:
            raise errors.bad_request("not a valid WebSocket upgrade request")
        # As upstream's WebSocket library: the first subprotocol the client offers is the one answered.
        chosen = handshake.subprotocols[0] if handshake.subprotocols else None
        self._write(self.protocol.send(AcceptConnection(subprotocol=chosen)))

    def send_text(self, text: str) -> None:
        self._write(self.protocol.send(TextMessage(data=text)))

    def gone(self) -> bool:
        """Has the client closed the WebSocket (or the connection)? Answers its pings on the way."""
        if self.closed:
            return True
        try:
            readable, _, _ = select.select([self.peer], [], [], 0)
            if not readable:
                return False
            data = self.conn.rfile.read1(65536)
        except (OSError, ValueError):
            return True
        if not data:
            return True
        self.protocol.receive_data(data)
        for event in self.protocol.events():
            if isinstance(event, Ping):
                self._write(self.protocol.send(event.response()))
            elif isinstance(event, CloseConnection):
                with contextlib.suppress(Exception):
                    self._write(self.protocol.send(event.response()))
                self.closed = True
        return self.closed

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self._write(self.protocol.send(CloseConnection(code=1000)))
            self.closed = True

    def _write(self, data: bytes) -> None:
        self.conn.wfile.write(data)
        self.conn.wfile.flush()


def serve(open_watch: Callable[[Callable[[], bool] | None], Iterator[bytes]]) -> Response:
    """Upgrade to a WebSocket and stream the watch `open_watch(gone)` returns (its first `next()` has been done,
    so errors before the upgrade are plain HTTP answers)."""
    http_request = request.environ.get(HTTP_REQUEST)
    if http_request is None:
        raise errors.StatusError(500, "this server cannot take over connections", "InternalError")
    socket_ = WatchSocket(http_request)
    lines = open_watch(socket_.gone)
    socket_.accept()
    http_request.sent_headers = True  # cheroot: the response is out, write nothing more
    http_request.close_connection = True  # and close the connection when the handler returns
    try:
        for chunk in lines:
            for line in chunk.splitlines(keepends=True):
                socket_.send_text(line.decode())
            if socket_.gone():
                break
    except OSError as exc:
        log.debug("WebSocket watch ended: %s", exc)
    finally:
        socket_.close()
        close = getattr(lines, "close", None)
        if close is not None:
            close()
    return Response(status=101)  # never written: cheroot sees the response as sent
