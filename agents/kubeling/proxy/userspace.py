"""The userspace proxier: for hosts without iptables, a Python TCP forwarder per service port.

What works (and what doesn't) compared with upstream's userspace mode, which used iptables to redirect ClusterIP
traffic into its listeners:
- Every NodePort listens on `--bind-address`:nodePort (TCP), so NodePorts work from anywhere that reaches the node.
- A ClusterIP port is listened on only when the ClusterIP is an address of this host (bind succeeds), e.g. when
  an operator assigned it to `lo`. Without iptables nothing else can steer packets for an arbitrary ClusterIP to
  this process, so from pods ClusterIPs work only in that case.
- UDP is not proxied. Session affinity is not honoured: connections go round-robin over the ready endpoints.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading

from kubeling.client.informer import Store
from kubeling.proxy import rules

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0


class Listener:
    """One listening socket for one service port; each accepted connection is spliced to the next endpoint."""

    def __init__(self, address: str, port: int, service: str) -> None:
        self.address, self.port, self.service = address, port, service
        self.endpoints: list[rules.Endpoint] = []
        self._rr = itertools.count()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(128)
        self._closed = False
        threading.Thread(target=self._accept_loop, name=f"proxy {address}:{port}", daemon=True).start()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        endpoints = list(self.endpoints)
        # Try each endpoint once, starting from the next in turn, so one dead backend doesn't fail the client.
        start = next(self._rr)
        for i in range(len(endpoints)):
            ep = endpoints[(start + i) % len(endpoints)]
            try:
                backend = socket.create_connection((ep.ip, ep.port), timeout=CONNECT_TIMEOUT)
            except OSError as exc:
                log.info("%s: endpoint %s failed: %s", self.service, ep, exc)
                continue
            backend.settimeout(None)
            threading.Thread(target=_pump, args=(backend, client), daemon=True).start()
            _pump(client, backend)
            return
        client.close()  # no endpoints, or none answered: the client sees the connection closed


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy until EOF, then half-close the other side so the peer sees the end of the request or response."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            src.shutdown(socket.SHUT_RD)


class UserspaceProxier:
    def __init__(self, services: Store, endpoints: Store, *, bind_address: str = "0.0.0.0") -> None:
        self.services, self.endpoints = services, endpoints
        self.bind_address = bind_address
        self.listeners: dict[tuple[str, int], Listener] = {}
        self.last_sync = 0.0

    def sync(self, full: bool = False) -> None:
        import time

        wanted: dict[tuple[str, int], tuple[str, list[rules.Endpoint]]] = {}
        for sp, eps in rules.build_state(self.services.list(), self.endpoints.list()):
            if sp.protocol != "TCP":
                continue
            if sp.node_port:
                wanted[(self.bind_address, sp.node_port)] = (str(sp), eps)
            if sp.cluster_ip:
                wanted[(sp.cluster_ip, sp.port)] = (str(sp), eps)
        for key in list(self.listeners):
            if key not in wanted or self.listeners[key].service != wanted[key][0]:
                self.listeners.pop(key).close()
        for key, (service, eps) in wanted.items():
            listener = self.listeners.get(key)
            if listener is None:
                try:
                    listener = self.listeners[key] = Listener(key[0], key[1], service)
                except OSError as exc:
                    # A ClusterIP that isn't ours can't be bound: expected, see the module docstring.
                    log.debug("%s: cannot listen on %s:%d: %s", service, key[0], key[1], exc)
                    continue
            listener.endpoints = eps
        self.last_sync = time.time()

    def close(self) -> None:
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()
