"""Endpoints: for each Service with a selector, the addresses and ports of the pods it selects.

Services without a selector (such as `kubernetes`) have hand-written Endpoints, which this controller never
touches. The pure part (`endpoint_subsets`) decides the subsets; `sync` only compares and writes.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kubeling.api.podutil import is_pod_ready
from kubeling.api.resources import must_lookup
from kubeling.api.selectors import selector_from_label_selector
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.client.informer import Informer
from kubeling.client.keys import key_of, split_key
from kubeling.controllers.base import Controller, InformerFactory

SERVICES = must_lookup("", "services")
PODS = must_lookup("", "pods")
ENDPOINTS = must_lookup("", "endpoints")

HEADLESS_LABEL = "service.kubernetes.io/headless"


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The container port a service port sends to in this pod: a number as is, a name looked up in the pod's
    containers (for the same protocol); None when the pod has no port by that name."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return port.get("containerPort")
    return None


def should_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """Upstream's ShouldPodBeInEndpoints: not finished, has an IP, and not being deleted (unless asked)."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not pod["metadata"].get("deletionTimestamp")


def endpoint_address(pod: Obj, service: Obj) -> Obj:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    address: Obj = {"ip": pod["status"].get("podIP") or pod["status"]["podIPs"][0]["ip"]}
    # A pod with hostname and subdomain matching the (headless) service gets a DNS name of its own.
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        address["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                            "uid": meta.get("uid", "")}
    return address


def endpoint_port(service_port: Obj, number: int) -> Obj:
    port: Obj = {}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    port["port"] = number
    port["protocol"] = service_port.get("protocol") or "TCP"
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


def endpoint_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The subsets for `service` given the pods it selects: pods grouped by identical resolved port sets, ready
    ones in `addresses`, others in `notReadyAddresses` (as upstream's syncService followed by RepackSubsets)."""
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    service_ports = spec.get("ports") or []
    headless_without_ports = not service_ports and spec.get("clusterIP") == "None"
    groups: dict[tuple[tuple[Any, ...], ...], Obj] = {}
    for pod in pods:
        if not should_be_in_endpoints(pod, publish_not_ready):
            continue
        ports = []
        for service_port in service_ports:
            number = find_port(pod, service_port)
            if number is not None:
                ports.append(endpoint_port(service_port, number))
        if not ports and not headless_without_ports:
            continue
        signature = tuple(sorted(tuple(sorted(p.items())) for p in ports))
        subset = groups.setdefault(signature, {"addresses": [], "notReadyAddresses": [], "ports": ports})
        ready = publish_not_ready or is_pod_ready(pod)
        subset["addresses" if ready else "notReadyAddresses"].append(endpoint_address(pod, service))
    subsets = []
    for subset in groups.values():
        for field in ("addresses", "notReadyAddresses"):
            subset[field].sort(key=lambda a: (a["ip"], a["targetRef"]["name"]))
            if not subset[field]:
                del subset[field]
        subset["ports"].sort(key=lambda p: (p.get("name", ""), p["port"], p["protocol"]))
        if not subset["ports"]:
            del subset["ports"]
        subsets.append(subset)
    subsets.sort(key=lambda s: (s.get("addresses") or s.get("notReadyAddresses") or [{"ip": ""}])[0]["ip"])
    return subsets


def endpoints_labels(service: Obj) -> dict[str, str]:
    labels = dict(service["metadata"].get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


class ServicePodsController(Controller):
    """What the Endpoints and EndpointSlice controllers share: a pod's event queues every Service that selects
    the pod, before and after the event (a label change can move a pod between Services)."""

    services: Informer

    def _services_for(self, pod: Obj) -> list[str]:
        labels = pod["metadata"].get("labels") or {}
        matching = []
        for service in self.services.store.list(pod["metadata"]["namespace"]):
            selector = (service.get("spec") or {}).get("selector")
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                matching.append(key_of(service))
        return matching

    def _on_pod(self, pod: Obj) -> None:
        for key in self._services_for(pod):
            self.queue.add(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        # A label change can move a pod out of a service: both the old and the new services recompute.
        for key in set(self._services_for(old)) | set(self._services_for(new)):
            self.queue.add(key)


class EndpointsController(ServicePodsController):
    name = "endpoint"
    workers = 3

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.services = informers.informer(SERVICES)
        self.pods = informers.informer(PODS)
        self.endpoints = informers.informer(ENDPOINTS)
        self.services.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.pods.add_handler(self._on_pod, self._on_pod_update, self._on_pod)
        # Someone else changed or deleted our Endpoints: recompute (only for services that exist).
        self.endpoints.add_handler(None, lambda old, new: self._on_endpoints(new), self._on_endpoints)

    def _on_endpoints(self, endpoints: Obj) -> None:
        key = key_of(endpoints)
        if self.services.store.get(key) is not None:
            self.queue.add(key)

    def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.store.get(key)
        if service is None:
            # The service is gone: so are its Endpoints (only ones we would have written reach here).
            if self.endpoints.store.get(key) is not None:
                with contextlib.suppress(errors.NotFound):
                    self.client.delete(ENDPOINTS, name, namespace)
            return
        selector = (service.get("spec") or {}).get("selector")
        if not selector:
            return
        match = selector_from_label_selector({"matchLabels": selector})
        pods = [p for p in self.pods.store.list(namespace) if match.matches(p["metadata"].get("labels") or {})]
        subsets = endpoint_subsets(service, pods)
        labels = endpoints_labels(service)
        current = self.endpoints.store.get(key)
        if current is None:
            endpoints: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                         "metadata": {"name": name, "namespace": namespace, "labels": labels}}
            if subsets:
                endpoints["subsets"] = subsets
            try:
                self.client.create(ENDPOINTS, endpoints, namespace)
            except errors.AlreadyExists:
                # The cache has not seen it yet: take the live one and update it.
                current = self.client.get(ENDPOINTS, name, namespace)
            except errors.Forbidden:
                return  # the namespace is terminating
            else:
                return
        if (current.get("subsets") or []) == subsets and (current["metadata"].get("labels") or {}) == labels:
            return
        updated = {**current, "metadata": {**current["metadata"], "labels": labels}}
        updated.pop("subsets", None)
        if subsets:
            updated["subsets"] = subsets
        self.client.replace(ENDPOINTS, updated)
