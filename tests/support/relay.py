"""A byte relay between a TCP address and a UNIX socket, so node containers reach a loopback-only API server.

The API server listens on the host's 127.0.0.1 only (plain HTTP is never exposed). The test runs, on the host,
`--listen unix:PATH --connect tcp:127.0.0.1:PORT`; PATH's directory is bind-mounted into each node container,
where `--listen tcp:127.0.0.1:8080 --connect unix:PATH` gives the node's agents a local API address.

Threads, one pair per connection; the whole relay ends after `--lifetime` seconds, so a test that dies can't
leave it behind for long. Usable as a module (`Relay(...).start()`) or a script (needs only Python 3).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import threading
import time


def _address(spec: str) -> tuple[int, object]:
    kind, _, rest = spec.partition(":")
    if kind == "unix":
        return socket.AF_UNIX, rest
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return socket.AF_INET, (host, int(port))
    raise ValueError(f"expected unix:PATH or tcp:HOST:PORT, got {spec!r}")


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class Relay:
    def __init__(self, listen: str, connect: str, lifetime: float = 900.0) -> None:
        self.connect_family, self.connect_address = _address(connect)
        family, address = _address(listen)
        self.listen_path = address if family == socket.AF_UNIX else None
        if self.listen_path and os.path.exists(self.listen_path):
            os.unlink(self.listen_path)
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(address)
        if self.listen_path:
            os.chmod(self.listen_path, 0o666)
        self.sock.listen(128)
        self.deadline = time.monotonic() + lifetime
        self._stopped = threading.Event()

    def start(self) -> Relay:
        threading.Thread(target=self.serve, name="relay", daemon=True).start()
        return self

    def serve(self) -> None:
        self.sock.settimeout(1.0)
        while not self._stopped.is_set() and time.monotonic() < self.deadline:
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            client.settimeout(None)
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()
        self.stop()

    def _handle(self, client: socket.socket) -> None:
        upstream = socket.socket(self.connect_family, socket.SOCK_STREAM)
        try:
            upstream.connect(self.connect_address)
        except OSError:
            client.close()
            upstream.close()
            return
        other = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        other.start()
        _pump(client, upstream)
        # Bounded: the other direction ends when the server closes; never wait past the relay's lifetime.
        other.join(max(self.deadline - time.monotonic(), 0))
        client.close()
        upstream.close()

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.listen_path:
            with contextlib.suppress(OSError):
                os.unlink(self.listen_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="unix:PATH or tcp:HOST:PORT")
    parser.add_argument("--connect", required=True, help="unix:PATH or tcp:HOST:PORT")
    parser.add_argument("--lifetime", type=float, default=900.0, help="exit after this many seconds")
    args = parser.parse_args(argv)
    relay = Relay(args.listen, args.connect, args.lifetime)
    relay.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
