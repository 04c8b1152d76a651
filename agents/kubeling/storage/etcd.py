"""A small etcd v3 client over etcd's JSON gateway (`/v3/kv/*`, `/v3/watch`).

Keys and values travel base64-encoded and 64-bit integers as strings; this module hides both, so callers deal in
`str` keys, `bytes` values and `int` revisions.

Every API write and most reads make an etcd call, so the calls go over one keep-alive connection per thread and
endpoint, spoken with the little HTTP/1.1 that etcd's gateway needs (`_Connection`): a call then costs about 0.04 ms
of CPU, against 0.17 ms with `http.client` and 0.7 ms with `requests`. Watch streams, few and long-lived (and
measured to cost the same either way), use `requests`.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import select
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

import requests

log = logging.getLogger(__name__)


class EtcdError(Exception):
    """etcd could not be reached or refused a request."""


class Compacted(EtcdError):
    """The requested revision has been compacted away."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"required revision has been compacted (compact revision {compact_revision})")
        self.compact_revision = compact_revision


@dataclasses.dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    type: str  # "PUT" or "DELETE"
    kv: KeyValue  # for DELETE: only key and mod_revision (the deletion revision) are set
    prev_kv: KeyValue | None


@dataclasses.dataclass(frozen=True)
class Compare:
    """One txn guard: `target` is MOD, VERSION or CREATE; `result` EQUAL, GREATER, LESS or NOT_EQUAL."""

    key: str
    target: str
    value: int
    result: str = "EQUAL"

    def to_json(self) -> dict[str, Any]:
        field = {"MOD": "mod_revision", "VERSION": "version", "CREATE": "create_revision"}[self.target]
        return {"key": _b64(self.key), "target": self.target, "result": self.result, field: str(self.value)}


@dataclasses.dataclass(frozen=True)
class Put:
    key: str
    value: bytes


@dataclasses.dataclass(frozen=True)
class Delete:
    key: str


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _kv(raw: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=_unb64(raw.get("key")).decode(),
        value=_unb64(raw.get("value")),
        create_revision=int(raw.get("create_revision", 0)),
        mod_revision=int(raw.get("mod_revision", 0)),
        version=int(raw.get("version", 0)),
    )


def prefix_end(prefix: str) -> str:
    """The range end that selects every key starting with `prefix` (etcd's `--prefix`)."""
    raw = bytearray(prefix.encode())
    while raw:
        if raw[-1] < 0xFF:
            raw[-1] += 1
            return raw.decode("latin-1")
        raw.pop()
    return "\0"


class EtcdClient:
    """Talks to one or more etcd endpoints; fails over to the next endpoint on connection errors."""

    def __init__(self, endpoints: Sequence[str], timeout: float = 10.0, *, ca_file: str | None = None,
                 cert_file: str | None = None, key_file: str | None = None) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.timeout = timeout
        self.verify: bool | str = ca_file or True  # for the watch streams (requests)
        self.cert: tuple[str, str] | None = (cert_file, key_file or cert_file) if cert_file else None
        self._current = 0
        self._local = threading.local()
        self._addresses = [urllib.parse.urlsplit(e) for e in self.endpoints]
        # https endpoints: etcd's certificate is checked against ca_file (else the system CAs), and we present a
        # client certificate when etcd asks for one (--client-cert-auth).
        self._tls: ssl.SSLContext | None = None
        if any(a.scheme == "https" for a in self._addresses):
            self._tls = ssl.create_default_context(cafile=ca_file)
            if cert_file:
                self._tls.load_cert_chain(cert_file, key_file or cert_file)

    def _fail_over(self, index: int) -> None:
        """Endpoint `index` failed: later calls start at the next one."""
        if self._current == index:
            self._current = (index + 1) % len(self.endpoints)

    def _connection(self, index: int) -> _Connection:
        """This thread's keep-alive connection to endpoint `index` (a connection is not safe to share)."""
        connections: dict[int, _Connection] = self._local.__dict__.setdefault("connections", {})
        conn = connections.get(index)
        if conn is None:
            address = self._addresses[index]
            tls = self._tls if address.scheme == "https" else None
            conn = connections[index] = _Connection(address.hostname or "127.0.0.1", address.port or 2379, tls)
        return conn

    def _post(self, path: str, body: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        payload = json.dumps(body).encode()
        last_error: Exception | None = None
        for _ in range(len(self.endpoints)):
            index = self._current
            conn = self._connection(index)
            try:
                status, content = conn.post(path, payload, timeout or self.timeout)
            except OSError as exc:  # refused, reset, timed out, TLS failure, or not HTTP
                conn.close()
                last_error = exc
                self._fail_over(index)
                continue
            if status != 200:
                message = _error_message(content)
                if "compacted" in message:
                    raise Compacted(0)
                raise EtcdError(f"etcd {path}: {status} {message}")
            return json.loads(content) if content else {}
        raise EtcdError(f"etcd unreachable at {', '.join(self.endpoints)}: {last_error}")

    # Reads

    def range(
        self,
        key: str,
        range_end: str | None = None,
        *,
        limit: int = 0,
        revision: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
    ) -> tuple[list[KeyValue], int, int, bool]:
        """Return (kvs, header revision, total count, more)."""
        body: dict[str, Any] = {"key": _b64(key)}
        if range_end is not None:
            body["range_end"] = _b64(range_end.encode("latin-1"))
        if limit:
            body["limit"] = str(limit)
        if revision:
            body["revision"] = str(revision)
        if keys_only:
            body["keys_only"] = True
        if count_only:
            body["count_only"] = True
        data = self._post("/v3/kv/range", body)
        kvs = [_kv(raw) for raw in data.get("kvs", [])]
        return kvs, int(data["header"]["revision"]), int(data.get("count", 0)), bool(data.get("more", False))

    def get(self, key: str) -> tuple[KeyValue | None, int]:
        kvs, revision, _, _ = self.range(key)
        return (kvs[0] if kvs else None), revision

    def revision(self) -> int:
        """The store's current revision."""
        _, revision, _, _ = self.range("\0", count_only=True)
        return revision

    # Writes

    def put(self, key: str, value: bytes) -> int:
        data = self._post("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})
        return int(data["header"]["revision"])

    def delete_prefix(self, prefix: str) -> int:
        end = _b64(prefix_end(prefix).encode("latin-1"))
        data = self._post("/v3/kv/deleterange", {"key": _b64(prefix), "range_end": end})
        return int(data.get("deleted", 0))

    def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Put | Delete],
        failure_reads: Sequence[str] = (),
    ) -> tuple[bool, int, list[KeyValue | None]]:
        """Run a transaction; return (succeeded, header revision, current values of `failure_reads` on failure).

        On success, the revision is the one the writes landed at: the new objects' mod_revision.
        """

        def op(item: Put | Delete) -> dict[str, Any]:
            if isinstance(item, Put):
                return {"request_put": {"key": _b64(item.key), "value": _b64(item.value)}}
            return {"request_delete_range": {"key": _b64(item.key)}}

        body = {
            "compare": [c.to_json() for c in compare],
            "success": [op(item) for item in success],
            "failure": [{"request_range": {"key": _b64(key)}} for key in failure_reads],
        }
        data = self._post("/v3/kv/txn", body)
        revision = int(data["header"]["revision"])
        if data.get("succeeded"):
            return True, revision, []
        current: list[KeyValue | None] = []
        for response in data.get("responses", []):
            kvs = response.get("response_range", {}).get("kvs", [])
            current.append(_kv(kvs[0]) if kvs else None)
        return False, revision, current

    def compact(self, revision: int) -> None:
        self._post("/v3/kv/compaction", {"revision": str(revision), "physical": True})

    # Watch

    def watch(
        self, prefix: str, start_revision: int, stop: threading.Event | None = None
    ) -> Iterator[list[WatchEvent]]:
        """Yield batches of events for keys under `prefix` from `start_revision` on, until the stream ends.

        Raises Compacted when `start_revision` is older than etcd's history. The stream is one long HTTP response;
        closing the generator closes it.
        """
        body = {
            "create_request": {
                "key": _b64(prefix),
                "range_end": _b64(prefix_end(prefix).encode("latin-1")),
                "start_revision": str(start_revision),
                "prev_kv": True,
            }
        }
        index = self._current
        url = self.endpoints[index] + "/v3/watch"
        try:
            # A fresh session: the stream holds its connection for as long as it lives.
            with requests.post(url, data=json.dumps(body), stream=True, timeout=(self.timeout, None),
                               verify=self.verify, cert=self.cert) as resp:
                for line in _lines(resp):
                    if stop is not None and stop.is_set():
                        return
                    result = json.loads(line).get("result", {})
                    if result.get("canceled"):
                        compact = int(result.get("compact_revision", 0))
                        if compact:
                            raise Compacted(compact)
                        raise EtcdError(f"etcd cancelled the watch: {result.get('cancel_reason', '')}")
                    events = [
                        WatchEvent(
                            type=raw.get("type", "PUT"),
                            kv=_kv(raw["kv"]),
                            prev_kv=_kv(raw["prev_kv"]) if raw.get("prev_kv") else None,
                        )
                        for raw in result.get("events", [])
                    ]
                    if events:
                        yield events
        except requests.RequestException as exc:
            self._fail_over(index)
            raise EtcdError(f"etcd watch on {prefix} failed: {exc}") from exc


class _Connection:
    """One keep-alive HTTP/1.1 connection to an etcd endpoint, with just the HTTP that etcd's gateway speaks.

    Compared with `http.client`, a request leaves in one write instead of two, and the response headers are read
    with a few `readline`s instead of the email package: together that is three quarters of the client's CPU. The
    body comes with a Content-Length or, when large, chunked.
    """

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.sock: socket.socket | None = None
        self.reader: Any = None
        self.timeout: float | None = None
        self.headers = f"Host: {host}:{port}\r\nContent-Type: application/json\r\n".encode()

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = self.reader = None

    def post(self, path: str, payload: bytes, timeout: float) -> tuple[int, bytes]:
        """Send one request and read its whole response: (status, body). Raises OSError when that fails."""
        if self.sock is not None and _closed_by_peer(self.sock):
            self.close()  # etcd closed it while idle (a restart, say): reconnect rather than fail
        if self.sock is None:
            sock = socket.create_connection((self.host, self.port), timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            self.sock, self.reader, self.timeout = sock, sock.makefile("rb"), timeout
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout
        self.sock.sendall(b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s"
                          % (path.encode(), self.headers, len(payload), payload))
        try:
            return self._response()
        except ValueError as exc:  # a number that does not parse: not the HTTP we expect
            raise ConnectionError(f"bad response from etcd: {exc}") from exc

    def _line(self) -> bytes:
        line = self.reader.readline(65537)
        if not line:
            raise ConnectionError("etcd closed the connection")
        return line

    def _response(self) -> tuple[int, bytes]:
        version, status, *_ = [*self._line().split(None, 2), b"", b""]
        if not version.startswith(b"HTTP/"):
            raise ConnectionError(f"not an HTTP response from etcd: {version[:40]!r}")
        length, chunked, close = None, False, version == b"HTTP/1.0"
        while (line := self._line()) not in (b"\r\n", b"\n"):
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection":
                close = value == b"close"
        if chunked:
            body = self._chunked()
        elif length is not None:
            body = self._exactly(length)
        else:
            body, close = self.reader.read(), True  # delimited by the end of the connection
        if close:
            self.close()
        return int(status), body

    def _exactly(self, size: int) -> bytes:
        data = self.reader.read(size)
        if len(data) < size:
            raise ConnectionError("etcd closed the connection in the middle of a response")
        return data

    def _chunked(self) -> bytes:
        chunks = []
        while size := int(self._line().split(b";", 1)[0], 16):
            chunks.append(self._exactly(size))
            self._line()  # the CRLF after each chunk
        while self._line() not in (b"\r\n", b"\n"):
            pass  # trailers
        return b"".join(chunks)


def _error_message(content: bytes) -> str:
    """What etcd's gateway said in an error response (JSON with `message` or `error`), else the raw text."""
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if isinstance(data, dict) and (data.get("message") or data.get("error")):
        return str(data.get("message") or data.get("error"))
    return content.decode(errors="replace")


def _closed_by_peer(sock: Any) -> bool:
    """Whether an idle keep-alive socket has become readable, which for an idle HTTP connection means closed.

    poll, not select: a busy server's descriptors can be above select's limit of 1024.
    """
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _lines(resp: requests.Response) -> Iterator[bytes]:
    """Split a streamed response into lines as chunks arrive (iter_lines would wait to fill its buffer)."""
    pending = b""
    for chunk in resp.iter_content(chunk_size=None):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if pending.strip():
        yield pending
