"""The kube-dns Service's endpoints: the `kubeling dns` daemons that are alive, published by the daemons themselves.

Upstream's DNS runs in pods, whose readiness the EndpointSlice controller follows. Ours are daemons on the nodes,
so they do what upstream's API servers do for the `kubernetes` Service (the lease endpoint reconciler): every daemon
holds a Lease of its own, renewed every `period` seconds, and writes one EndpointSlice listing the address of every
daemon whose Lease is current. A daemon that stops cleanly gives its Lease up at once; one whose machine died drops
out when its Lease expires, at the next renewal of any other daemon. kube-proxy then routes the Service's address
(`10.96.0.10`) to the daemons in the slice, UDP and TCP.

Upstream: pkg/controlplane/reconcilers/lease.go (leaseEndpointReconciler) and endpointsadapter.go beside it.
"""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any

from kubeling.api.endpointslices import MANAGED_BY_LABEL, SERVICE_NAME_LABEL
from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.leaderelection import micro_time

log = logging.getLogger(__name__)


LEASES = must_lookup("coordination.k8s.io", "leases")
ENDPOINT_SLICES = must_lookup("discovery.k8s.io", "endpointslices")
MANAGED_BY = "kubeling-dns"
DAEMON_LABEL = "kubeling.io/dns-daemon"  # on each daemon's Lease
PORTS = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
         {"name": "metrics", "port": 9153, "protocol": "TCP"}]


class EndpointPublisher:
    def __init__(self, client: Client, *, node: str, address: str, dns_port: int = 53, metrics_port: int = 9153,
                 service: str = "kube-dns", namespace: str = "kube-system", period: float = 10.0) -> None:
        self.client, self.node, self.address = client, node, address
        self.service, self.namespace, self.period = service, namespace, period
        self.lease_name = f"{service}-{node}"
        self.ports = [{**port, "port": dns_port if port["name"] != "metrics" else metrics_port} for port in PORTS]
        self._stop = threading.Event()

    def run(self) -> None:
        """Renew and reconcile every `period` seconds until `stop` (then the caller calls `withdraw`)."""
        while not self._stop.is_set():
            try:
                self.renew()
                self.reconcile()
            except errors.ApiError as exc:
                log.warning("publishing %s as an endpoint of %s/%s: %s", self.address, self.namespace,
                            self.service, exc)
            self._stop.wait(self.period)

    def start(self) -> EndpointPublisher:
        threading.Thread(target=self.run, name="dns-endpoints", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    # The Lease of this daemon

    def renew(self) -> None:
        lease: Obj = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.lease_name, "namespace": self.namespace,
                              "labels": {DAEMON_LABEL: self.service},
                              "annotations": {"kubeling.io/address": self.address}},
                 "spec": {"holderIdentity": self.node, "leaseDurationSeconds": int(3 * self.period),
                          "renewTime": micro_time()}}
        try:
            current = self.client.get(LEASES, self.lease_name, self.namespace)
        except errors.NotFound:
            self.client.create(LEASES, lease, self.namespace)
            return
        lease["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self.client.replace(LEASES, lease)

    def withdraw(self) -> None:
        """Leave: delete our Lease, then rewrite the slice without us."""
        try:
            self.client.delete(LEASES, self.lease_name, self.namespace)
            self.reconcile()
        except errors.ApiError as exc:
            log.info("withdrawing %s from %s/%s: %s", self.address, self.namespace, self.service, exc)

    # The EndpointSlice of every live daemon

    def live_daemons(self) -> list[tuple[str, str]]:
        """(address, node) of every daemon whose Lease is current."""
        now = datetime.datetime.now(datetime.UTC)
        leases = self.client.list(LEASES, self.namespace, label_selector=f"{DAEMON_LABEL}={self.service}")
        live = []
        for lease in leases.get("items") or []:
            spec = lease.get("spec") or {}
            renewed = _parse_time(spec.get("renewTime"))
            duration = datetime.timedelta(seconds=spec.get("leaseDurationSeconds") or 0)
            address = (lease["metadata"].get("annotations") or {}).get("kubeling.io/address")
            if address and renewed is not None and renewed + duration > now:
                live.append((address, spec.get("holderIdentity") or ""))
        return sorted(set(live))

    def reconcile(self) -> None:
        endpoints = [{"addresses": [address], "conditions": {"ready": True, "serving": True, "terminating": False},
                      "nodeName": node} for address, node in self.live_daemons()]
        desired: Obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": f"{self.service}-daemons", "namespace": self.namespace,
                                "labels": {SERVICE_NAME_LABEL: self.service, MANAGED_BY_LABEL: MANAGED_BY}},
                   "addressType": "IPv4", "endpoints": endpoints, "ports": self.ports}
        try:
            current = self.client.get(ENDPOINT_SLICES, desired["metadata"]["name"], self.namespace)
        except errors.NotFound:
            self.client.create(ENDPOINT_SLICES, desired, self.namespace)
            return
        if current.get("endpoints") == endpoints and current.get("ports") == self.ports:
            return
        desired["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self.client.replace(ENDPOINT_SLICES, desired)  # a Conflict: another daemon wrote it; next period again


def _parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
