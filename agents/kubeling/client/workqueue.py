"""A work queue of keys, as client-go's: duplicates merge, one key is processed by one worker at a time, and
failed keys come back after a per-key exponential backoff.
"""

from __future__ import annotations

import heapq
import threading
import time


class WorkQueue:
    def __init__(self, base_delay: float = 0.005, max_delay: float = 300.0, name: str = "") -> None:
        self.name = name
        self.base_delay, self.max_delay = base_delay, max_delay
        self._queue: list[str] = []
        self._dirty: set[str] = set()  # waiting to be processed
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._waiting: list[tuple[float, int, str]] = []  # (ready time, tie-breaker, key)
        self._counter = 0
        self._cond = threading.Condition()
        self._shutting_down = False

    def add(self, key: str) -> None:
        with self._cond:
            if self._shutting_down or key in self._dirty:
                return
            self._dirty.add(key)
            if key in self._processing:
                return  # re-queued when its worker calls done()
            self._queue.append(key)
            self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutting_down:
                return
            self._counter += 1
            heapq.heappush(self._waiting, (time.monotonic() + delay, self._counter, key))
            self._cond.notify()

    def add_rate_limited(self, key: str) -> None:
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        self.add_after(key, min(self.base_delay * (2**failures), self.max_delay))

    def forget(self, key: str) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def _promote_ready(self) -> float | None:
        """Move keys whose delay has passed into the queue; return seconds until the next one is due."""
        now = time.monotonic()
        while self._waiting and self._waiting[0][0] <= now:
            _, _, key = heapq.heappop(self._waiting)
            if key not in self._dirty:
                self._dirty.add(key)
                if key not in self._processing:
                    self._queue.append(key)
        return self._waiting[0][0] - now if self._waiting else None

    def get(self, timeout: float | None = None) -> str | None:
        """The next key, or None when shut down (or when `timeout` passes with nothing to do)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                next_due = self._promote_ready()
                if self._queue:
                    key = self._queue.pop(0)
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                if self._shutting_down:
                    return None
                wait = next_due
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)
