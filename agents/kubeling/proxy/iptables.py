"""The iptables proxier: turn the informer caches into rules with one `iptables-restore` per sync.

Syncs are rate limited as upstream's BoundedFrequencyRunner: at most one per `min_sync_period` (a burst of
Endpoints changes becomes one restore), at least one per `sync_period` (repairs rules someone else removed).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Gauge, Histogram

from kubeling import sysctl
from kubeling.client.informer import Store
from kubeling.proxy import rules

log = logging.getLogger(__name__)

SYNC_DURATION = Histogram("kubeproxy_sync_proxy_rules_duration_seconds", "How long one sync of the rules took")
LAST_SYNC = Gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "When the rules were last synced")
RESTORE_FAILURES = Counter("kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
                           "iptables-restore runs that failed")
SERVICE_PORTS = Gauge("kubeproxy_sync_proxy_rules_service_ports", "Service ports with rules after the last sync")


def run_iptables(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=30)


class Runner:
    """Calls `func` when `kick()`ed, no more often than `min_period`, and at least every `max_period`."""

    def __init__(self, func: Callable[[bool], None], min_period: float, max_period: float) -> None:
        self.func, self.min_period, self.max_period = func, min_period, max_period
        self._kicked = threading.Event()
        self._stop = threading.Event()

    def kick(self) -> None:
        self._kicked.set()

    def stop(self) -> None:
        self._stop.set()
        self._kicked.set()

    def run(self) -> None:
        last = 0.0
        last_full = time.monotonic()
        retry = False
        while not self._stop.is_set():
            # Sleep until kicked or the periodic sync is due; after a failure, retry at the min period.
            wait = self.min_period if retry else max(self.max_period - (time.monotonic() - last_full), 0)
            self._kicked.wait(wait)
            if self._stop.is_set():
                return
            pause = self.min_period - (time.monotonic() - last)
            if pause > 0 and self._stop.wait(pause):
                return
            self._kicked.clear()
            full = time.monotonic() - last_full >= self.max_period
            last = time.monotonic()
            try:
                self.func(full)
                retry = False
            except Exception:
                log.exception("sync failed; retrying")
                retry = True
            if full:
                last_full = last


class IptablesProxier:
    """Holds the desired state's sources (two stores) and writes the rules. Only `sync` touches iptables."""

    def __init__(self, services: Store, endpoints: Store, *, cluster_cidr: str | None, masquerade_all: bool = False,
                 iptables: str = "iptables") -> None:
        self.services, self.endpoints = services, endpoints
        self.cluster_cidr, self.masquerade_all = cluster_cidr, masquerade_all
        self.iptables = iptables
        self._applied: rules.Tables | None = None  # what the last successful restore wrote
        self._jumps_ok = False
        self.last_sync = 0.0

    def ensure_jumps(self) -> None:
        """Our chains must exist before a built-in chain may jump to them; then add each jump if it's missing."""
        for table, builtin, chain, match, comment in rules.JUMPS:
            self._run([self.iptables, "-w", "-t", table, "-N", chain], ok_codes=(0, 1))
            spec = [builtin, *match, "-m", "comment", "--comment", comment, "-j", chain]
            if self._run([self.iptables, "-w", "-t", table, "-C", *spec], ok_codes=(0, 1, 2)).returncode != 0:
                self._run([self.iptables, "-w", "-t", table, "-I", *spec])
        self._jumps_ok = True

    def sync(self, full: bool = False) -> None:
        started = time.monotonic()
        state = rules.build_state(self.services.list(), self.endpoints.list())
        tables = rules.build_tables(state, cluster_cidr=self.cluster_cidr, masquerade_all=self.masquerade_all)
        if full or self._applied is None:
            # Full: rewrite every chain, and find leftovers (e.g. of a previous run) in the kernel's own list.
            if full or not self._jumps_ok:
                self.ensure_jumps()
            existing = rules.chains_in(self._run([self.iptables + "-save", "-t", "nat"]).stdout)
            text = rules.restore_text(tables, rules.stale_chains(tables, existing))
        else:
            # Partial: only the chains that changed since our last restore; what we dropped since then is stale.
            text = rules.restore_text(tables, rules.stale_chains(tables, self._applied["nat"]), self._applied)
        if text:
            result = self._run([self.iptables + "-restore", "-w", "--noflush"], stdin=text, ok_codes=None)
            if result.returncode != 0:
                RESTORE_FAILURES.inc()
                self._applied = None  # next time: a full sync
                self._jumps_ok = False  # maybe someone deleted our chains: recreate everything
                raise RuntimeError(f"iptables-restore failed: {result.stderr.strip()}\n{numbered(text)}")
            log.info("synced %d service ports (%d endpoints) in %.0f ms (%s, %d lines)", len(state),
                     sum(len(e) for _, e in state), (time.monotonic() - started) * 1000,
                     "full" if self._applied is None or full else "partial", text.count("\n"))
        self._applied = tables
        self.last_sync = time.time()
        SYNC_DURATION.observe(time.monotonic() - started)
        LAST_SYNC.set(self.last_sync)
        SERVICE_PORTS.set(len(state))

    def _run(self, args: list[str], stdin: str | None = None,
             ok_codes: Iterable[int] | None = (0,)) -> subprocess.CompletedProcess:
        result = run_iptables(args, stdin)
        if ok_codes is not None and result.returncode not in ok_codes:
            raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
        return result


def numbered(text: str) -> str:
    return "\n".join(f"{i:4} {line}" for i, line in enumerate(text.splitlines(), 1))


def set_route_localnet() -> None:
    """NodePorts on 127.0.0.1 need the kernel to route loopback-sourced packets after DNAT (as upstream)."""
    sysctl.ensure_enabled("/proc/sys/net/ipv4/conf/all/route_localnet", "NodePorts will not answer on 127.0.0.1")
