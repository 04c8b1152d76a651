"""A SPDY session through the API server, opened as kubectl opens one: an HTTPS request asking to upgrade, then
our own SPDY client (`kubeling.kubelet.streaming.spdy`) on the same connection."""

from __future__ import annotations

import socket
import ssl
from typing import Any

from kubeling.kubelet.streaming import spdy


def open_spdy(plane: Any, path: str, protocols: list[str], timeout: float = 10.0) -> tuple[spdy.Connection, bytes]:
    """Upgrade `path` (with its query) on the secured API server `plane` as its admin; the SPDY session and the
    101's head. Fails the test on any other answer."""
    context = ssl.create_default_context(cafile=str(plane.ca.cert))
    context.load_cert_chain(str(plane.admin.cert), str(plane.admin.key))
    raw = socket.create_connection(("127.0.0.1", plane.secure_port), timeout=timeout)
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
    versions = "".join(f"X-Stream-Protocol-Version: {p}\r\n" for p in protocols)
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                  f"{versions}Content-Length: 0\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: what follows the head belongs to the SPDY session
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head + sock.recv(4096)
    sock.settimeout(None)
    return spdy.Connection(sock, server=False), head
