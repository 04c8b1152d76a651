"""Objects for tests: one builder per kind, with the smallest valid object by default.

Every builder takes the fields tests vary most as keyword arguments, and `**spec` for the rest of the spec, so a
test says only what matters to it: `pod("web-1", labels={"app": "web"}, node="n1", phase="Running")`. Builders add
no server-set fields (uid, resourceVersion, creationTimestamp) unless asked: `uid=` sets one. Objects have no
namespace unless given one, as a manifest sent to a namespace's path (the fake client puts them in `default`).
The result is a plain dict to change further as a test needs.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

IMAGE = "busybox"


def meta(name: str, namespace: str | None = None, *, labels: dict[str, str] | None = None,
         uid: str | None = None, owner: Obj | None = None, **extra: Any) -> Obj:
    """ObjectMeta; `owner` is an object whose controller this one is (an ownerReference with controller: true)."""
    metadata: Obj = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels is not None:
        metadata["labels"] = dict(labels)
    if uid is not None:
        metadata["uid"] = uid
    if owner is not None:
        metadata["ownerReferences"] = [owner_ref(owner)]
    metadata.update(extra)
    return metadata


def owner_ref(owner: Obj, *, controller: bool = True, block: bool | None = None) -> Obj:
    """An ownerReference to `owner` (which must carry apiVersion, kind, and metadata name and uid)."""
    ref: Obj = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"], "controller": controller}
    if block is not None:
        ref["blockOwnerDeletion"] = block
    return ref


def container(name: str = "c", image: str = IMAGE, **extra: Any) -> Obj:
    return {"name": name, "image": image, **extra}


def pod_spec(containers: list[Obj] | None = None, **spec: Any) -> Obj:
    return {"containers": containers if containers is not None else [container()], **spec}


def template(labels: dict[str, str], containers: list[Obj] | None = None, **spec: Any) -> Obj:
    """A PodTemplateSpec with these labels."""
    return {"metadata": {"labels": dict(labels)}, "spec": pod_spec(containers, **spec)}


# Core


def namespace(name: str, **extra: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, **extra)}


def pod(name: str = "p", namespace: str | None = None, *, labels: dict[str, str] | None = None,
        node: str | None = None, containers: list[Obj] | None = None, phase: str | None = None,
        ready: bool | None = None, ip: str | None = None, uid: str | None = None, owner: Obj | None = None,
        **spec: Any) -> Obj:
    """A pod; `phase`, `ready` and `ip` fill in its status (else it has none)."""
    body = pod_spec(containers, **spec)
    if node is not None:
        body["nodeName"] = node
    obj: Obj = {"apiVersion": "v1", "kind": "Pod",
                "metadata": meta(name, namespace, labels=labels, uid=uid, owner=owner), "spec": body}
    status: Obj = {}
    if phase is not None:
        status["phase"] = phase
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    if ip is not None:
        status["podIP"] = ip
    if status:
        obj["status"] = status
    return obj


def node(name: str = "n1", labels: dict[str, str] | None = None, *, taints: list[Obj] | None = None,
         ready: str | None = "True", cpu: str = "4", memory: str = "8Gi", pods: str = "110",
         ip: str | None = None, pod_cidr: str | None = None, unschedulable: bool = False) -> Obj:
    """A node with capacity, a Ready condition (`ready=None` for none) and the hostname label."""
    capacity = {"cpu": cpu, "memory": memory, "pods": pods}
    spec: Obj = {"taints": list(taints or [])}
    if unschedulable:
        spec["unschedulable"] = True
    if pod_cidr:
        spec["podCIDR"] = pod_cidr
    addresses = [{"type": "Hostname", "address": name}]
    if ip:
        addresses.append({"type": "InternalIP", "address": ip})
    status: Obj = {"capacity": capacity, "allocatable": dict(capacity), "addresses": addresses,
                   "conditions": [] if ready is None else [{"type": "Ready", "status": ready}]}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": meta(name, labels={"kubernetes.io/hostname": name, **(labels or {})}),
            "spec": spec, "status": status}


def service(name: str = "web", namespace: str | None = None, *, selector: dict[str, str] | None = None,
            ports: list[Obj] | None = None, type: str | None = None, cluster_ip: str | None = None,
            **spec: Any) -> Obj:
    """A service selecting `selector` (default app=<name>) on port 80 unless told otherwise."""
    body: Obj = {"selector": dict(selector) if selector is not None else {"app": name},
                 "ports": ports if ports is not None else [{"port": 80, "targetPort": 80}], **spec}
    if type is not None:
        body["type"] = type
    if cluster_ip is not None:
        body["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, namespace), "spec": body}


def endpoints(name: str = "web", namespace: str | None = None, *, ips: tuple[str, ...] = (),
              ports: list[Obj] | None = None) -> Obj:
    subsets = [{"addresses": [{"ip": ip} for ip in ips], "ports": ports or [{"port": 80, "protocol": "TCP"}]}]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta(name, namespace),
            "subsets": subsets if ips else []}


def endpoint_slice(service: str = "web", namespace: str | None = None, *, ips: tuple[str, ...] = (),
                   endpoints: list[Obj] | None = None, ports: list[Obj] | None = None,
                   name: str | None = None) -> Obj:
    """An EndpointSlice of Service `service` (its service-name label): ready endpoints at `ips`, or `endpoints`
    as given; port 80/TCP unless told otherwise."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": meta(name or f"{service}-abcde", namespace,
                             labels={"kubernetes.io/service-name": service}),
            "addressType": "IPv4",
            "endpoints": endpoints if endpoints is not None else [
                {"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
            "ports": ports if ports is not None else [{"port": 80, "protocol": "TCP"}]}


def service_account(name: str = "default", namespace: str | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, namespace)}


# Workloads


def _workload(kind: str, name: str, namespace: str | None, labels: dict[str, str] | None, uid: str | None,
              spec: Obj, api_version: str = "apps/v1") -> Obj:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": meta(name, namespace, labels=labels, uid=uid), "spec": spec}


def deployment(name: str = "web", namespace: str | None = None, *, replicas: int | None = 1,
               labels: dict[str, str] | None = None, containers: list[Obj] | None = None,
               uid: str | None = None, **spec: Any) -> Obj:
    """A deployment whose selector and pod labels are `labels` (default app=<name>)."""
    selected = labels or {"app": name}
    body: Obj = {"selector": {"matchLabels": dict(selected)}, "template": template(selected, containers), **spec}
    if replicas is not None:
        body["replicas"] = replicas
    return _workload("Deployment", name, namespace, None, uid, body)


def replicaset(name: str = "web", namespace: str | None = None, *, replicas: int | None = 1,
               labels: dict[str, str] | None = None, containers: list[Obj] | None = None,
               uid: str | None = None, owner: Obj | None = None, **spec: Any) -> Obj:
    selected = labels or {"app": name}
    body: Obj = {"selector": {"matchLabels": dict(selected)}, "template": template(selected, containers), **spec}
    if replicas is not None:
        body["replicas"] = replicas
    obj = _workload("ReplicaSet", name, namespace, dict(selected), uid, body)
    if owner is not None:
        obj["metadata"]["ownerReferences"] = [owner_ref(owner)]
    return obj


def daemonset(name: str = "agent", namespace: str | None = None, *, labels: dict[str, str] | None = None,
              containers: list[Obj] | None = None, uid: str | None = None, **pod: Any) -> Obj:
    """A daemon set; `**pod` goes into its pod template's spec (tolerations, nodeSelector...)."""
    selected = labels or {"app": name}
    body = {"selector": {"matchLabels": dict(selected)}, "template": template(selected, containers, **pod)}
    return _workload("DaemonSet", name, namespace, None, uid, body)


def statefulset(name: str = "db", namespace: str | None = None, *, replicas: int = 1,
                labels: dict[str, str] | None = None, containers: list[Obj] | None = None,
                uid: str | None = None, **spec: Any) -> Obj:
    selected = labels or {"app": name}
    body = {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": dict(selected)},
            "template": template(selected, containers), **spec}
    return _workload("StatefulSet", name, namespace, None, uid, body)


def job(name: str = "work", namespace: str | None = None, *, containers: list[Obj] | None = None,
        uid: str | None = None, **spec: Any) -> Obj:
    """A job with restartPolicy Never; the API server adds its selector and controller-uid labels."""
    body = {"template": {"spec": pod_spec(containers, restartPolicy="Never")}, **spec}
    return _workload("Job", name, namespace, None, uid, body, "batch/v1")


def cronjob(name: str = "tick", namespace: str | None = None, *, schedule: str = "*/1 * * * *",
            containers: list[Obj] | None = None, uid: str | None = None, **spec: Any) -> Obj:
    body = {"schedule": schedule,
            "jobTemplate": {"spec": {"template": {"spec": pod_spec(containers, restartPolicy="Never")}}}, **spec}
    return _workload("CronJob", name, namespace, None, uid, body, "batch/v1")
