"""SPDY/3.1 frame layer: byte layouts from the draft spec, and a client session against a server session."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
import zlib

import pytest

from kubeling.kubelet.streaming import spdy

# -- frame layouts (draft-mbelshe-httpbis-spdy-00 §2.2, §2.6) ------------------------------------------------------


def test_header_dictionary_is_the_spec_one() -> None:
    assert len(spdy.HEADER_DICTIONARY) == 1423
    assert zlib.adler32(spdy.HEADER_DICTIONARY) == 0xE3C6A7C2
    assert spdy.HEADER_DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.HEADER_DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_control_frame_layout() -> None:
    # PING id 7: C bit + version 3, type 6, flags 0, length 4, then the id.
    assert spdy.control_frame(spdy.PING, 0, struct.pack(">I", 7)) == bytes.fromhex("80030006 00000004 00000007")
    # RST_STREAM stream 5 CANCEL, as a peer would read it.
    frame = spdy.control_frame(spdy.RST_STREAM, 0, struct.pack(">II", 5, spdy.CANCEL))
    assert frame == bytes.fromhex("80030003 00000008 00000005 00000005")
    assert spdy.parse_frame_header(frame[:8]) == (True, spdy.RST_STREAM, 0, 8)


def test_data_frame_layout() -> None:
    frame = spdy.data_frame(3, spdy.FLAG_FIN, b"hi")
    assert frame == bytes.fromhex("00000003 01000002") + b"hi"
    assert spdy.parse_frame_header(frame[:8]) == (False, 3, spdy.FLAG_FIN, 2)


def test_other_versions_are_refused() -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.parse_frame_header(bytes.fromhex("80020006 00000004"))


def test_header_blocks_share_one_zlib_context_per_direction() -> None:
    sender, receiver = spdy.HeaderCodec(), spdy.HeaderCodec()
    first = sender.encode({"streamType": "stdout", "port": "80"})
    # A zlib stream with a preset dictionary: FDICT set, and the dictionary's Adler-32 follows the 2-byte header.
    assert first[1] & 0x20 and struct.unpack(">I", first[2:6])[0] == 0xE3C6A7C2
    second = sender.encode({"streamtype": "stderr", "port": "80"})
    assert len(second) < len(first)  # the second block leans on the first
    assert receiver.decode(first) == {"streamtype": "stdout", "port": "80"}
    assert receiver.decode(second) == {"streamtype": "stderr", "port": "80"}
    # Decoded alone (a fresh context), the second block is not understood.
    with pytest.raises(spdy.ProtocolError):
        spdy.HeaderCodec().decode(second)


def test_header_block_layout_before_compression() -> None:
    block = spdy.HeaderCodec().encode({"a": "bc"})
    raw = zlib.decompressobj(zdict=spdy.HEADER_DICTIONARY).decompress(block)
    assert raw == struct.pack(">I", 1) + struct.pack(">I", 1) + b"a" + struct.pack(">I", 2) + b"bc"


# -- sessions over a socket pair -----------------------------------------------------------------------------------


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    server = spdy.Connection(a, server=True)
    client = spdy.Connection(b, server=False)
    yield client, server
    client.close()
    server.close()
    assert client.wait_closed(5) and server.wait_closed(5)


def _read_all(stream: spdy.Stream, timeout: float = 10) -> bytes:
    chunks = []
    while chunk := stream.read(timeout=timeout):
        chunks.append(chunk)
    return b"".join(chunks)


def test_open_accept_reply_and_half_close(pair) -> None:
    client, server = pair
    stream = client.open_stream({"streamType": "stdin"})
    accepted = server.accept_stream(timeout=5)
    assert accepted is not None and accepted.id == stream.id == 1
    assert accepted.headers == {"streamtype": "stdin"}
    accepted.reply()
    assert stream.wait_reply(5) and stream.reply_headers == {}
    stream.write(b"hello")
    stream.close()  # our half is done; the server can still answer
    assert _read_all(accepted) == b"hello"
    accepted.write(b"world")
    accepted.close()
    assert _read_all(stream) == b"world"
    with pytest.raises(ConnectionError):
        stream.write(b"after close")


def test_many_streams_each_carry_their_own_bytes(pair) -> None:
    client, server = pair

    def echo() -> None:
        while (stream := server.accept_stream(timeout=10)) is not None:
            stream.reply()
            threading.Thread(target=lambda s=stream: (s.write(_read_all(s)), s.close()), daemon=True).start()

    threading.Thread(target=echo, daemon=True).start()
    streams = [client.open_stream({"requestid": str(i)}) for i in range(40)]
    for i, stream in enumerate(streams):
        stream.write(f"stream {i} ".encode() * 100)
        stream.close()
    for i, stream in enumerate(streams):
        assert _read_all(stream) == f"stream {i} ".encode() * 100
    assert [s.id for s in streams] == list(range(1, 80, 2))


def test_large_transfer_crosses_the_window_and_waits_for_the_reader(pair) -> None:
    client, server = pair
    payload = bytes(range(256)) * 4096 * 2  # 2 MiB, 32 times the 64 KiB window
    stream = client.open_stream({"streamtype": "data"})
    accepted = server.accept_stream(timeout=5)
    accepted.reply()
    sent = threading.Event()
    threading.Thread(target=lambda: (stream.write(payload), stream.close(), sent.set()), daemon=True).start()
    time.sleep(0.3)
    # Nobody reads: the writer stops at the window, the reader side holds at most 64 KiB.
    assert not sent.is_set()
    assert len(accepted._buffer) <= spdy.DEFAULT_WINDOW
    received = _read_all(accepted)
    assert sent.wait(10)
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()


def test_reset_wakes_the_reader_and_stops_the_writer(pair) -> None:
    client, server = pair
    stream = client.open_stream({"streamtype": "data"})
    accepted = server.accept_stream(timeout=5)
    accepted.reply()
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.read(timeout=10)), daemon=True)
    reader.start()
    time.sleep(0.1)
    accepted.reset(spdy.CANCEL)
    reader.join(5)
    assert result == [b""]
    assert stream.reset_status == spdy.CANCEL
    with pytest.raises(ConnectionError):
        stream.write(b"x")
    # Other streams on the session go on.
    other = client.open_stream({"streamtype": "data"})
    accepted_other = server.accept_stream(timeout=5)
    other.write(b"still here")
    assert accepted_other.read(timeout=5) == b"still here"


def test_close_wakes_every_blocked_caller(pair) -> None:
    client, server = pair
    stream = client.open_stream({"streamtype": "stdout"})
    server.accept_stream(timeout=5)
    outcomes: list[object] = []
    waiters = [
        threading.Thread(target=lambda: outcomes.append(stream.read(timeout=10)), daemon=True),
        threading.Thread(target=lambda: outcomes.append(client.accept_stream(timeout=10)), daemon=True),
    ]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.1)
    server.close()  # GOAWAY, then the socket closes
    for waiter in waiters:
        waiter.join(5)
        assert not waiter.is_alive()
    assert sorted(outcomes, key=repr) == [None, b""]
    assert client.wait_closed(5)
    with pytest.raises(ConnectionError):
        client.open_stream({"streamtype": "stdin"})


def test_ping_is_echoed(pair) -> None:
    client, server = pair
    assert client.ping(timeout=5) is not None
    assert server.ping(timeout=5) is not None


def test_a_peer_without_flow_control_is_not_stalled() -> None:
    """spdystream (kubectl) never sends WINDOW_UPDATE: we must not stop at 64 KiB when it reads our data."""
    ours, theirs = socket.socketpair()
    conn = spdy.Connection(ours, server=True)
    codec = spdy.HeaderCodec()
    payload = struct.pack(">IIBB", 1, 0, 0, 0) + codec.encode({"streamtype": "stdout"})
    theirs.sendall(spdy.control_frame(spdy.SYN_STREAM, 0, payload))
    stream = conn.accept_stream(timeout=5)
    stream.reply()
    body = b"x" * (300 * 1024)
    writer = threading.Thread(target=lambda: (stream.write(body), stream.close()), daemon=True)
    writer.start()
    received = bytearray()
    frames = bytearray()
    theirs.settimeout(10)
    while True:
        chunk = theirs.recv(65536)
        assert chunk
        frames += chunk
        # Walk the frames read so far; stop at our DATA frame with FIN.
        offset, done = 0, False
        received.clear()
        while offset + 8 <= len(frames):
            is_control, ident, flags, length = spdy.parse_frame_header(bytes(frames[offset : offset + 8]))
            if offset + 8 + length > len(frames):
                break
            if not is_control and ident == 1:
                received += frames[offset + 8 : offset + 8 + length]
                done = done or bool(flags & spdy.FLAG_FIN)
            offset += 8 + length
        if done:
            break
    writer.join(5)
    assert bytes(received) == body
    theirs.close()
    conn.close()
