"""The userspace proxier: a NodePort listener on 127.0.0.1 spreading connections over endpoints, in-process."""

from __future__ import annotations

import contextlib
import socket
import threading

from kubeling.proxy.userspace import UserspaceProxier


class Store:
    def __init__(self, items):
        self.items = items

    def list(self):
        return list(self.items)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def backend(reply: bytes) -> tuple[int, socket.socket]:
    """A one-line TCP server on 127.0.0.1 answering every connection with `reply`."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(100)
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], server


def ask(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"hi")
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(100):
            data += chunk
        return data


def test_node_port_connections_go_round_robin_and_follow_endpoint_changes():
    (port_a, server_a), (port_b, server_b) = backend(b"a"), backend(b"b")
    node_port = free_port()
    service = {"metadata": {"namespace": "default", "name": "web"},
               "spec": {"type": "NodePort", "clusterIP": "10.96.0.10",
                        "ports": [{"name": "http", "port": 80, "nodePort": node_port, "protocol": "TCP"}]}}

    def endpoints(*ports):
        """One EndpointSlice per backend port (both backends listen on 127.0.0.1)."""
        return [{"metadata": {"namespace": "default", "name": f"web-{p}",
                              "labels": {"kubernetes.io/service-name": "web"}},
                 "endpoints": [{"addresses": ["127.0.0.1"]}], "ports": [{"name": "http", "port": p}]}
                for p in ports]

    eps = Store(endpoints(port_a, port_b))
    proxier = UserspaceProxier(Store([service]), eps, bind_address="127.0.0.1")
    try:
        proxier.sync()
        answers = [ask(node_port) for _ in range(6)]
        assert sorted(answers) == [b"a"] * 3 + [b"b"] * 3
        eps.items = endpoints(port_b)
        proxier.sync()
        assert {ask(node_port) for _ in range(3)} == {b"b"}
        # The ClusterIP isn't an address of this host: nothing listens there, and nothing fails.
        assert ("10.96.0.10", 80) not in proxier.listeners
        eps.items = []
        proxier.sync()
        # No endpoints: the connection is closed, or reset, or already gone when we shut down our side (ENOTCONN):
        # any of these means "closed".
        with contextlib.suppress(ConnectionResetError, OSError):
            assert ask(node_port) == b""
    finally:
        proxier.close()
        for server in (server_a, server_b):
            with contextlib.suppress(OSError):
                server.close()
