"""The kubelet's streaming protocols without Docker: exec options from the query, WebSocket channel framing (v4 and
v5's close signal), resize messages, and port-forward's ports."""

from __future__ import annotations

import io
import socket
import threading

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Request

from kubeling.kubelet.streaming import portforward, remotecommand
from kubeling.kubelet.streaming.websocket import Channels, WebSocket


def test_options_read_the_api_servers_names_and_kubectls():
    query = {"command": ["sh", "-c", "true"], "input": ["1"], "output": ["true"], "error": ["True"]}
    options = remotecommand.Options.from_query(query, exec_=True)
    assert (options.command, options.stdin, options.stdout, options.stderr, options.tty) == (
        ["sh", "-c", "true"], True, True, True, False)
    options = remotecommand.Options.from_query({"command": ["sh"], "stdout": ["true"], "stderr": ["true"],
                                                "tty": ["true"]}, exec_=True)
    assert options.tty and options.stdout and not options.stderr  # a terminal has one output stream


@pytest.mark.parametrize(("query", "message"), [
    ({"command": ["ls"]}, "you must specify at least 1 of stdin, stdout, stderr"),
    ({"stdout": ["true"]}, "you must specify at least one command for the container"),
])
def test_options_refuse_an_impossible_session(query, message):
    with pytest.raises(remotecommand.OptionsError, match=message):
        remotecommand.Options.from_query(query, exec_=True)


def test_resizes_arrive_back_to_back_or_split():
    chunks = iter([b'{"Width":80,"Height":24}{"Wid', b'th":100,"Height":40}', b""])

    class Source:
        def read(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
            return next(chunks)

    sizes: list[tuple[int, int]] = []
    remotecommand._copy_resizes(Source(), lambda w, h: sizes.append((w, h)))
    assert sizes == [(80, 24), (100, 40)]


def test_ports_come_repeated_or_comma_separated():
    assert portforward.ports_from_query({"ports": ["80,8080", "9090"]}) == [80, 8080, 9090]
    for bad in ({"ports": ["0"]}, {"ports": ["x"]}, {}):
        with pytest.raises(ValueError):
            portforward.ports_from_query(bad)


class Client:
    """The client end of a WebSocket over a socketpair, with wsproto."""

    def __init__(self, sock: socket.socket, protocols: list[str]) -> None:
        self.sock, self.ws = sock, WSConnection(ConnectionType.CLIENT)
        sock.sendall(self.ws.send(Request(host="kubelet", target="/exec", subprotocols=protocols)))

    def events(self) -> list:
        self.ws.receive_data(self.sock.recv(65536) or None)
        return list(self.ws.events())

    def send(self, data: bytes) -> None:
        self.sock.sendall(self.ws.send(BytesMessage(data=data)))


def serve(protocols_offered: list[str]) -> tuple[Client, WebSocket, str]:
    server_sock, client_sock = socket.socketpair()
    client = Client(client_sock, protocols_offered)
    head = b""
    while b"\r\n\r\n" not in head:
        head += server_sock.recv(1)
    ws = WebSocket(io.BufferedReader(socket.SocketIO(server_sock, "rb")), server_sock)
    chosen = ws.accept(head, lambda asked: next((p for p in remotecommand.WEBSOCKET_PROTOCOLS if p in asked), None))
    return client, ws, chosen


def test_the_newest_common_protocol_is_chosen_and_channels_carry_their_bytes():
    client, ws, chosen = serve(["v4.channel.k8s.io", "v5.channel.k8s.io"])
    assert chosen == "v5.channel.k8s.io"
    assert isinstance(client.events()[0], AcceptConnection)
    channels = Channels(ws, 5, close_signal=True).start()
    client.send(b"\x00hello ")
    client.send(b"\x00world")
    client.send(b"\xff\x00")  # v5: the client closed stdin
    stdin = channels[remotecommand.STDIN]
    assert stdin.read(timeout=5) + stdin.read(timeout=5) == b"hello world"
    assert stdin.read(timeout=5) == b""
    channels[remotecommand.STDOUT].write(b"out")
    events = []
    while not events:
        events = client.events()
    assert isinstance(events[0], BytesMessage) and events[0].data == b"\x01out"
    closer = threading.Thread(target=channels.close)
    closer.start()
    events = []
    while not any(isinstance(e, CloseConnection) for e in events):
        events += client.events()
    client.sock.sendall(client.ws.send(next(e for e in events if isinstance(e, CloseConnection)).response()))
    closer.join(5)
    assert channels.done.wait(5)  # the reader saw the end


def test_a_client_offering_nothing_we_speak_is_refused():
    from kubeling.kubelet.streaming.websocket import HandshakeError

    with pytest.raises(HandshakeError, match="not supported"):
        serve(["base64.channel.k8s.io"])
