"""A small etcd v3 client over etcd's JSON gateway (`/v3/kv/*`, `/v3/watch`).

Keys and values travel base64-encoded and 64-bit integers as strings; this module hides both, so callers deal in
`str` keys, `bytes` values and `int` revisions.

Every API write and most reads make an etcd call, so the calls go over one keep-alive connection per thread and
endpoint, spoken with the little HTTP/1.1 that etcd's gateway needs (`kubeling.fastpath.httpconn`, which stands in
for `requests` to keep each call cheap; docs/benchmarks.md has the measurements). A watch stream gets a connection
of its own and reads each event's chunk with a few buffered reads instead of urllib3's chunked reader.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import ssl
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from kubeling.fastpath import fastjson
from kubeling.fastpath.httpconn import Connection

_JSON = b"Content-Type: application/json\r\n"

log = logging.getLogger(__name__)


class EtcdError(Exception):
    """etcd could not be reached or refused a request."""


class Compacted(EtcdError):
    """The requested revision has been compacted away."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"required revision has been compacted (compact revision {compact_revision})")
        self.compact_revision = compact_revision


class NoSpace(EtcdError):
    """etcd's space quota (--quota-backend-bytes) is used up: it raised the NOSPACE alarm and refuses every write
    until an operator frees space and disarms the alarm (docs/reliability.md); reads and deletions still work."""


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

    def _connection(self, index: int) -> Connection:
        """This thread's keep-alive connection to endpoint `index` (a connection is not safe to share)."""
        connections: dict[int, Connection] = self._local.__dict__.setdefault("connections", {})
        conn = connections.get(index)
        if conn is None:
            conn = connections[index] = self._new_connection(index)
        return conn

    def _new_connection(self, index: int) -> Connection:
        address = self._addresses[index]
        tls = self._tls if address.scheme == "https" else None
        return Connection(address.hostname or "127.0.0.1", address.port or 2379, tls)

    def _post(self, path: str, body: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        payload = fastjson.dumps(body)
        last_error: Exception | None = None
        for _ in range(len(self.endpoints)):
            index = self._current
            conn = self._connection(index)
            try:
                response = conn.request("POST", path, _JSON, payload, timeout=timeout or self.timeout)
            except OSError as exc:  # refused, reset, timed out, TLS failure, or not HTTP
                conn.close()
                last_error = exc
                self._fail_over(index)
                continue
            status, content = response.status, response.body
            if status != 200:
                message = _error_message(content)
                if "compacted" in message:
                    raise Compacted(0)
                if "database space exceeded" in message:
                    raise NoSpace(message)
                raise EtcdError(f"etcd {path}: {status} {message}")
            return fastjson.loads(content) if content else {}
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
        newest_first: bool = False,
    ) -> tuple[list[KeyValue], int, int, bool]:
        """Return (kvs, header revision, total count, more); `newest_first` sorts by modification revision,
        descending (with limit=1: the last change in the range)."""
        body: dict[str, Any] = {"key": _b64(key)}
        if newest_first:
            body["sort_order"], body["sort_target"] = "DESCEND", "MOD"
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

    def health(self, index: int, timeout: float = 2.0) -> tuple[bool, str]:
        """Ask endpoint `index` itself (no fail-over) for etcd's /health: (healthy, its reply or the error).
        What upstream's componentstatus probe reads for each etcd server."""
        conn = self._new_connection(index)
        try:
            response = conn.request("GET", "/health", b"", None, timeout=timeout)
        except OSError as exc:
            return False, str(exc) or type(exc).__name__
        finally:
            conn.close()
        text = response.body.decode(errors="replace").strip()
        try:
            healthy = response.status == 200 and json.loads(text).get("health") == "true"
        except (ValueError, AttributeError):
            healthy = False
        return healthy, text

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

        On success, the revision is the one the writes landed at: the new objects' mod_revision. On failure the
        `failure_reads` are read right after, not inside the transaction: a failure branch costs etcd about a tenth
        more on every transaction, while failures are rare and their callers retry or report a conflict anyway.
        """

        def op(item: Put | Delete) -> dict[str, Any]:
            if isinstance(item, Put):
                return {"request_put": {"key": _b64(item.key), "value": _b64(item.value)}}
            return {"request_delete_range": {"key": _b64(item.key)}}

        body = {"compare": [c.to_json() for c in compare], "success": [op(item) for item in success]}
        data = self._post("/v3/kv/txn", body)
        revision = int(data["header"]["revision"])
        if data.get("succeeded"):
            return True, revision, []
        if not failure_reads:
            return False, revision, []
        # One read-only transaction: the values are consistent with each other.
        reads = self._post("/v3/kv/txn", {"success": [{"request_range": {"key": _b64(key)}} for key in failure_reads]})
        current: list[KeyValue | None] = []
        for response in reads.get("responses", []):
            kvs = response.get("response_range", {}).get("kvs", [])
            current.append(_kv(kvs[0]) if kvs else None)
        return False, int(reads["header"]["revision"]), current

    def compact(self, revision: int) -> None:
        self._post("/v3/kv/compaction", {"revision": str(revision), "physical": True})

    # Watch

    def watch(
        self, prefix: str, start_revision: int, stop: threading.Event | None = None, prev_kv: bool = True
    ) -> Iterator[list[WatchEvent]]:
        """Yield batches of events for keys under `prefix` from `start_revision` on, until the stream ends.

        `prev_kv=False` leaves out each key's previous value, for a caller that keeps the current state itself:
        etcd need not read it, and each event is half the bytes to send and decode.

        Raises Compacted when `start_revision` is older than etcd's history. The stream is one long HTTP response;
        closing the generator closes it.
        """
        body = {
            "create_request": {
                "key": _b64(prefix),
                "range_end": _b64(prefix_end(prefix).encode("latin-1")),
                "start_revision": str(start_revision),
                "prev_kv": prev_kv,
            }
        }
        index = self._current
        # A connection of its own: the stream holds it for as long as it lives.
        conn = self._new_connection(index)
        try:
            head, pieces = conn.stream("POST", "/v3/watch", _JSON, fastjson.dumps(body),
                                       connect_timeout=self.timeout)
            if head.status != 200:
                raise EtcdError(f"etcd /v3/watch: {head.status} {_error_message(head.body)}")
            with contextlib.closing(pieces):
                for line in _lines(pieces):
                    if stop is not None and stop.is_set():
                        return
                    result = fastjson.loads(line).get("result", {})
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
        except OSError as exc:
            self._fail_over(index)
            raise EtcdError(f"etcd watch on {prefix} failed: {exc}") from exc
        finally:
            conn.close()


def _error_message(content: bytes) -> str:
    """What etcd's gateway said in an error response (JSON with `message` or `error`), else the raw text."""
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if isinstance(data, dict) and (data.get("message") or data.get("error")):
        return str(data.get("message") or data.get("error"))
    return content.decode(errors="replace")


def _lines(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Split a streamed body into lines as its pieces arrive."""
    pending = b""
    for piece in pieces:
        pending += piece
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if pending.strip():
        yield pending
