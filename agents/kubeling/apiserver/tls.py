"""The API server's listeners: cheroot WSGI servers, one for HTTPS and optionally one for loopback plain HTTP.

Client certificates are requested but not enforced during the TLS handshake, as upstream does
(tls.RequestClientCert): a certificate from another CA, or an expired one, must get a 401 Status from the API, not a
broken handshake. Python's ssl module can only refuse such a handshake, so the secure listener uses pyOpenSSL, whose
verify callback records OpenSSL's verdict and lets the handshake go on; the authenticator (authn.py) then reads the
verdict from the request's environ.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import io
import logging
import select
import socket
import time
from typing import Any

from cheroot import errors, wsgi
from cheroot.makefile import MakeFile
from cheroot.server import HTTPConnection, HTTPRequest
from cheroot.ssl.pyopenssl import pyOpenSSLAdapter
from OpenSSL import SSL

from kubeling.apiserver.authn import LISTENER, PEER_CERTIFICATE, PeerCertificate
from kubeling.httpconn import SocketReader, set_kernel_timeout

log = logging.getLogger(__name__)

SOCKET = "kubeling.socket"  # what a watch peeks at to notice that its client hung up (handlers.py)
HTTP_REQUEST = "kubeling.http_request"  # cheroot's request, for a handler that takes the connection over (streaming.py)
# How long a worker waits for a keep-alive client's next request before handing the connection back (see below).
LINGER_MS = 10

# OpenSSL's X509_V_ERR_* codes that a client certificate most often fails with, for the log.
_VERIFY_ERRORS = {
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate (signed by an unknown authority)",
    21: "unable to verify the first certificate",
    26: "unsupported certificate purpose (not for client authentication)",
}


def _remember_verification(connection: SSL.Connection, _cert: Any, errno: int, depth: int, ok: int) -> bool:
    """OpenSSL's per-certificate verdict: keep the first failure on the connection, and accept the handshake."""
    if not ok and connection.get_app_data() is None:
        connection.set_app_data(f"{_VERIFY_ERRORS.get(errno, f'verify error {errno}')} (depth {depth})")
    return True


class TLSSocket:
    """A pyOpenSSL connection that behaves like a socket with a timeout, which is what cheroot's buffered files
    expect: OpenSSL's want-read and want-write become waits on the descriptor (cheroot's own pyOpenSSL files poll
    with sleeps, and let them escape from plain reads), a clean close reads as end of file, and TLS failures become
    the errors cheroot drops a connection on without a traceback. The handshake happens on the first read, in the
    worker thread that serves the connection, never in the thread that accepts connections.
    """

    def __init__(self, connection: SSL.Connection) -> None:
        self.connection = connection
        self._timeout: float | None = None
        connection.setblocking(False)

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        return self._timeout

    def fileno(self) -> int:
        return self.connection.fileno()

    def _io(self, call: Any, *args: Any) -> Any:
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            try:
                return call(*args)
            except SSL.WantReadError:
                self._wait(deadline, write=False)
            except SSL.WantWriteError:
                self._wait(deadline, write=True)
            except SSL.SysCallError as exc:
                errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) and exc.args[0] > 0 else 104
                raise OSError(errno, str(exc)) from None  # a reset or an unexpected EOF
            except SSL.ZeroReturnError:
                raise
            except SSL.Error as exc:
                raise errors.FatalSSLAlert(str(exc)) from None  # not TLS, or a bad handshake: drop quietly

    def _wait(self, deadline: float | None, write: bool) -> None:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError("timed out")
        fd = self.fileno()
        ready = select.select([], [fd], [], remaining) if write else select.select([fd], [], [], remaining)
        if not any(ready):
            raise TimeoutError("timed out")

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        try:
            return self._io(self.connection.recv_into, buffer, nbytes or None)
        except SSL.ZeroReturnError:
            return 0  # the client's close_notify

    def recv(self, size: int, flags: int = 0) -> bytes:
        try:
            return self._io(self.connection.recv, size)
        except SSL.ZeroReturnError:
            return b""

    def send(self, data: bytes, flags: int = 0) -> int:
        return self._io(self.connection.send, data)

    def sendall(self, data: bytes, flags: int = 0) -> None:
        view = memoryview(data)
        while view:
            view = view[self.send(view):]

    def sock_shutdown(self, how: int) -> None:
        with contextlib.suppress(SSL.Error):
            self.connection.shutdown()  # close_notify, if the socket takes it right away
        self.connection.sock_shutdown(how)

    def shutdown(self, how: int) -> None:
        self.sock_shutdown(how)

    def close(self) -> None:
        self.connection.close()  # pyOpenSSL hands this to the TCP socket

    def _decref_socketios(self) -> None:
        """socket.SocketIO calls this when a file made from a socket closes; we own no extra references."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)  # getpeername, getsockname, setsockopt, …


class TLSAdapter(pyOpenSSLAdapter):
    """cheroot's pyOpenSSL adapter with a modern context, optional client-certificate requests, and TLSSocket."""

    def __init__(self, certificate: str, private_key: str, client_ca: str | None = None) -> None:
        super().__init__(certificate, private_key)
        self.client_ca = client_ca

    def wrap(self, sock: Any) -> tuple[TLSSocket, dict[str, Any]]:
        return TLSSocket(sock), self._environ.copy()

    def makefile(self, sock: Any, mode: str = "r", bufsize: int = io.DEFAULT_BUFFER_SIZE) -> Any:
        return MakeFile(sock, mode, bufsize)

    def get_context(self) -> SSL.Context:
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.use_certificate_chain_file(self.certificate)
        context.use_privatekey_file(self.private_key)
        context.check_privatekey()
        if self.client_ca:
            context.load_verify_locations(self.client_ca)
            context.load_client_ca(self.client_ca.encode())  # tell clients which CA we take certificates from
            context.set_verify(SSL.VERIFY_PEER, _remember_verification)
            context.set_session_id(b"kubeling-apiserver")
            # No session resumption: a resumed session skips verification, so the verdict recorded for the
            # session's first connection (say, "expired") would be missing on the next one.
            context.set_options(SSL.OP_NO_TICKET)
            context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        return context


def _peer(conn: Any) -> PeerCertificate | None:
    """The client certificate of a cheroot connection, read once per connection."""
    cached = getattr(conn, "kubeling_peer", False)
    if cached is not False:
        return cached
    peer = None
    if isinstance(conn.socket, TLSSocket):
        tls = conn.socket.connection
        certificate = tls.get_peer_certificate(as_cryptography=True)
        if certificate is not None:
            peer = PeerCertificate(certificate, tls.get_app_data())
    conn.kubeling_peer = peer
    return peer


class _TLSPeek:
    """What handlers.hung_up_probe needs of a TLS connection: a fileno to select on, and a peek that tells end of
    stream apart from a live client. Peeking at the TCP socket underneath would not do: a client closing a TLS
    connection first sends a close_notify record, which would read as data forever."""

    def __init__(self, connection: SSL.Connection) -> None:
        self._connection = connection

    def fileno(self) -> int:
        return self._connection.fileno()

    def recv(self, size: int, flags: int = 0) -> bytes:
        try:
            return self._connection.recv(size, flags)
        except SSL.WantReadError:
            return b"\0"  # half a record has arrived: the client is still there
        except SSL.Error:  # close_notify, a reset, an alert: the client has gone
            return b""


def _probe_socket(conn: Any) -> Any:
    sock = conn.socket
    return _TLSPeek(sock.connection) if isinstance(sock, TLSSocket) else sock


class SecureGateway(wsgi.Gateway_10):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[LISTENER] = "secure"
        environ[SOCKET] = _probe_socket(self.req.conn)
        environ[HTTP_REQUEST] = self.req
        peer = _peer(self.req.conn)
        if peer is not None:
            environ[PEER_CERTIFICATE] = peer
        return environ


class InsecureGateway(wsgi.Gateway_10):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[LISTENER] = "insecure"
        environ[SOCKET] = _probe_socket(self.req.conn)
        environ[HTTP_REQUEST] = self.req
        return environ


class CoalescingRequest(HTTPRequest):
    """Sends a response's head together with its first body bytes: one send() instead of two.

    cheroot writes the status line and headers as soon as the first body chunk is ready, then the chunk, each
    flushed to the socket. A small response (most of the API's) then takes two segments, and the client wakes
    up twice to read it. Here the head waits in the socket writer's buffer and leaves with the next write; a
    watch's empty first write (send_headers_first) still pushes it out at once.
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
    costs an epoll registration, a selector wake-up and a queue hand-off to a worker: about 0.05 ms of CPU, an
    eighth of a small request's cost here. Busy clients (the scheduler's binding threads, controllers, benchmarks)
    send their next request within milliseconds, so the worker first waits that long for it. The wait uses no CPU,
    and a request that comes later is served as before.
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


STREAM = "kubeling.stream"  # set by a handler whose response is a long-lived stream (a watch)


def send_headers_first(app: Any) -> Any:
    """Send a stream's status and headers at once, as upstream does for watches.

    cheroot sends headers with the first non-empty chunk, so a watch on a quiet resource would leave its client
    waiting for the status line until the first event; client-go's Watch() blocks on exactly that.
    """

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        response = app(environ, start_response)
        write = environ.get("kubeling.write")
        if environ.get(STREAM) and write is not None:
            write(b"")  # cheroot: ensure_headers_sent(), then an empty (harmless) write
        return response

    def capture(environ: dict[str, Any], start_response: Any) -> Any:
        def remember(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            environ["kubeling.write"] = start_response(status, headers, exc_info)
            return environ["kubeling.write"]

        return wrapped(environ, remember)

    return capture


def make_server(host: str, port: int, app: Any, threads: int, adapter: TLSAdapter | None = None) -> wsgi.Server:
    """A thread per request or open watch (`threads` of them); watch responses stream as chunked output."""
    server = wsgi.Server((host, port), send_headers_first(app), numthreads=threads, max=threads,
                         request_queue_size=1024, timeout=60, shutdown_timeout=5, server_name="kubeling")
    server.gateway = SecureGateway if adapter is not None else InsecureGateway
    server.ConnectionClass = LingeringConnection
    # cheroot keeps only 10 idle keep-alive connections by default; every component and kubectl holds one.
    server.keep_alive_conn_limit = threads * 4
    server.error_log = _error_log
    if adapter is not None:
        server.ssl_adapter = adapter
    return server


def _error_log(msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
    """cheroot's complaints (a client that dropped its TLS handshake, …) into our log instead of bare stderr."""
    log.log(level if level > logging.INFO else logging.DEBUG, "%s", msg, exc_info=traceback)
