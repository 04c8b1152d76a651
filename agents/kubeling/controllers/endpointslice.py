"""EndpointSlices: for each Service with a selector, its pods' addresses in slices of at most 100 endpoints.

The newer form of Endpoints, which kube-proxy and cluster DNS read. Each endpoint carries its own conditions
(`ready`: the pod is Ready and not being deleted; `serving`: Ready, even while terminating; `terminating`), its
node, its hostname (a pod whose `hostname` and `subdomain` name it inside this Service, as StatefulSet pods do) and
a reference to its pod. Pods whose ports resolve differently (a named targetPort) go to different slices, since a
slice has one list of ports. Each slice is labelled `kubernetes.io/service-name` and
`endpointslice.kubernetes.io/managed-by`, and owned by its Service (the garbage collector removes it with it).

`desired_slices` is the pure part: the slices a Service should have. `sync` fills the slices it already has in
order (updating only those that differ), creates the missing ones and deletes the rest; upstream's reconciler works
harder to move few endpoints between slices, which matters at thousands of endpoints, not here.

Upstream: pkg/controller/endpointslice/endpointslice_controller.go, reconciler.go, utils.go; the Endpoints
controller (`endpoints.py`) stays for older clients, as upstream's does.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kubeling.api.endpointslices import MANAGED_BY_LABEL, SERVICE_NAME_LABEL, service_key
from kubeling.api.podutil import is_pod_ready
from kubeling.api.resources import must_lookup
from kubeling.api.selectors import selector_from_label_selector
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.client.keys import split_key
from kubeling.controllers.base import InformerFactory
from kubeling.controllers.endpoints import ServicePodsController, endpoint_port, find_port, should_be_in_endpoints

SERVICES = must_lookup("", "services")
PODS = must_lookup("", "pods")
ENDPOINT_SLICES = must_lookup("discovery.k8s.io", "endpointslices")

MANAGED_BY = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100  # upstream's --max-endpoints-per-slice default


def endpoint(pod: Obj, service: Obj) -> Obj:
    """One pod as an endpoint of `service` (upstream's podToEndpoint)."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    terminating = bool(meta.get("deletionTimestamp"))
    ready = is_pod_ready(pod)
    publish_all = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    entry: Obj = {
        "addresses": [status.get("podIP") or status["podIPs"][0]["ip"]],
        "conditions": {"ready": publish_all or (ready and not terminating), "serving": ready,
                       "terminating": terminating},
    }
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        entry["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        entry["nodeName"] = spec["nodeName"]
    entry["targetRef"] = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                          "uid": meta.get("uid", "")}
    return entry


def desired_slices(service: Obj, pods: list[Obj]) -> list[tuple[list[Obj], list[Obj]]]:
    """(ports, endpoints) of each slice the Service should have: endpoints grouped by their resolved ports,
    sorted by address, in chunks of MAX_ENDPOINTS_PER_SLICE. Terminating pods are kept (with their conditions)
    so that clients can drain them, as upstream does."""
    service_ports = (service.get("spec") or {}).get("ports") or []
    groups: dict[tuple[Any, ...], tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not should_be_in_endpoints(pod, include_terminating=True):
            continue
        ports = []
        for service_port in service_ports:
            number = find_port(pod, service_port)
            if number is not None:
                ports.append(endpoint_port(service_port, number))
        ports.sort(key=lambda p: (p.get("name", ""), p["port"], p["protocol"]))
        signature = tuple(tuple(sorted(p.items())) for p in ports)
        groups.setdefault(signature, (ports, []))[1].append(endpoint(pod, service))
    slices = []
    for ports, endpoints in sorted(groups.values(), key=lambda group: str(group[0])):
        endpoints.sort(key=lambda e: (e["addresses"][0], e["targetRef"]["name"]))
        for start in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
            slices.append((ports, endpoints[start:start + MAX_ENDPOINTS_PER_SLICE]))
    if not slices:
        slices.append(([], []))  # upstream keeps one empty slice: it says "no endpoints", not "not computed yet"
    return slices


class EndpointSliceController(ServicePodsController):
    name = "endpointslice"
    workers = 3

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.services = informers.informer(SERVICES)
        self.pods = informers.informer(PODS)
        self.slices = informers.informer(ENDPOINT_SLICES)
        self.slices.store.add_indexer("service", service_key)
        self.services.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.pods.add_handler(self._on_pod, self._on_pod_update, self._on_pod)
        # Someone changed or deleted one of our slices: recompute.
        self.slices.add_handler(None, lambda old, new: self._on_slice(new), self._on_slice)

    def _on_slice(self, endpoint_slice: Obj) -> None:
        for key in service_key(endpoint_slice):
            self.queue.add(key)

    def sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        service = self.services.store.get(key)
        selector = ((service or {}).get("spec") or {}).get("selector")
        if service is None or not selector:
            return  # a deleted Service's slices go with it (owner references); a selectorless one is hand-made
        match = selector_from_label_selector({"matchLabels": selector})
        pods = [p for p in self.pods.store.list(namespace) if match.matches(p["metadata"].get("labels") or {})]
        wanted = [self._slice(service, ports, endpoints) for ports, endpoints in desired_slices(service, pods)]
        existing = sorted((s for s in self.slices.store.by_index("service", key)
                           if (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY),
                          key=lambda s: s["metadata"]["name"])
        for current, desired in zip(existing, wanted, strict=False):
            if any(current.get(f) != desired.get(f) for f in ("endpoints", "ports", "addressType")) or \
                    current["metadata"].get("labels") != desired["metadata"]["labels"]:
                updated = {**current, "endpoints": desired["endpoints"], "ports": desired["ports"],
                           "metadata": {**current["metadata"], "labels": desired["metadata"]["labels"]}}
                self.client.replace(ENDPOINT_SLICES, updated)
        for desired in wanted[len(existing):]:
            try:
                self.client.create(ENDPOINT_SLICES, desired, namespace)
            except errors.Forbidden:
                return  # the namespace is terminating
        for extra in existing[len(wanted):]:
            with contextlib.suppress(errors.NotFound):
                self.client.delete(ENDPOINT_SLICES, extra["metadata"]["name"], namespace)

    @staticmethod
    def _slice(service: Obj, ports: list[Obj], endpoints: list[Obj]) -> Obj:
        meta = service["metadata"]
        labels = {**(meta.get("labels") or {}), SERVICE_NAME_LABEL: meta["name"], MANAGED_BY_LABEL: MANAGED_BY}
        return {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": f"{meta['name']}-", "namespace": meta["namespace"], "labels": labels,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                              "uid": meta.get("uid", ""), "controller": True,
                                              "blockOwnerDeletion": True}]},
            "addressType": "IPv6" if ":" in ((endpoints or [{"addresses": [""]}])[0]["addresses"][0]) else "IPv4",
            "endpoints": endpoints, "ports": ports,
        }

