"""One keep-alive HTTP/1.1 client connection that speaks just the HTTP our servers answer with.

Both etcd's gateway and our API server answer every request with a body delimited by a Content-Length, by chunked
encoding, or by the end of the connection, and never ask for anything else (no 100-continue, no upgrades, no
compression unless asked for). That little HTTP is cheap to speak: a request leaves in one write, and the response
head is read with one search of a buffer instead of `http.client`'s email parser: several times less CPU per call
than `http.client`, and less again than `requests` over urllib3 (bench/HISTORY.md has the measurements). Every API
write makes an etcd call, and the scheduler makes two API calls a pod.

A connection is not safe to share between threads: keep one per thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import select
import socket
import ssl
import struct
from collections.abc import Iterator
from typing import Any

MAX_HEAD = 65536  # a response head longer than this is not one our servers send


class ConnectFailed(OSError):
    """The connection could not be made (refused, unreachable, timed out, or its TLS handshake failed)."""


@dataclasses.dataclass
class _Head:
    status: int
    reason: str
    lines: list[bytes]  # the header lines, without their CRLF
    length: int | None = None
    chunked: bool = False
    close: bool = False


@dataclasses.dataclass
class Response:
    status: int
    reason: str
    lines: list[bytes]
    body: bytes

    @property
    def headers(self) -> list[tuple[str, str]]:
        """(name, value) pairs, in the order received."""
        pairs = []
        for line in self.lines:
            name, _, value = line.partition(b":")
            pairs.append((name.strip().decode("latin-1"), value.strip().decode("latin-1")))
        return pairs


class Connection:
    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.host_header = f"Host: {host}:{port}\r\n".encode()
        self.sock: socket.socket | None = None
        self.reader: SocketReader | None = None
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
            self._set_timeout(timeout)
        self._send_request(method, target, headers, body)
        with self._parsing():
            head = self._head()
            response = Response(head.status, head.reason, head.lines, self._body(method, head))
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
        if self.sock is None:
            self._connect(connect_timeout)
        self._set_timeout(None)
        self._send_request(method, target, headers, body)
        with self._parsing():
            head = self._head()
            if head.status != 200:
                response = Response(head.status, head.reason, head.lines, self._body(method, head))
                self.close()
                return response, iter(())
        return Response(head.status, head.reason, head.lines, b""), self._pieces(head)

    def _pieces(self, head: _Head) -> Iterator[bytes]:
        try:
            with self._parsing():
                if head.chunked:
                    while size := int(self._line().split(b";", 1)[0], 16):
                        yield self._exactly(size)
                        self._line()  # the CRLF after each chunk
                else:
                    while piece := self.reader.read1(65536):
                        yield piece
        finally:
            self.close()

    @contextlib.contextmanager
    def _parsing(self) -> Iterator[None]:
        """Read a response: a number that does not parse means it is not the HTTP we expect."""
        try:
            yield
        except ValueError as exc:
            self.close()
            raise ConnectionError(f"bad HTTP response from {self.host}:{self.port}: {exc}") from exc

    def _send_request(self, method: str, target: str, headers: bytes, body: bytes | None) -> None:
        length = b"" if body is None and method in ("GET", "HEAD", "DELETE") else (
            b"Content-Length: %d\r\n" % len(body or b""))
        self._send(b"%s %s HTTP/1.1\r\n%s%s%s\r\n%s"
                   % (method.encode(), target.encode(), self.host_header, headers, length, body or b""))

    def _connect(self, timeout: float | None) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            keep_alive(sock)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        self.sock, self.reader = sock, SocketReader(sock)
        self._set_timeout(timeout)

    def _send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except BlockingIOError as exc:  # SO_SNDTIMEO ran out
            raise TimeoutError("timed out") from exc

    def _set_timeout(self, timeout: float | None) -> None:
        assert self.sock is not None
        if isinstance(self.sock, ssl.SSLSocket):
            self.sock.settimeout(timeout)  # TLS reads do not poll first: nothing to gain from kernel timeouts
        else:
            set_kernel_timeout(self.sock, timeout)
        self.timeout = timeout

    def _line(self) -> bytes:
        line = self.reader.readline(65537)
        if not line:
            self.close()
            raise ConnectionError(f"{self.host}:{self.port} closed the connection")
        return line

    def _head(self) -> _Head:
        # The whole head in one search of the buffer: a line at a time costs a Python call per header.
        block = self.reader.read_through(b"\r\n\r\n", MAX_HEAD)
        if not block.startswith(b"HTTP/"):
            self.close()
            if not block:
                raise ConnectionError(f"{self.host}:{self.port} closed the connection")
            raise ConnectionError(f"not an HTTP response from {self.host}:{self.port}: {block[:40]!r}")
        if not block.endswith(b"\r\n\r\n"):
            self.close()
            raise ConnectionError(f"{self.host}:{self.port} sent a response head that is cut short or over "
                                  f"{MAX_HEAD} bytes")
        status_line, *lines = block[:-4].split(b"\r\n")
        version, status, reason = [*status_line.split(None, 2), b"", b""][:3]
        head = _Head(int(status), reason.strip().decode("latin-1"), lines, close=version == b"HTTP/1.0")
        # Only three headers matter to the exchange: find them in the lowered block rather than splitting every line.
        lowered = block.lower()
        if (value := _header(lowered, b"content-length")) is not None:
            head.length = int(value)
        if (value := _header(lowered, b"transfer-encoding")) is not None:
            head.chunked = b"chunked" in value
        if (value := _header(lowered, b"connection")) is not None:
            head.close = value == b"close"
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


class SocketReader:
    """A buffered reader over a socket, with a `readline` that is one `find` on the buffer.

    The API server reads requests through it (cheroot's own reader is `_pyio`'s pure-Python BufferedReader: every
    header line cost eight or nine Python calls, about a tenth of what a small request cost the server), and
    Connection reads responses. It keeps a bytearray and hands out slices of it; large bodies are read straight
    from the socket in chunks, not through the buffer. On a socket with set_kernel_timeout, a recv that times out
    raises TimeoutError("timed out") as a socket with a Python timeout would.
    """

    def __init__(self, sock: Any, bufsize: int = io.DEFAULT_BUFFER_SIZE) -> None:
        self.sock = sock
        self.bufsize = max(bufsize, 8192)
        self.buf = bytearray()
        self.pos = 0
        self.bytes_read = 0
        self.closed = False

    def has_data(self) -> bool:
        return self.pos < len(self.buf)

    def _recv(self, size: int) -> bytes:
        try:
            return self.sock.recv(size)
        except BlockingIOError as exc:  # SO_RCVTIMEO ran out (see set_kernel_timeout)
            raise TimeoutError("timed out") from exc

    def _fill(self) -> bool:
        data = self._recv(self.bufsize)
        if not data:
            return False
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data
        return True

    def readline(self, size: int | None = -1) -> bytes:
        return self.read_through(b"\n", -1 if size is None else size)

    def read_through(self, marker: bytes, limit: int = -1) -> bytes:
        """The bytes up to and including the first `marker`; fewer when the stream ends or `limit` bytes pass first."""
        end = self.buf.find(marker, self.pos)
        while end < 0 and (limit < 0 or len(self.buf) - self.pos < limit):
            searched = max(len(self.buf) - self.pos - len(marker) + 1, 0)  # no marker starts in these
            if not self._fill():  # may move the unread bytes to the front: `searched` counts from self.pos
                break
            end = self.buf.find(marker, self.pos + searched)
        stop = end + len(marker) if end >= 0 else len(self.buf)
        if limit >= 0:
            stop = min(stop, self.pos + limit)
        data = bytes(self.buf[self.pos:stop])
        self.pos = stop
        self.bytes_read += len(data)
        return data

    def read1(self, size: int) -> bytes:
        """What is buffered, or else what one recv brings (b"" at the end of the stream)."""
        if not self.has_data() and not self._fill():
            return b""
        data = bytes(self.buf[self.pos:self.pos + size])
        self.pos += len(data)
        self.bytes_read += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        buffered = len(self.buf) - self.pos
        if size is None or size < 0:
            while self._fill():
                pass
            size = buffered = len(self.buf) - self.pos
        if size <= buffered:
            data = bytes(self.buf[self.pos:self.pos + size])
            self.pos += size
        else:
            chunks = [bytes(self.buf[self.pos:])]
            self.buf.clear()
            self.pos = 0
            missing = size - buffered
            while missing > 0:
                chunk = self._recv(min(missing, 65536))
                if not chunk:
                    break
                chunks.append(chunk)
                missing -= len(chunk)
            data = b"".join(chunks)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self.closed = True


# A peer that vanished without closing (its machine killed: no FIN, no RST) is noticed by TCP keepalive probes after
# KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_COUNT seconds of silence (25 s), as etcd's clients notice it by
# gRPC keepalive: without them, a watch stream on a killed etcd member would wait for ever, and the watch cache with it.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 10, 5, 3


def keep_alive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)


def set_kernel_timeout(sock: socket.socket, timeout: float | None) -> None:
    """Make a plain TCP `sock` blocking, with a timeout of `timeout` seconds (None: none) that the kernel enforces.

    For a socket with a Python timeout, Python polls before every recv and send, releasing the GIL around the poll
    and again around the call. Under load each release can hand the GIL to another thread and make this one wait
    for it back. A blocking socket does one call; when SO_RCVTIMEO or SO_SNDTIMEO runs out the call fails with
    EAGAIN, which SocketReader and Connection report as the usual TimeoutError("timed out").
    """
    sock.settimeout(None)
    seconds, fraction = divmod(timeout or 0.0, 1)
    micros = max(int(fraction * 1_000_000), 1) if timeout else 0  # (0, 0) would mean no timeout at all
    interval = struct.pack("ll", int(seconds), micros)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, interval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, interval)


def _header(block: bytes, name: bytes) -> bytes | None:
    """The value of header `name` (lower case) in `block`: a response head, lowered."""
    start = block.find(b"\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 2
    return block[start:block.index(b"\n", start)].strip()


def closed_by_peer(sock: Any) -> bool:
    """Whether an idle keep-alive socket has become readable, which for an idle HTTP connection means closed.

    poll, not select: a busy process's descriptors can be above select's limit of 1024.
    """
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
