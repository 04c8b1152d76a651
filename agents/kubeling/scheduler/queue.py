"""The scheduling queue, as upstream's PriorityQueue: active, backoff and unschedulable pods.

- *active*: pods to try now, highest priority first, then oldest first.
- *backoff*: pods that failed recently, waiting out 1 s, 2 s, 4 s … (at most 10 s) per failed attempt.
- *unschedulable*: pods no node fits. They stay parked (no hot loop) until the cluster changes in a way that
  could help (a node added or changed, a pod deleted), then go back to active, or to backoff if their backoff
  has not run out yet; and after `unschedulable_timeout` in any case, in case an event was missed.

A cluster change that happens *while* a pod is being scheduled must not be lost: if one arrives between `pop`
and `add_unschedulable`, the pod goes to backoff instead of being parked.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time


class SchedulingQueue:
    def __init__(self, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 unschedulable_timeout: float = 300.0) -> None:
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self._cond = threading.Condition()
        self._counter = itertools.count()
        self._active: list[tuple[int, float, int, str]] = []  # (-priority, queued at, tie-breaker, key)
        self._backoff: list[tuple[float, int, str]] = []  # (ready at, tie-breaker, key)
        self._where: dict[str, str] = {}  # key → "active" | "backoff" | "unschedulable"; stale heap entries skip
        self._unschedulable: dict[str, float] = {}  # key → parked at
        self._priority: dict[str, int] = {}
        self._attempts: dict[str, int] = {}
        self._last_attempt: dict[str, float] = {}
        self._first_seen: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}  # key → move counter when popped
        self._moves = 0
        self._last_flush = 0.0
        self._closed = False

    # Adding

    def add(self, key: str, priority: int = 0) -> None:
        """A new pending pod (or one whose spec changed): try it as soon as its backoff allows."""
        with self._cond:
            self._priority[key] = priority
            self._first_seen.setdefault(key, time.monotonic())
            if key in self._in_flight or self._where.get(key) == "active":
                return
            self._activate(key)

    def add_unschedulable(self, key: str) -> None:
        """No node fits: park it until something changes (or, if something already did, back off)."""
        with self._cond:
            moved = self._moves != self._in_flight.pop(key, self._moves)
            self._record_attempt(key)
            if moved:
                self._to_backoff(key)
            else:
                self._where[key] = "unschedulable"
                self._unschedulable[key] = time.monotonic()
            self._cond.notify()

    def add_backoff(self, key: str) -> None:
        """The attempt failed for another reason (an API error): retry after the pod's backoff."""
        with self._cond:
            self._in_flight.pop(key, None)
            self._record_attempt(key)
            self._to_backoff(key)
            self._cond.notify()

    def move_all(self) -> None:
        """The cluster changed in a way that may let parked pods fit: give them another try."""
        with self._cond:
            self._moves += 1
            for key in list(self._unschedulable):
                self._activate(key)
            self._cond.notify_all()

    # Removing

    def pop(self, timeout: float | None = None) -> str | None:
        """The next pod to schedule; None on timeout or close. Call `done` when the attempt is over."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                wait = self._promote()
                while self._active:
                    _, _, _, key = heapq.heappop(self._active)
                    if self._where.get(key) == "active":
                        del self._where[key]
                        self._in_flight[key] = self._moves
                        return key
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)
            return None

    def done(self, key: str) -> None:
        """The attempt ended without parking or backing off the pod (it was bound, or is gone)."""
        with self._cond:
            self._in_flight.pop(key, None)

    def delete(self, key: str) -> None:
        """The pod was bound or deleted: forget it entirely."""
        with self._cond:
            self._where.pop(key, None)
            self._unschedulable.pop(key, None)
            for table in (self._priority, self._attempts, self._last_attempt, self._first_seen):
                table.pop(key, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # Introspection

    def first_seen(self, key: str) -> float | None:
        with self._cond:
            return self._first_seen.get(key)

    def attempts(self, key: str) -> int:
        with self._cond:
            return self._attempts.get(key, 0)

    def lengths(self) -> dict[str, int]:
        with self._cond:
            counts = {"active": 0, "backoff": 0, "unschedulable": 0}
            for where in self._where.values():
                counts[where] += 1
            return counts

    # Internals (with the condition held)

    def _record_attempt(self, key: str) -> None:
        self._attempts[key] = self._attempts.get(key, 0) + 1
        self._last_attempt[key] = time.monotonic()

    def _backoff_until(self, key: str) -> float:
        attempts = self._attempts.get(key, 0)
        if attempts == 0:
            return 0.0
        delay = min(self.initial_backoff * 2 ** (attempts - 1), self.max_backoff)
        return self._last_attempt.get(key, 0.0) + delay

    def _activate(self, key: str) -> None:
        self._unschedulable.pop(key, None)
        if self._backoff_until(key) > time.monotonic():
            self._to_backoff(key)
            return
        self._where[key] = "active"
        heapq.heappush(self._active, (-self._priority.get(key, 0), self._first_seen.get(key, 0.0),
                                      next(self._counter), key))
        self._cond.notify()

    def _to_backoff(self, key: str) -> None:
        self._unschedulable.pop(key, None)
        self._where[key] = "backoff"
        heapq.heappush(self._backoff, (self._backoff_until(key), next(self._counter), key))

    def _promote(self) -> float | None:
        """Move due backoff and long-parked pods to active; seconds until the next one is due."""
        now = time.monotonic()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            if self._where.get(key) == "backoff":
                self._where[key] = "active"
                heapq.heappush(self._active, (-self._priority.get(key, 0), self._first_seen.get(key, 0.0),
                                              next(self._counter), key))
        if self._unschedulable and now - self._last_flush >= 1.0:  # a scan at most once a second
            self._last_flush = now
            for key in [k for k, since in self._unschedulable.items() if now - since >= self.unschedulable_timeout]:
                self._activate(key)
        waits = [1.0] if self._unschedulable else []
        if self._backoff:
            waits.append(self._backoff[0][0] - now)
        return max(min(waits), 0.001) if waits else None
