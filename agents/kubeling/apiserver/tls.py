"""The API server's listeners: cheroot WSGI servers, one for HTTPS and optionally one for loopback plain HTTP.

Client certificates are requested but not enforced during the TLS handshake, as upstream does
(tls.RequestClientCert): a certificate from another CA, or an expired one, must get a 401 Status from the API, not a
broken handshake. Python's ssl module can only refuse such a handshake, so the secure listener uses pyOpenSSL, whose
verify callback records OpenSSL's verdict and lets the handshake go on; the authenticator (authn.py) then reads the
verdict from the request's environ.
"""

from __future__ import annotations

import logging
from typing import Any

from cheroot import wsgi
from cheroot.ssl.pyopenssl import pyOpenSSLAdapter
from OpenSSL import SSL

from kubeling.apiserver.authn import LISTENER, PEER_CERTIFICATE, PeerCertificate

log = logging.getLogger(__name__)

SOCKET = "kubeling.socket"  # the client's TCP socket, so a watch can notice a client that hung up

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


class TLSAdapter(pyOpenSSLAdapter):
    """cheroot's pyOpenSSL adapter with a modern context and optional client-certificate requests."""

    def __init__(self, certificate: str, private_key: str, client_ca: str | None = None) -> None:
        super().__init__(certificate, private_key)
        self.client_ca = client_ca

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
            # Needed for session resumption once client certificates are requested.
            context.set_session_id(b"kubeling-apiserver")
        return context


def _peer(conn: Any) -> PeerCertificate | None:
    """The client certificate of a cheroot connection, read once per connection."""
    cached = getattr(conn, "kubeling_peer", False)
    if cached is not False:
        return cached
    peer = None
    sock = conn.socket
    if isinstance(sock, SSL.Connection):
        certificate = sock.get_peer_certificate(as_cryptography=True)
        if certificate is not None:
            peer = PeerCertificate(certificate, sock.get_app_data())
    conn.kubeling_peer = peer
    return peer


def _tcp_socket(conn: Any) -> Any:
    """The connection's TCP socket (under pyOpenSSL's wrapper), for handlers.hung_up_probe to peek at."""
    sock = conn.socket
    return getattr(sock, "_socket", sock) if isinstance(sock, SSL.Connection) else sock


class SecureGateway(wsgi.Gateway_10):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[LISTENER] = "secure"
        environ[SOCKET] = _tcp_socket(self.req.conn)
        peer = _peer(self.req.conn)
        if peer is not None:
            environ[PEER_CERTIFICATE] = peer
        return environ


class InsecureGateway(wsgi.Gateway_10):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[LISTENER] = "insecure"
        environ[SOCKET] = _tcp_socket(self.req.conn)
        return environ


def make_server(host: str, port: int, app: Any, threads: int, adapter: TLSAdapter | None = None) -> wsgi.Server:
    """A thread per request or open watch (`threads` of them); watch responses stream as chunked output."""
    server = wsgi.Server((host, port), app, numthreads=threads, max=threads, request_queue_size=1024,
                         timeout=60, shutdown_timeout=5, server_name="kubeling")
    server.gateway = SecureGateway if adapter is not None else InsecureGateway
    # cheroot keeps only 10 idle keep-alive connections by default; every component and kubectl holds one.
    server.keep_alive_conn_limit = threads * 4
    server.error_log = _error_log
    if adapter is not None:
        server.ssl_adapter = adapter
    return server


def _error_log(msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
    """cheroot's complaints (a client that dropped its TLS handshake, …) into our log instead of bare stderr."""
    log.log(level if level > logging.INFO else logging.DEBUG, "%s", msg, exc_info=traceback)
