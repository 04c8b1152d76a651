"""TLS for the API server's secure listener: a pyOpenSSL adapter for cheroot, and the client's certificate.

Client certificates are requested but not enforced during the TLS handshake, as upstream does
(tls.RequestClientCert): a certificate from another CA, or an expired one, must get a 401 Status from the API, not a
broken handshake. Python's ssl module can only refuse such a handshake, so the secure listener uses pyOpenSSL, whose
verify callback records OpenSSL's verdict and lets the handshake go on; the authenticator (authn.py) then reads the
verdict from the request's environ, where listeners.py puts it.
"""

from __future__ import annotations

import contextlib
import io
import select
import time
from typing import Any

from cheroot import errors
from cheroot.makefile import MakeFile
from cheroot.ssl.pyopenssl import pyOpenSSLAdapter
from OpenSSL import SSL

from kubeling.apiserver.authn import PeerCertificate

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


def peer_certificate(conn: Any) -> PeerCertificate | None:
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


def probe_socket(conn: Any) -> Any:
    """What a watch peeks at to notice that the client of a cheroot connection hung up."""
    sock = conn.socket
    return _TLSPeek(sock.connection) if isinstance(sock, TLSSocket) else sock
