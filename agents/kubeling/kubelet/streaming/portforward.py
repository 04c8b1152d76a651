"""`kubectl port-forward`: TCP connections relayed into a pod's network namespace.

Each forwarded connection is a pair of streams, `data` and `error`, that share a `requestID` and name the pod's
`port`. The kubelet connects to that port *from inside the pod's network namespace* (so a server listening on
127.0.0.1 in the pod answers, as upstream's does), copies bytes both ways, and writes any failure (a closed port)
as text on that connection's error stream: the other connections go on.

Two framings carry the pairs: SPDY streams (`portforward.k8s.io`, also tunnelled through a WebSocket by kubectl
≥ 1.31) and WebSocket channels (`v4.channel.k8s.io`: the Python client's, one connection per port, data on channel
2·i and errors on 2·i+1, each channel announcing its port first as two little-endian bytes).

Upstream: `pkg/kubelet/cri/streaming/portforward/{httpstream.go,websocket.go}`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from kubeling.kubelet.streaming import spdy
from kubeling.kubelet.streaming.websocket import Channel, Channels

log = logging.getLogger(__name__)

PROTOCOL = "portforward.k8s.io"
CLONE_NEWNET = 0x40000000
STREAM_PAIR_TIMEOUT = 30.0  # upstream's streamCreationTimeout
CONNECT_TIMEOUT = 10.0

Dial = Callable[[int], socket.socket]


def dialer(netns_pid: int, pod_ip: str) -> Dial:
    """A function that connects to a port of the pod: from inside its network namespace when we may enter it,
    else (no CAP_SYS_ADMIN) to the pod's IP, which reaches every server that is not bound to loopback."""

    def dial(port: int) -> socket.socket:
        if netns_pid:
            try:
                return _connect_in_netns(netns_pid, port)
            except PermissionError as exc:
                log.debug("port-forward: cannot enter the pod's network namespace (%s); using %s", exc, pod_ip)
        if not pod_ip:
            raise ConnectionRefusedError(f"the pod has no IP to connect to port {port}")
        return socket.create_connection((pod_ip, port), timeout=CONNECT_TIMEOUT)

    return dial


def _connect_in_netns(pid: int, port: int) -> socket.socket:
    """Connect to 127.0.0.1:`port` in the network namespace of process `pid`.

    setns(2) moves only the calling thread, so a short-lived thread enters the namespace, opens the socket there
    (a socket belongs to the namespace it was created in for its whole life) and ends."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/proc/{pid}/ns/net") as ns:
                if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise PermissionError(errno, os.strerror(errno))
            result["sock"] = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=run, name="netns-dial", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    sock: socket.socket = result["sock"]
    sock.settimeout(None)
    return sock


def relay(dial: Dial, port: int, data_in: Callable[[], bytes], data_out: Callable[[bytes], None],
          end_out: Callable[[], None], report: Callable[[str], None], pod: str,
          refused: Callable[[], None] | None = None) -> None:
    """Copy one forwarded connection both ways until both directions ended; report a failure to connect, then
    `refused()` (which drops the data stream, so a client still writing to it is not left waiting)."""
    try:
        target = dial(port)
    except OSError as exc:
        report(f"error forwarding port {port} to pod {pod}: {exc.strerror or exc}")
        (refused or end_out)()
        return

    def upstream() -> None:  # client → pod
        try:
            while data := data_in():
                target.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=upstream, name="portforward-in", daemon=True)
    sender.start()
    try:
        while data := target.recv(65536):  # pod → client
            data_out(data)
    except OSError:
        pass
    finally:
        end_out()
        sender.join(5)
        target.close()


# SPDY: a pair of streams per connection

def serve_spdy(connection: spdy.Connection, dial: Dial, pod: str) -> None:
    """Accept stream pairs until the client ends the session; relay each pair in its own thread."""
    pairs: dict[str, dict[str, spdy.Stream]] = {}
    workers: list[threading.Thread] = []
    while (stream := connection.accept_stream()) is not None:
        stream.reply()
        request_id = stream.headers.get("requestid", "")
        kind = stream.headers.get("streamtype", "")
        if kind not in ("data", "error"):
            stream.reset(spdy.PROTOCOL_ERROR)
            continue
        pair = pairs.setdefault(request_id, {})
        pair[kind] = stream
        if len(pair) == 2:
            del pairs[request_id]
            worker = threading.Thread(target=_relay_pair, args=(pair["data"], pair["error"], dial, pod),
                                      name=f"portforward-{request_id}", daemon=True)
            worker.start()
            workers.append(worker)
        workers = [w for w in workers if w.is_alive()]
    for streams in pairs.values():  # half a pair when the session ended
        for stream in streams.values():
            with contextlib.suppress(OSError):
                stream.reset()
    connection.close()


def _relay_pair(data: spdy.Stream, error: spdy.Stream, dial: Dial, pod: str) -> None:
    try:
        port = int(data.headers.get("port", ""))
    except ValueError:
        _report(error, f"invalid port header {data.headers.get('port')!r}")
        data.close()
        return
    relay(dial, port, data.read, data.write, data.close, lambda message: _report(error, message), pod,
          refused=data.reset)
    with contextlib.suppress(OSError):
        error.close()


def _report(error: spdy.Stream, message: str) -> None:
    log.info("port-forward: %s", message)
    with contextlib.suppress(OSError):
        error.write(message.encode())
        error.close()


# WebSocket channels: one connection per port, for the whole session

def ports_from_query(query: dict[str, list[str]]) -> list[int]:
    """`ports=80&ports=8080` or `ports=80,8080`, each 1-65535."""
    ports: list[int] = []
    for value in query.get("ports") or []:
        for item in value.split(","):
            port = int(item)
            if not 0 < port < 65536:
                raise ValueError(f"invalid port {port}")
            ports.append(port)
    if not ports:
        raise ValueError("query parameter \"port\" is required")
    return ports


def serve_channels(channels: Channels, ports: list[int], dial: Dial, pod: str) -> None:
    workers = []
    for index, port in enumerate(ports):
        data, error = channels[2 * index], channels[2 * index + 1]
        for channel in (data, error):
            channel.write(struct.pack("<H", port))
        worker = threading.Thread(target=_relay_channel, args=(data, error, port, dial, pod),
                                  name=f"portforward-{port}", daemon=True)
        worker.start()
        workers.append(worker)
    for worker in workers:
        worker.join()
    channels.close()


def _relay_channel(data: Channel, error: Channel, port: int, dial: Dial, pod: str) -> None:
    relay(dial, port, data.read, data.write, lambda: None, lambda message: error.write(message.encode()), pod)
