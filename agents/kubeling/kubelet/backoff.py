"""Per-key exponential back-off, as upstream's `flowcontrol.Backoff` that the kubelet uses for crash loops and
image pulls: 10 s doubling to 5 min, forgotten once a key has been quiet for twice the maximum.
"""

from __future__ import annotations

import threading
import time


class Backoff:
    def __init__(self, initial: float = 10.0, maximum: float = 300.0, clock=time.time) -> None:
        self.initial, self.maximum, self.clock = initial, maximum, clock
        self._entries: dict[str, tuple[float, float]] = {}  # key → (current delay, last update)
        self._lock = threading.Lock()

    def _expired(self, event_time: float, last_update: float) -> bool:
        # Upstream calls a key stable when the event comes twice the maximum after the last back-off.
        return event_time - last_update > 2 * self.maximum

    def get(self, key: str) -> float:
        with self._lock:
            return self._entries.get(key, (0.0, 0.0))[0]

    def next(self, key: str, event_time: float) -> None:
        """Record another failure at `event_time`: start at `initial`, or double (capped)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry[1]):
                delay = self.initial
            else:
                delay = min(entry[0] * 2, self.maximum)
            self._entries[key] = (delay, self.clock())

    def remaining_since(self, key: str, event_time: float) -> float:
        """Seconds still to wait counting from `event_time` (a container's finish); 0 when not in back-off."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry[1]):
                return 0.0
            return max(0.0, entry[0] - (self.clock() - event_time))

    def remaining_since_update(self, key: str) -> float:
        """Seconds still to wait counting from the last failure (image pulls)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return 0.0
            return max(0.0, entry[0] - (self.clock() - entry[1]))

    def reset(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        """Drop every key of one pod (keys start with its uid)."""
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[key]

    def gc(self) -> None:
        now = self.clock()
        with self._lock:
            for key in [k for k, (_, last) in self._entries.items() if self._expired(now, last)]:
                del self._entries[key]

