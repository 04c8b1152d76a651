"""Node IPAM: give every node a pod CIDR carved out of --cluster-cidr (upstream's range allocator).

One worker only: allocation is read-modify-write on an in-memory bitmap, and a second worker could hand the same
range to two nodes before either write shows up in the cache.
"""

from __future__ import annotations

import ipaddress
import logging
import threading

from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory
from kubeling.controllers.options import NodeIpamOptions

log = logging.getLogger(__name__)

NODES = must_lookup("", "nodes")


class RangeFull(Exception):
    """Every subnet of the cluster CIDR is taken."""


class CidrAllocator:
    """The /`mask` subnets of `cluster_cidr`, numbered 0..n-1; hands out the next free one after the last given."""

    def __init__(self, cluster_cidr: str, mask: int) -> None:
        self.network = ipaddress.ip_network(cluster_cidr, strict=False)
        if mask < self.network.prefixlen or mask > self.network.max_prefixlen:
            raise ValueError(f"node CIDR mask /{mask} does not fit in cluster CIDR {self.network}")
        self.mask = mask
        self.size = 2 ** (mask - self.network.prefixlen)
        self._step = 2 ** (self.network.max_prefixlen - mask)
        self._used: set[int] = set()
        self._next = 0
        self._lock = threading.Lock()

    def _index(self, cidr: str) -> int | None:
        """The subnet number of `cidr`, or None when it is not one of ours (another range, another mask)."""
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None
        if net.version != self.network.version or net.prefixlen != self.mask or net.network_address not in self.network:
            return None
        return (int(net.network_address) - int(self.network.network_address)) // self._step

    def _cidr(self, index: int) -> str:
        address = ipaddress.ip_address(int(self.network.network_address) + index * self._step)
        return f"{address}/{self.mask}"

    def occupy(self, cidr: str) -> bool:
        """Mark a range as used (it was handed out before); False when it is outside our range."""
        index = self._index(cidr)
        if index is None:
            return False
        with self._lock:
            self._used.add(index)
        return True

    def release(self, cidr: str) -> None:
        index = self._index(cidr)
        if index is not None:
            with self._lock:
                self._used.discard(index)

    def allocate(self) -> str:
        with self._lock:
            for offset in range(self.size):
                index = (self._next + offset) % self.size
                if index not in self._used:
                    self._used.add(index)
                    self._next = (index + 1) % self.size
                    return self._cidr(index)
        raise RangeFull(f"no free /{self.mask} left in {self.network}")

    def used(self) -> int:
        with self._lock:
            return len(self._used)


def pod_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = list(spec.get("podCIDRs") or [])
    if spec.get("podCIDR") and spec["podCIDR"] not in cidrs:
        cidrs.insert(0, spec["podCIDR"])
    return cidrs


class NodeIpamController(Controller):
    name = "nodeipam"
    workers = 1

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: NodeIpamOptions | None = None) -> None:
        super().__init__(client, informers, recorder)
        options = options or NodeIpamOptions()
        self.enabled = options.allocate_node_cidrs
        self.allocator = CidrAllocator(options.cluster_cidr, options.node_cidr_mask_size)
        self.nodes = informers.informer(NODES)
        self._given: dict[str, str] = {}  # node name → range we assigned, until the cache shows it
        self._rebuilt = False
        if self.enabled:
            self.nodes.add_handler(self._on_node, lambda old, new: self._on_node(new), self._on_node_deleted)

    def _on_node(self, node: Obj) -> None:
        for cidr in pod_cidrs(node):
            self.allocator.occupy(cidr)
        if not pod_cidrs(node):
            self.enqueue(node)

    def _on_node_deleted(self, node: Obj) -> None:
        # The node is gone from the cache by now, so its range is freed here rather than in sync.
        name = node["metadata"]["name"]
        for cidr in pod_cidrs(node) or [self._given.get(name, "")]:
            if cidr:
                self.allocator.release(cidr)
        self._given.pop(name, None)

    def _rebuild(self) -> None:
        """Before the first allocation, mark every range already on a node as used (the cache is synced now)."""
        for node in self.nodes.store.list():
            for cidr in pod_cidrs(node):
                self.allocator.occupy(cidr)
        self._rebuilt = True

    def sync(self, key: str) -> None:
        if not self._rebuilt:
            self._rebuild()
        node = self.nodes.store.get(key)
        if node is None:
            return
        if pod_cidrs(node):
            self._given.pop(key, None)
            return
        # A node we already answered whose update the cache has not shown yet gets the same range again.
        cidr = self._given.get(key)
        if cidr is None:
            try:
                cidr = self.allocator.allocate()
            except RangeFull as exc:
                self.recorder.event(node, "Normal", "CIDRNotAvailable",
                                    f"Node {key} status is now: CIDRNotAvailable")
                raise RuntimeError(str(exc)) from exc
            self._given[key] = cidr
        try:
            self.client.patch(NODES, key, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except errors.NotFound:
            self.allocator.release(cidr)
            self._given.pop(key, None)
            return
        except errors.ApiError:
            # Keep the range reserved for this node: the write may have landed, and the retry reuses it.
            raise
        log.info("nodeipam: node %s gets podCIDR %s", key, cidr)
