"""One keep-alive HTTP/1.1 client connection that speaks just the HTTP our servers answer with.

Both etcd's gateway and our API server answer every request with a body delimited by a Content-Length, by chunked
encoding, or by the end of the connection, and never ask for anything else (no 100-continue, no upgrades, no
compression unless asked for). That little HTTP is cheap to speak: a request leaves in one write, and the response
head is read with a few `readline`s instead of `http.client`'s email parser. Per call that is about 0.04 ms of CPU,
against 0.17 ms with `http.client` and 0.4 to 0.7 ms with `requests` over urllib3, and every API write makes an etcd
call while the scheduler makes two API calls a pod.

A connection is not safe to share between threads: keep one per thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import select
import socket
import ssl
from collections.abc import Iterator
from typing import Any


class ConnectFailed(OSError):
    """The connection could not be made (refused, unreachable, timed out, or its TLS handshake failed)."""


@dataclasses.dataclass
class _Head:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    length: int | None = None
    chunked: bool = False
    close: bool = False


@dataclasses.dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class Connection:
    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.host_header = f"Host: {host}:{port}\r\n".encode()
        self.sock: socket.socket | None = None
        self.reader: Any = None
        self.timeout: float | None = None

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = self.reader = None

    def request(self, method: str, target: str, headers: bytes, body: bytes | None, *,
                timeout: float | None, connect_timeout: float | None = None) -> Response:
        """Send one request and read its whole response.

        `headers` are complete header lines (each ending in CRLF), without Host and Content-Length. Raises
        ConnectFailed when no connection could be made, and another OSError (a timeout, a reset, or
        ConnectionError for a reply that is not HTTP) when the exchange fails.
        """
        if self.sock is not None and closed_by_peer(self.sock):
            self.close()  # the server closed it while idle (a restart, say): reconnect rather than fail
        if self.sock is None:
            self._connect(timeout if connect_timeout is None else connect_timeout)
        assert self.sock is not None
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout
        length = b"" if body is None and method in ("GET", "HEAD", "DELETE") else (
            b"Content-Length: %d\r\n" % len(body or b""))
        self.sock.sendall(b"%s %s HTTP/1.1\r\n%s%s%s\r\n%s"
                          % (method.encode(), target.encode(), self.host_header, headers, length, body or b""))
        try:
            head = self._head()
            response = Response(head.status, head.reason, head.headers, self._body(method, head))
        except ValueError as exc:  # a number that does not parse: not the HTTP we expect
            self.close()
            raise ConnectionError(f"bad HTTP response from {self.host}:{self.port}: {exc}") from exc
        if head.close:
            self.close()
        return response

    def stream(self, method: str, target: str, headers: bytes, body: bytes | None, *,
               connect_timeout: float | None) -> tuple[Response, Iterator[bytes]]:
        """Send one request whose response is a long-lived stream (a watch): its head, and its body piece by piece.

        The pieces come as the server sends them (a chunk each, for a chunked body), with no read timeout. A
        response that is not 200 is read whole into the returned Response's body instead, with no pieces. The
        connection belongs to the stream: it is closed when the pieces end or their iterator is closed.
        """
        try:
            head = self._start(method, target, headers, body, connect_timeout=connect_timeout)
        except ValueError as exc:
            self.close()
            raise ConnectionError(f"bad HTTP response from {self.host}:{self.port}: {exc}") from exc
        if head.status != 200:
            response = Response(head.status, head.reason, head.headers, self._body(method, head))
            self.close()
            return response, iter(())
        return Response(head.status, head.reason, head.headers, b""), self._pieces(head)

    def _start(self, method: str, target: str, headers: bytes, body: bytes | None, *,
                     connect_timeout: float | None) -> _Head:
        if self.sock is None:
            self._connect(connect_timeout)
        assert self.sock is not None
        self.sock.settimeout(None)
        self.timeout = None
        self.sock.sendall(b"%s %s HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n%s"
                          % (method.encode(), target.encode(), self.host_header, headers, len(body or b""),
                             body or b""))
        return self._head()

    def _pieces(self, head: _Head) -> Iterator[bytes]:
        try:
            if head.chunked:
                while size := int(self._line().split(b";", 1)[0], 16):
                    yield self._exactly(size)
                    self._line()  # the CRLF after each chunk
            else:
                while piece := self.reader.read1(65536):
                    yield piece
        except ValueError as exc:
            raise ConnectionError(f"bad HTTP chunk from {self.host}:{self.port}: {exc}") from exc
        finally:
            self.close()

    def _connect(self, timeout: float | None) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        self.sock, self.reader, self.timeout = sock, sock.makefile("rb"), timeout

    def _line(self) -> bytes:
        line = self.reader.readline(65537)
        if not line:
            self.close()
            raise ConnectionError(f"{self.host}:{self.port} closed the connection")
        return line

    def _head(self) -> _Head:
        version, status, reason = [*self._line().split(None, 2), b"", b""][:3]
        if not version.startswith(b"HTTP/"):
            self.close()
            raise ConnectionError(f"not an HTTP response from {self.host}:{self.port}: {version[:40]!r}")
        head = _Head(int(status), reason.strip().decode("latin-1"), [], close=version == b"HTTP/1.0")
        while (line := self._line()) not in (b"\r\n", b"\n"):
            name, _, value = line.partition(b":")
            name, value = name.strip(), value.strip()
            head.headers.append((name.decode("latin-1"), value.decode("latin-1")))
            lowered = name.lower()
            if lowered == b"content-length":
                head.length = int(value)
            elif lowered == b"transfer-encoding":
                head.chunked = b"chunked" in value.lower()
            elif lowered == b"connection":
                head.close = value.lower() == b"close"
        return head

    def _body(self, method: str, head: _Head) -> bytes:
        if method == "HEAD" or head.status in (204, 304) or 100 <= head.status < 200:
            return b""
        if head.chunked:
            return self._chunked()
        if head.length is not None:
            return self._exactly(head.length)
        head.close = True
        return self.reader.read()  # delimited by the end of the connection

    def _exactly(self, size: int) -> bytes:
        data = self.reader.read(size)
        if len(data) < size:
            self.close()
            raise ConnectionError(f"{self.host}:{self.port} closed the connection in the middle of a response")
        return data

    def _chunked(self) -> bytes:
        chunks = []
        while size := int(self._line().split(b";", 1)[0], 16):
            chunks.append(self._exactly(size))
            self._line()  # the CRLF after each chunk
        while self._line() not in (b"\r\n", b"\n"):
            pass  # trailers
        return b"".join(chunks)


def closed_by_peer(sock: Any) -> bool:
    """Whether an idle keep-alive socket has become readable, which for an idle HTTP connection means closed.

    poll, not select: a busy process's descriptors can be above select's limit of 1024.
    """
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
