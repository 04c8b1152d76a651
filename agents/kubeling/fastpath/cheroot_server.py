"""cheroot's connection and request classes, tuned for many small requests on kept-alive connections.

The API server is plain cheroot (`apiserver/listeners.py`); it plugs these in with one line,
`server.ConnectionClass = LingeringConnection`, and works the same without it, only slower. What each class changes:

- `LingeringConnection` reads requests through `httpconn.SocketReader` (a bytearray buffer whose `readline` is one
  `find`) instead of cheroot's pure-Python reader, lets the kernel enforce a plain socket's timeout
  (`httpconn.set_kernel_timeout`), and serves a keep-alive client's next request in the same worker thread.
- `CoalescingRequest` sends a response's head together with its first body bytes, and formats the Date header
  once a second.

The upstream API server has nothing like this: Go's net/http does the same work natively. cheroot's own classes
are in cheroot/server.py (`HTTPConnection`, `HTTPRequest`); docs/benchmarks.md measures what these save.
"""

from __future__ import annotations

import email.utils
import functools
import select
import socket
import time
from typing import Any

from cheroot.makefile import MakeFile
from cheroot.server import HTTPConnection, HTTPRequest

from kubeling.fastpath.httpconn import SocketReader, set_kernel_timeout

# How long a worker waits for a keep-alive client's next request before handing the connection back (see below).
LINGER_MS = 10


class CoalescingRequest(HTTPRequest):
    """Sends a response's head together with its first body bytes: one send() instead of two.

    cheroot writes the status line and headers as soon as the first body chunk is ready, then the chunk, each
    flushed to the socket. A small response (most of the API's) then takes two segments, and the client wakes
    up twice to read it. Here the head waits in the socket writer's buffer and leaves with the next write; a
    watch's empty first write (listeners.send_headers_first) still pushes it out at once.

    This rebinds `write` on cheroot's private socket writer (`_write_buf`) for the duration of `send_headers`.
    """

    def send_headers(self) -> None:
        if not any(name.lower() == b"date" for name, _ in self.outheaders):
            self.outheaders.append((b"Date", _http_date(int(time.time()))))  # cheroot would format it anew each time
        writer = self.conn.wfile
        writer.write = writer._write_buf.extend  # held until the next real write flushes the buffer
        try:
            super().send_headers()
        finally:
            del writer.write

    def respond(self) -> None:
        super().respond()
        if self.conn.wfile._write_buf:
            self.conn.wfile.flush()  # a response without a body: its head is all there is


@functools.lru_cache(maxsize=1)
def _http_date(second: int) -> bytes:
    return email.utils.formatdate(second, usegmt=True).encode("latin-1")


class LingeringConnection(HTTPConnection):
    """Serves a keep-alive client's next request in the same worker thread when it follows within LINGER_MS.

    After each response cheroot hands an idle connection back to its selector thread, and the next request then
    costs an epoll registration, a selector wake-up and a queue hand-off to a worker. Busy clients (the
    scheduler's binding threads, controllers, benchmarks) send their next request within milliseconds, so the
    worker first waits that long for it. The wait uses no CPU, and a request that comes later is served as before.
    """

    RequestHandlerClass = CoalescingRequest

    def __init__(self, server: Any, sock: Any, makefile: Any = MakeFile) -> None:
        if isinstance(sock, socket.socket):
            set_kernel_timeout(sock, sock.gettimeout())
        super().__init__(server, sock, makefile)
        self.rfile.close()  # cheroot's reader: only lets go of the socket, which stays open
        self.rfile = SocketReader(sock, self.rbufsize)

    def communicate(self) -> bool:
        keep_open = super().communicate()
        while keep_open and self.server.ready and self._request_pending():
            keep_open = super().communicate()
        return keep_open

    def _request_pending(self) -> bool:
        if self.rfile.has_data():
            return True
        try:
            poller = select.poll()
            poller.register(self.socket, select.POLLIN)
            return bool(poller.poll(LINGER_MS))
        except (OSError, ValueError):
            return False  # closed under us: let cheroot find out as usual
