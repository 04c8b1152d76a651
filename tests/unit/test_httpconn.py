"""kubeling.fastpath.httpconn against small servers on loopback that answer exactly as scripted."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from kubeling.fastpath.httpconn import Connection


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            missing = int(line.split(b":")[1]) - len(body)
            while missing > 0:
                chunk = conn.recv(missing)
                body += chunk
                missing -= len(chunk)
    return head


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """Start a one-connection server whose behaviour is `script(conn)`; gives its port."""
    listeners: list[socket.socket] = []

    def start(script: Callable[[socket.socket], None]) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                script(conn)

        threading.Thread(target=serve, daemon=True).start()
        return listener.getsockname()[1]

    yield start
    for listener in listeners:
        listener.close()


def test_keep_alive_responses_by_length_and_chunks(server) -> None:
    def script(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Thing:  a b \r\n"
                     b"Content-Length: 2\r\n\r\n{}")
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nconnection: Close\r\n\r\ngone")

    conn = Connection("127.0.0.1", server(script))
    first = conn.request("GET", "/a", b"", None, timeout=5)
    assert (first.status, first.body) == (200, b"{}")
    assert first.headers == [("Content-Type", "application/json"), ("X-Thing", "a b"), ("Content-Length", "2")]
    second = conn.request("POST", "/b", b"", b"x", timeout=5)
    assert (second.status, second.reason, second.body) == (201, "Created", b"abcde")
    third = conn.request("GET", "/c", b"", None, timeout=5)
    assert (third.status, third.body) == (404, b"gone")  # to the end of the connection, then closed
    assert conn.sock is None


def test_a_silent_server_times_out(server) -> None:
    answered = threading.Event()

    def script(conn: socket.socket) -> None:
        _read_request(conn)
        answered.wait(5)  # never answers in time

    conn = Connection("127.0.0.1", server(script))
    with pytest.raises(TimeoutError):
        conn.request("GET", "/slow", b"", None, timeout=0.2)
    answered.set()


def test_a_stream_yields_each_chunk_as_it_comes(server) -> None:
    step = threading.Event()

    def script(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
        step.wait(5)  # the client must have the first piece before the second exists
        conn.sendall(b"7\r\nsecond\n\r\n0\r\n\r\n")

    conn = Connection("127.0.0.1", server(script))
    head, pieces = conn.stream("POST", "/watch", b"", b"{}", connect_timeout=5)
    assert head.status == 200
    assert next(pieces) == b"first\n"
    step.set()
    assert list(pieces) == [b"second\n"]
    assert conn.sock is None  # the stream owned the connection


def test_a_stream_refused_gives_its_body_and_no_pieces(server) -> None:
    def script(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 17\r\n\r\n{"error":"nope"}\n')

    conn = Connection("127.0.0.1", server(script))
    head, pieces = conn.stream("POST", "/watch", b"", b"{}", connect_timeout=5)
    assert (head.status, head.body) == (400, b'{"error":"nope"}\n')
    assert list(pieces) == []


@pytest.mark.parametrize(("reply", "message"), [
    (b"", "closed the connection"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", "cut short"),
])
def test_a_reply_that_is_not_a_whole_http_head_is_a_connection_error(server, reply: bytes, message: str) -> None:
    def script(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(reply)  # and close

    conn = Connection("127.0.0.1", server(script))
    with pytest.raises(ConnectionError, match=message):
        conn.request("GET", "/", b"", None, timeout=5)
    assert conn.sock is None


def test_a_head_split_across_packets_is_read_whole(server) -> None:
    def script(conn: socket.socket) -> None:
        _read_request(conn)
        for piece in (b"HTTP/1.1 200 OK\r", b"\nContent-Length: 3\r\n\r", b"\nabc"):
            conn.sendall(piece)
            threading.Event().wait(0.02)  # separate segments: the end of the head straddles two reads

    conn = Connection("127.0.0.1", server(script))
    response = conn.request("GET", "/", b"", None, timeout=5)
    assert (response.status, response.body) == (200, b"abc")


def test_a_watch_connection_probes_a_silent_peer(server) -> None:
    """A stream has no read timeout (a watch may be quiet for hours), so its connection asks the kernel to probe a
    silent peer: a killed etcd member is noticed in about 25 s, not never."""
    step = threading.Event()

    def script(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        step.wait(5)
        conn.sendall(b"0\r\n\r\n")

    conn = Connection("127.0.0.1", server(script))
    _head, pieces = conn.stream("POST", "/watch", b"", b"{}", connect_timeout=5)
    assert conn.sock is not None
    sock = conn.sock
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    probing = (sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
               + sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
               * sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT))
    assert probing <= 30
    step.set()
    assert list(pieces) == []
