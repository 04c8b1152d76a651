"""SPDY/3.1: how kubectl multiplexes stdin, stdout, stderr, resize and port-forward streams over one connection.

After `kubectl exec` (SPDY flavour) gets `101 Switching Protocols` with `Upgrade: SPDY/3.1`, the TCP (TLS)
connection carries SPDY frames. Each side opens *streams* (SYN_STREAM, answered by SYN_REPLY), sends DATA on them,
half-closes them with the FIN flag and aborts them with RST_STREAM. kubectl's remotecommand opens one stream per
channel (header `streamtype: stdin|stdout|stderr|error|resize`), its port-forward opens a `data` and an `error`
stream per local connection (headers `port`, `requestid`).

Spec: draft-mbelshe-httpbis-spdy-00 (SPDY/3) and the SPDY/3.1 draft (session flow control). The peer we must
interoperate with is github.com/moby/spdystream (used by client-go's `util/httpstream/spdy`), read for behaviour:
it answers PINGs and handles GOAWAY, but does no flow control at all (never sends WINDOW_UPDATE and ignores ours).
So our sender honours the peer's windows only once the peer shows it does flow control (a SETTINGS
INITIAL_WINDOW_SIZE or a WINDOW_UPDATE); our own Connection announces that with a SETTINGS frame at start, so two
kubeling ends control their flow while kubectl is never stalled after the first 64 KiB.

Frame layouts (every number big-endian)::

    control frame                              data frame
    +-+-------------+---------------+          +-+-----------------------------+
    |1| version (15)|  type (16)    |          |0|     stream id (31)          |
    +---------------+---------------+          +---------------+---------------+
    | flags (8) |   length (24)     |          | flags (8) |   length (24)     |
    +-----------+-------------------+          +-----------+-------------------+
    |          payload ...          |          |          data ...             |

One reader thread per connection parses frames and files them under their stream; callers block in
`Stream.read`, `Connection.accept_stream` and `Stream.write` (when a window is exhausted) on one condition
variable. Writes happen on the caller's thread under one lock, which also keeps the header compressor's state in
the order the frames go out.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Protocol

VERSION = 3

# Control frame types (§2.6).
SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

# Flags.
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes (§2.6.3).
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
UNSUPPORTED_VERSION = 4
CANCEL = 5
INTERNAL_ERROR = 6
FLOW_CONTROL_ERROR = 7
STREAM_IN_USE = 8
STREAM_ALREADY_CLOSED = 9
FRAME_TOO_LARGE = 11

# GOAWAY status codes (§2.6.6).
GOAWAY_OK = 0
GOAWAY_PROTOCOL_ERROR = 1

# SETTINGS ids (§2.6.4); the only one we act on.
SETTINGS_INITIAL_WINDOW_SIZE = 7

DEFAULT_WINDOW = 64 * 1024  # initial stream and session window (SPDY/3.1 §2.6.8)
MAX_DATA_CHUNK = 64 * 1024  # largest DATA payload we send in one frame (kubectl pays per frame)
MAX_FRAME_LENGTH = (1 << 24) - 1
DRAIN_SECONDS = 3.0  # how long close() waits for the peer to close its side

# The zlib dictionary every SPDY/3 header block is compressed with (§2.6.10.1): length-prefixed common header
# names and values, then a run of common status lines, dates and media types. 1423 bytes, Adler-32 0xe3c6a7c2.
_DICTIONARY_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges age "
    "allow authorization cache-control connection content-base content-encoding content-language content-length "
    "content-location content-md5 content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
    "user-agent vary via warning www-authenticate method get status |200 OK| version HTTP/1.1 url public "
    "set-cookie keep-alive origin"
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    # "|200 OK|" is the one entry with a space in it.
    head, quoted, rest = _DICTIONARY_WORDS.partition("|200 OK|")
    words = [*head.split(), quoted.strip("|"), *rest.split()]
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + _DICTIONARY_TAIL.encode()


HEADER_DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer sent something SPDY/3.1 does not allow; the session ends."""


# ---------------------------------------------------------------------------------------------------------------
# Frames: bytes <-> (type, flags, payload)
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Frame:
    """One frame as read off the wire: a control frame (`type` > 0) or a DATA frame (`type` == 0)."""

    type: int  # 0 for DATA
    flags: int
    payload: bytes
    stream_id: int = 0  # DATA frames only; control frames carry theirs in the payload


def control_frame(frame_type: int, flags: int, payload: bytes) -> bytes:
    """A control frame's bytes: the C bit, version 3, the type, flags and a 24-bit length, then the payload."""
    return struct.pack(">HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, flags: int, data: bytes) -> bytes:
    """A DATA frame's bytes: the stream id with the C bit clear, flags and a 24-bit length, then the data."""
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


def parse_frame_header(header: bytes) -> tuple[bool, int, int, int]:
    """The first 8 bytes of a frame -> (is_control, type-or-stream-id, flags, payload length)."""
    first, second = struct.unpack(">II", header)
    flags, length = second >> 24, second & 0xFFFFFF
    if first & 0x80000000:
        version = (first >> 16) & 0x7FFF
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        return True, first & 0xFFFF, flags, length
    return False, first & 0x7FFFFFFF, flags, length


class HeaderCodec:
    """Header blocks (§2.6.10): a count, then length-prefixed name/value pairs, compressed with zlib.

    One compression context per direction lives as long as the session: each block is deflated with a sync
    flush, so the peer's inflater, fed the blocks in order, gets each block whole. Values with several parts are
    joined with NUL bytes; names are lower-case.
    """

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                         HEADER_DICTIONARY)
        self._inflate = zlib.decompressobj(zdict=HEADER_DICTIONARY)

    def encode(self, headers: dict[str, str]) -> bytes:
        raw = [struct.pack(">I", len(headers))]
        for name, value in headers.items():
            for part in (name.lower().encode(), str(value).encode()):
                raw.append(struct.pack(">I", len(part)) + part)
        block = b"".join(raw)
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as exc:
            raise ProtocolError(f"bad header block: {exc}") from exc
        try:
            (count,), offset = struct.unpack_from(">I", raw), 4
            headers: dict[str, str] = {}
            for _ in range(count):
                pair = []
                for _part in range(2):
                    (size,) = struct.unpack_from(">I", raw, offset)
                    pair.append(raw[offset + 4 : offset + 4 + size].decode("utf-8", "replace"))
                    offset += 4 + size
                headers[pair[0].lower()] = pair[1]
        except struct.error as exc:
            raise ProtocolError("truncated header block") from exc
        return headers


# ---------------------------------------------------------------------------------------------------------------
# Streams and the session
# ---------------------------------------------------------------------------------------------------------------


class Stream:
    """One SPDY stream: a pair of byte pipes (ours to the peer, the peer's to us) inside the session."""

    def __init__(self, conn: Connection, stream_id: int, headers: dict[str, str]) -> None:
        self.id = stream_id
        self.headers = headers
        self.reply_headers: dict[str, str] | None = None  # the peer's SYN_REPLY, for streams we opened
        self.reset_status: int | None = None  # set when either side reset the stream
        self._conn = conn
        self._buffer = bytearray()
        self._remote_done = False  # the peer's FIN or a reset: no more data will come
        self._local_done = False  # our FIN or a reset: we send no more
        self._send_window = conn._peer_initial_window
        self._consumed = 0  # bytes read by the caller, not yet returned to the peer in a WINDOW_UPDATE

    def reply(self, headers: dict[str, str] | None = None, *, fin: bool = False) -> None:
        """Accept the peer's stream with a SYN_REPLY (kubectl waits for it before it sends data)."""
        conn = self._conn
        with conn._send_lock:
            block = conn._codec.encode(headers or {})
            conn._send(control_frame(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", self.id) + block))
        if fin:
            conn._finish_local(self)

    def wait_reply(self, timeout: float | None = None) -> bool:
        """For a stream we opened: wait for the peer's SYN_REPLY; False on timeout, reset or session end."""
        with self._conn._cond:
            self._conn._cond.wait_for(lambda: self.reply_headers is not None or self.reset_status is not None
                                      or self._conn._closed, timeout)
            return self.reply_headers is not None

    def read(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
        """Up to `max_bytes` of the peer's data; b"" once the peer half-closed or reset the stream.

        Raises TimeoutError when `timeout` passes with nothing to read.
        """
        conn = self._conn
        with conn._cond:
            if not conn._cond.wait_for(lambda: self._buffer or self._remote_done, timeout):
                raise TimeoutError(f"no data on SPDY stream {self.id}")
            data = bytes(self._buffer[:max_bytes])
            del self._buffer[: len(data)]
            self._consumed += len(data)
            conn._session_consumed += len(data)
            half = DEFAULT_WINDOW // 2
            stream_update = self._consumed if self._consumed >= half and not self._remote_done else 0
            session_update = conn._session_consumed if conn._session_consumed >= half and not conn._closed else 0
            if stream_update:
                self._consumed = 0
            if session_update:
                conn._session_consumed = 0
        # Give the window back as the caller consumes, so a flow-controlling peer can send more. The peer may
        # have closed meanwhile: then there is nobody left to tell.
        with contextlib.suppress(OSError):
            if stream_update:
                conn._send_control(WINDOW_UPDATE, 0, struct.pack(">II", self.id, stream_update))
            if session_update:
                conn._send_control(WINDOW_UPDATE, 0, struct.pack(">II", 0, session_update))
        return data

    def write(self, data: bytes) -> None:
        """Send `data` in DATA frames; blocks while a flow-controlling peer's window is empty.

        Raises ConnectionError when the stream was reset, half-closed by us, or the session ended.
        """
        conn = self._conn
        view = memoryview(data)
        while view:
            with conn._cond:
                conn._cond.wait_for(lambda: self._local_done or conn._closed or not conn._peer_flow_control
                                    or (self._send_window > 0 and conn._session_send_window > 0))
                if self._local_done or conn._closed:
                    raise ConnectionResetError(f"SPDY stream {self.id} is closed for writing")
                size = min(len(view), MAX_DATA_CHUNK)
                if conn._peer_flow_control:
                    size = min(size, self._send_window, conn._session_send_window)
                self._send_window -= size
                conn._session_send_window -= size
            conn._send(data_frame(self.id, 0, bytes(view[:size])))
            view = view[size:]

    def close(self) -> None:
        """Half-close: an empty DATA frame with FIN; the peer may go on sending until it closes too."""
        with self._conn._cond:
            if self._local_done or self._conn._closed:
                return
        with contextlib.suppress(OSError):
            self._conn._send(data_frame(self.id, FLAG_FIN, b""))
        self._conn._finish_local(self)

    def reset(self, status: int = CANCEL) -> None:
        """Abort the stream both ways with RST_STREAM; readers blocked on it get b""."""
        conn = self._conn
        with conn._cond:
            if self.reset_status is not None or conn._closed:
                return
            self.reset_status = status
            self._local_done = self._remote_done = True
            conn._forget_if_done(self)
            conn._cond.notify_all()
        with contextlib.suppress(OSError):
            conn._send_control(RST_STREAM, 0, struct.pack(">II", self.id, status))

    def __repr__(self) -> str:
        return f"<spdy.Stream {self.id} {self.headers}>"


class Socket(Protocol):
    """What a session needs of its connection: a socket, or anything that carries bytes like one (the kubelet runs
    sessions over a WebSocket tunnel too)."""

    def recv(self, size: int, /) -> bytes: ...

    def sendall(self, data: bytes, /) -> None: ...

    def shutdown(self, how: int, /) -> None: ...

    def close(self) -> None: ...


class Connection:
    """One SPDY/3.1 session over a connected socket, after the HTTP 101 response was written."""

    def __init__(self, sock: Socket, *, server: bool = True) -> None:
        self._sock = sock
        self._server = server
        self._codec = HeaderCodec()
        self._send_lock = threading.RLock()  # one frame on the wire at a time, compressor in wire order
        self._cond = threading.Condition()  # guards everything below
        self._streams: dict[int, Stream] = {}
        self._incoming: deque[Stream] = deque()
        self._next_stream_id = 2 if server else 1  # servers open even ids, clients odd (§2.3.2)
        self._last_peer_stream_id = 0
        self._next_ping_id = 2 if server else 1
        self._pongs: set[int] = set()
        self._closed = False
        self._goaway_received = False
        self._peer_flow_control = False
        self._peer_initial_window = DEFAULT_WINDOW
        self._session_send_window = DEFAULT_WINDOW
        self._session_consumed = 0
        self._rbuf = bytearray()  # bytes read off the socket; those before _rpos are already parsed
        self._rpos = 0
        # Announce that we do flow control (spdystream ignores this frame).
        self._send_control(SETTINGS, 0, struct.pack(">III", 1, SETTINGS_INITIAL_WINDOW_SIZE, DEFAULT_WINDOW))
        self._reader = threading.Thread(target=self._read_loop, name="spdy-reader", daemon=True)
        self._reader.start()

    # -- the caller's side --------------------------------------------------------------------------------------

    def accept_stream(self, timeout: float | None = None) -> Stream | None:
        """The next stream the peer opened (SYN_STREAM); None when the session ends (or `timeout` passes)."""
        with self._cond:
            self._cond.wait_for(lambda: self._incoming or self._closed or self._goaway_received, timeout)
            return self._incoming.popleft() if self._incoming else None

    def open_stream(self, headers: dict[str, str], *, fin: bool = False) -> Stream:
        """Open a stream to the peer with SYN_STREAM (the client's side: kubectl, our tests and benchmarks)."""
        with self._send_lock:
            with self._cond:
                if self._closed or self._goaway_received:
                    raise ConnectionResetError("SPDY session is closed")
                stream_id = self._next_stream_id
                self._next_stream_id += 2
                stream = Stream(self, stream_id, {k.lower(): v for k, v in headers.items()})
                self._streams[stream_id] = stream
            payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + self._codec.encode(stream.headers)
            self._send(control_frame(SYN_STREAM, FLAG_FIN if fin else 0, payload))
        if fin:
            self._finish_local(stream)
        return stream

    def ping(self, timeout: float | None = None) -> float | None:
        """Round-trip time of one PING in seconds, or None when no answer came in time."""
        with self._cond:
            ping_id = self._next_ping_id
            self._next_ping_id += 2
        start = time.monotonic()
        self._send_control(PING, 0, struct.pack(">I", ping_id))
        with self._cond:
            if not self._cond.wait_for(lambda: ping_id in self._pongs or self._closed, timeout) or self._closed:
                return None
            self._pongs.discard(ping_id)
        return time.monotonic() - start

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait for the session to end (peer closed, GOAWAY handled, or close() called); True if it has."""
        self._reader.join(timeout)
        return not self._reader.is_alive()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Say GOAWAY, stop sending, let the peer close (up to `drain_seconds`), then close the socket.

        Waking every blocked reader, writer and acceptor. The peer closing first matters: closing a TCP socket with
        the peer's bytes unread makes the kernel send a reset, and a reset can make the peer drop our last frames
        (the exit status) from its receive buffer before it read them.
        """
        with self._cond:
            already = self._closed
            last_good = self._last_peer_stream_id
        if not already:
            with contextlib.suppress(OSError):
                self._send_control(GOAWAY, 0, struct.pack(">II", last_good, GOAWAY_OK))
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)
            if threading.current_thread() is not self._reader:
                self._reader.join(drain_seconds)  # the reader ends at the peer's close
        self._shutdown()
        if threading.current_thread() is not self._reader:
            self._reader.join(5)

    # -- sending ------------------------------------------------------------------------------------------------

    def _send(self, frame: bytes) -> None:
        with self._send_lock:
            try:
                self._sock.sendall(frame)
            except OSError as exc:  # including a socket closed under us (EBADF)
                raise ConnectionResetError(f"SPDY session is closed: {exc}") from exc

    def _send_control(self, frame_type: int, flags: int, payload: bytes) -> None:
        self._send(control_frame(frame_type, flags, payload))

    # -- stream bookkeeping -------------------------------------------------------------------------------------

    def _finish_local(self, stream: Stream) -> None:
        with self._cond:
            stream._local_done = True
            self._forget_if_done(stream)
            self._cond.notify_all()

    def _forget_if_done(self, stream: Stream) -> None:
        # Called with self._cond held: a stream closed both ways is no longer addressable.
        if stream._local_done and stream._remote_done:
            self._streams.pop(stream.id, None)

    def _shutdown(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            for stream in self._streams.values():
                stream._remote_done = stream._local_done = True
            self._streams.clear()
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    # -- the reader thread --------------------------------------------------------------------------------------

    def _recv_exact(self, size: int) -> bytes | None:
        """The next `size` bytes off the socket, or None at its end. Bytes already taken are dropped from the
        buffer only when it must grow, so a burst of frames costs one move of the buffer, not one per frame."""
        while len(self._rbuf) - self._rpos < size:
            if self._rpos:
                del self._rbuf[: self._rpos]
                self._rpos = 0
            try:
                chunk = self._sock.recv(256 * 1024)
            except OSError:
                return None
            if not chunk:
                return None
            self._rbuf += chunk
        data = bytes(self._rbuf[self._rpos : self._rpos + size])
        self._rpos += size
        return data

    def _read_loop(self) -> None:
        try:
            while True:
                header = self._recv_exact(8)
                if header is None:
                    return
                is_control, kind, flags, length = parse_frame_header(header)
                payload = self._recv_exact(length) if length else b""
                if payload is None:
                    return
                if is_control:
                    self._on_control(kind, flags, payload)
                else:
                    self._on_data(kind, flags, payload)
        except ProtocolError:
            with contextlib.suppress(OSError):
                self._send_control(GOAWAY, 0, struct.pack(">II", self._last_peer_stream_id, GOAWAY_PROTOCOL_ERROR))
        except OSError:
            pass  # answering a ping or resetting a stream failed: the connection is gone
        finally:
            self._shutdown()

    def _on_data(self, stream_id: int, flags: int, data: bytes) -> None:
        session_update = 0
        with self._cond:
            stream = self._streams.get(stream_id)
            if stream is None or stream._remote_done:
                # Data for a stream we reset or forgot: drop it, but give the session window back.
                self._session_consumed += len(data)
                if self._session_consumed >= DEFAULT_WINDOW // 2:
                    session_update, self._session_consumed = self._session_consumed, 0
            else:
                stream._buffer += data
                if flags & FLAG_FIN:
                    stream._remote_done = True
                    self._forget_if_done(stream)
                self._cond.notify_all()
        if session_update:
            self._send_control(WINDOW_UPDATE, 0, struct.pack(">II", 0, session_update))

    def _on_control(self, kind: int, flags: int, payload: bytes) -> None:
        if kind == SYN_STREAM:
            self._on_syn_stream(flags, payload)
        elif kind in (SYN_REPLY, HEADERS):
            (stream_id,) = struct.unpack_from(">I", payload)
            headers = self._codec.decode(payload[4:])  # always inflate: the zlib context must stay in step
            with self._cond:
                stream = self._streams.get(stream_id & 0x7FFFFFFF)
                if stream is not None:
                    if kind == SYN_REPLY:
                        stream.reply_headers = headers
                    if flags & FLAG_FIN:
                        stream._remote_done = True
                        self._forget_if_done(stream)
                    self._cond.notify_all()
        elif kind == RST_STREAM:
            stream_id, status = struct.unpack_from(">II", payload)
            with self._cond:
                stream = self._streams.pop(stream_id & 0x7FFFFFFF, None)
                if stream is not None:
                    stream.reset_status = status
                    stream._remote_done = stream._local_done = True
                    self._cond.notify_all()
        elif kind == SETTINGS:
            self._on_settings(payload)
        elif kind == PING:
            (ping_id,) = struct.unpack_from(">I", payload)
            if ping_id % 2 != self._next_ping_id % 2:
                self._send_control(PING, 0, payload)  # the peer's ping: echo it
            else:
                with self._cond:
                    self._pongs.add(ping_id)
                    self._cond.notify_all()
        elif kind == GOAWAY:
            with self._cond:
                self._goaway_received = True
                self._cond.notify_all()
        elif kind == WINDOW_UPDATE:
            stream_id, delta = struct.unpack_from(">II", payload)
            with self._cond:
                self._peer_flow_control = True
                if stream_id == 0:
                    self._session_send_window += delta & 0x7FFFFFFF
                elif (stream := self._streams.get(stream_id & 0x7FFFFFFF)) is not None:
                    stream._send_window += delta & 0x7FFFFFFF
                self._cond.notify_all()
        # Any other type (the old NOOP, CREDENTIAL) is ignored, as the spec asks.

    def _on_syn_stream(self, flags: int, payload: bytes) -> None:
        stream_id, _associated, _priority, _slot = struct.unpack_from(">IIBB", payload)
        stream_id &= 0x7FFFFFFF
        headers = self._codec.decode(payload[10:])
        wrong_parity = stream_id % 2 == self._next_stream_id % 2
        with self._cond:
            refused = self._closed or wrong_parity or stream_id <= self._last_peer_stream_id
            if not refused:
                self._last_peer_stream_id = stream_id
                stream = Stream(self, stream_id, headers)
                stream._remote_done = bool(flags & FLAG_FIN)
                stream._local_done = bool(flags & FLAG_UNIDIRECTIONAL)
                if not (stream._remote_done and stream._local_done):
                    self._streams[stream_id] = stream
                self._incoming.append(stream)
                self._cond.notify_all()
        if refused:
            self._send_control(RST_STREAM, 0, struct.pack(">II", stream_id, PROTOCOL_ERROR))

    def _on_settings(self, payload: bytes) -> None:
        (count,) = struct.unpack_from(">I", payload)
        for index in range(count):
            flags_and_id, value = struct.unpack_from(">II", payload, 4 + 8 * index)
            if flags_and_id & 0xFFFFFF == SETTINGS_INITIAL_WINDOW_SIZE:
                with self._cond:
                    delta = value - self._peer_initial_window
                    self._peer_initial_window = value
                    self._peer_flow_control = True
                    for stream in self._streams.values():
                        stream._send_window += delta
                    self._cond.notify_all()
