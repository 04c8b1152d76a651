"""The scheduler cache: every node with the pods bound to it, including pods the scheduler has *assumed*.

Binding is asynchronous: once a node is chosen, the pod is assumed onto it at once, so the next pod already
sees the room it takes, although the informer will only report the binding later. When the informer does,
the assumption is confirmed. If binding fails the assumption is forgotten; if a bound pod never shows up (a
lost watch event), the assumption expires `ttl` seconds after its binding finished. Without this, a burst of
pods would all see the same free room and over-commit a node.

All access happens under `lock`; a scheduling cycle holds it while it filters and scores, so it reads one
consistent state without copying any node.
"""

from __future__ import annotations

import threading
import time

from kubeling.api.types import Obj
from kubeling.client import keys
from kubeling.scheduler.framework import NodeInfo, PodInfo

ASSUMED_POD_TTL = 30.0


def _uid(pod: Obj) -> str:
    return (pod.get("metadata") or {}).get("uid") or keys.key_of(pod)


def counts_on_node(pod: Obj) -> bool:
    """Bound and still holding resources: terminal pods have released theirs."""
    return bool((pod.get("spec") or {}).get("nodeName")) and (pod.get("status") or {}).get("phase") not in (
        "Succeeded", "Failed")


class Cache:
    def __init__(self, ttl: float = ASSUMED_POD_TTL) -> None:
        self.ttl = ttl
        self.lock = threading.RLock()
        self._nodes: dict[str, NodeInfo] = {}  # includes placeholders for pods whose node is not known yet
        self._list: list[NodeInfo] | None = None
        self._pod_node: dict[str, str] = {}  # uid → node name, for every pod in the cache
        self._assumed: dict[str, float | None] = {}  # uid → expiry (None while the binding is in flight)

    # Nodes

    def set_node(self, node: Obj) -> None:
        with self.lock:
            name = node["metadata"]["name"]
            info = self._nodes.get(name)
            if info is None:
                self._nodes[name] = NodeInfo(node)
                self._list = None
            else:
                if info.node is None:
                    self._list = None
                info.set_node(node)

    def remove_node(self, name: str) -> None:
        with self.lock:
            info = self._nodes.get(name)
            if info is None:
                return
            if info.pods:  # keep the accounting of pods still bound there until they go
                info.node = None
            else:
                del self._nodes[name]
            self._list = None

    def nodes(self) -> list[NodeInfo]:
        """Nodes to schedule onto, in a stable order. Call with `lock` held and do not keep the list."""
        with self.lock:
            if self._list is None:
                self._list = [info for info in self._nodes.values() if info.node is not None]
            return self._list

    def node(self, name: str) -> NodeInfo | None:
        with self.lock:
            return self._nodes.get(name)

    # Pods seen by the informer

    def add_pod(self, pod: Obj) -> None:
        if not counts_on_node(pod):
            return
        with self.lock:
            uid = _uid(pod)
            self._assumed.pop(uid, None)  # confirmed
            if uid in self._pod_node:
                self._remove(uid)  # replace the assumed (or older) copy with what the API says
            self._add(PodInfo(pod), pod["spec"]["nodeName"])

    def update_pod(self, pod: Obj) -> None:
        with self.lock:
            uid = _uid(pod)
            if counts_on_node(pod):
                self.add_pod(pod)
            elif uid in self._pod_node and uid not in self._assumed:
                self._remove(uid)

    def remove_pod(self, pod: Obj) -> None:
        with self.lock:
            uid = _uid(pod)
            self._assumed.pop(uid, None)
            self._remove(uid)

    # Assumed pods

    def assume(self, pod: PodInfo, node: str) -> None:
        with self.lock:
            if pod.uid in self._pod_node:
                raise ValueError(f"pod {pod.key} is already in the scheduler cache")
            self._add(pod, node)
            self._assumed[pod.uid] = None

    def finish_binding(self, uid: str, now: float | None = None) -> None:
        with self.lock:
            if uid in self._assumed:
                self._assumed[uid] = (time.monotonic() if now is None else now) + self.ttl

    def forget(self, uid: str) -> None:
        """Binding failed: give the room back (unless the informer has meanwhile confirmed the pod)."""
        with self.lock:
            if self._assumed.pop(uid, False) is not False:
                self._remove(uid)

    def is_assumed(self, uid: str) -> bool:
        with self.lock:
            return uid in self._assumed

    def contains(self, uid: str) -> bool:
        with self.lock:
            return uid in self._pod_node

    def cleanup_expired(self, now: float | None = None) -> list[str]:
        """Drop assumed pods whose binding finished `ttl` ago and never showed up bound."""
        now = time.monotonic() if now is None else now
        with self.lock:
            expired = [uid for uid, deadline in self._assumed.items() if deadline is not None and deadline < now]
            for uid in expired:
                del self._assumed[uid]
                self._remove(uid)
            return expired

    # Internals

    def _add(self, pod: PodInfo, node: str) -> None:
        info = self._nodes.get(node)
        if info is None:
            info = self._nodes[node] = NodeInfo(name=node)  # a placeholder until the Node arrives
        info.add_pod(pod)
        self._pod_node[pod.uid] = node

    def _remove(self, uid: str) -> None:
        node = self._pod_node.pop(uid, None)
        if node is None:
            return
        info = self._nodes.get(node)
        if info is None:
            return
        info.remove_pod(uid)
        if info.node is None and not info.pods:
            del self._nodes[node]
            self._list = None
