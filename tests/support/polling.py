"""Polling for the end-to-end tests: every wait is bounded in time, and a timeout says what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition",
               invariant: Callable[[], None] | None = None, interval: float = 0.1) -> Any:
    """Call `check` every `interval` seconds until it returns something truthy, and return that; fail after
    `timeout` seconds. `invariant` (which asserts) runs before every check, to catch a state that must never
    occur on the way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if invariant is not None:
            invariant()
        if value := check():
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
