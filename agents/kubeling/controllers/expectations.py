"""Expectations: the pod creations and deletions a controller has asked for but not yet seen in its informer.

As upstream's UIDTrackingControllerExpectations (`pkg/controller/controller_utils.go`). A sync that runs before
the informer has caught up with its own writes must not act again, or a slow watch makes it double up; so a
controller records what it expects before writing, its event handlers count the observations down, and sync
creates or deletes only while `satisfied(key)`.

Deletions are tracked by identity (a pod key or uid, as the controller chooses), not counted: a graceful
deletion is observed twice (deletionTimestamp set, then the object gone) and must count once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

# Upstream's ExpectationsTimeout: a lost watch event must not stall a controller key forever.
EXPECTATIONS_TIMEOUT = 300.0


class Expectations:
    """Per controller key: creations still to observe, deletions still to observe, and when that was recorded."""

    def __init__(self, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.timeout = timeout
        self._records: dict[str, tuple[int, set[str], float]] = {}
        self._lock = threading.Lock()

    def expect(self, key: str, creations: int = 0, deletions: Iterable[str] = ()) -> None:
        """Replace what `key` waits for (upstream's SetExpectations / ExpectCreations / ExpectDeletions)."""
        with self._lock:
            self._records[key] = (creations, set(deletions), time.monotonic())

    def creation_observed(self, key: str) -> None:
        """A pod `key` created was seen (or one it meant to create will never be: count it down all the same)."""
        with self._lock:
            if key in self._records:
                creations, deletions, since = self._records[key]
                self._records[key] = (creations - 1, deletions, since)

    def deletion_observed(self, key: str, pod_id: str) -> None:
        """The pod `pod_id` (as given to `expect`) was seen deleting or gone; seeing it again changes nothing."""
        with self._lock:
            if key in self._records:
                self._records[key][1].discard(pod_id)

    def satisfied(self, key: str) -> bool:
        """Nothing in flight (or nothing recorded, or the record has expired): the controller may act."""
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return True
            creations, deletions, since = record
            return (creations <= 0 and not deletions) or time.monotonic() - since > self.timeout

    def forget(self, key: str) -> None:
        """The controller object is gone (upstream's DeleteExpectations)."""
        with self._lock:
            self._records.pop(key, None)
