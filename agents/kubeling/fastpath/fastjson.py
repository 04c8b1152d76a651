"""JSON on the hot paths (request and response bodies, etcd calls and values, watch lines), through orjson.

A create passes through about seven encodes and decodes between its client, etcd and the watch hub; orjson does
each in a fraction of the standard library's time (measured in docs/benchmarks.md and bench/HISTORY.md).

Two differences from `json` show here. orjson reads an integer beyond 64 bits as a float, and refuses to write one;
`dumps` then falls back to the standard library (a YAML body can still carry such an integer). And it reads only
UTF-8, which is all the API accepts anyway.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: bytes | str) -> Any:
    """Parse JSON; bad input raises a ValueError (orjson.JSONDecodeError), as json's does."""
    return orjson.loads(data)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
