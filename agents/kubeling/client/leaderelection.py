"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection package.

A candidate takes the lease when it is free or has not been renewed for `lease_duration` (measured on our own
clock from when we last saw it change, so clock skew between hosts does not matter), then renews it every
`retry_period`. A leader that cannot renew within `renew_deadline` stops leading; upstream components then exit,
and so do ours, so no two processes ever act at once.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubeling.api.resources import must_lookup
from kubeling.client import errors
from kubeling.client.api import Client

log = logging.getLogger(__name__)

LEASES = must_lookup("coordination.k8s.io", "leases")


def micro_time() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: Client,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
    ) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease-duration > renew-deadline > retry-period > 0")
        self.client, self.namespace, self.name, self.identity = client, namespace, name, identity
        self.lease_duration, self.renew_deadline, self.retry_period = lease_duration, renew_deadline, retry_period
        self.on_started_leading, self.on_stopped_leading = on_started_leading, on_stopped_leading
        self._observed: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._leading = threading.Event()
        self._stop = threading.Event()

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def run(self) -> None:
        """Block: acquire, lead (calling on_started_leading in a thread), renew until lost or stopped."""
        while not self._stop.is_set():
            if self._try_acquire_or_renew():
                break
            self._stop.wait(self.retry_period)
        if self._stop.is_set():
            return
        log.info("%s became leader of %s/%s", self.identity, self.namespace, self.name)
        self._leading.set()
        if self.on_started_leading:
            threading.Thread(target=self.on_started_leading, name="leader", daemon=True).start()
        last_renew = time.monotonic()
        while not self._stop.wait(self.retry_period):
            if self._try_acquire_or_renew():
                last_renew = time.monotonic()
            elif time.monotonic() - last_renew > self.renew_deadline:
                break
        self._leading.clear()
        log.warning("%s lost the lease %s/%s", self.identity, self.namespace, self.name)
        if not self._stop.is_set():
            if self.on_stopped_leading:
                self.on_stopped_leading()
        else:
            self._release()

    def stop(self) -> None:
        self._stop.set()

    def _release(self) -> None:
        """Give the lease up on a clean shutdown, so a standby need not wait for it to expire."""
        try:
            lease = self.client.get(LEASES, self.name, self.namespace)
            if lease.get("spec", {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                self.client.replace(LEASES, lease)
        except errors.ApiError as exc:
            log.info("could not release lease: %s", exc)

    def _try_acquire_or_renew(self) -> bool:
        now = micro_time()
        try:
            lease = self.client.get(LEASES, self.name, self.namespace)
        except errors.NotFound:
            lease = None
        except errors.ApiError as exc:
            log.warning("leader election: cannot read lease: %s", exc)
            return False
        spec_wanted = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                       "acquireTime": now, "renewTime": now, "leaseTransitions": 0}
        if lease is None:
            try:
                self.client.create(LEASES, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                            "metadata": {"name": self.name, "namespace": self.namespace},
                                            "spec": spec_wanted}, self.namespace)
                return True
            except errors.ApiError as exc:
                log.info("leader election: create lost the race: %s", exc)
                return False
        spec = lease.get("spec") or {}
        if spec != self._observed:
            self._observed, self._observed_at = dict(spec), time.monotonic()
        holder = spec.get("holderIdentity") or ""
        duration = spec.get("leaseDurationSeconds") or self.lease_duration
        expired = time.monotonic() - self._observed_at > duration
        if holder and holder != self.identity and not expired:
            return False
        new_spec = dict(spec)
        if holder == self.identity:
            new_spec["renewTime"] = now
        else:
            new_spec.update(spec_wanted)
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
        new_spec["leaseDurationSeconds"] = int(self.lease_duration)
        lease["spec"] = new_spec
        try:
            updated = self.client.replace(LEASES, lease)  # carries resourceVersion: a stale write is a Conflict
        except errors.ApiError as exc:
            log.info("leader election: update failed: %s", exc)
            return False
        self._observed, self._observed_at = dict(updated.get("spec") or {}), time.monotonic()
        return True
