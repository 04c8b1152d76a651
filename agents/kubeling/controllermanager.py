"""`kubeling controller-manager`: runs the selected controllers, only while holding the leader lease."""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable

from kubeling import component
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory
from kubeling.controllers.options import (
    NodeIpamOptions,
    NodeLifecycleOptions,
    PodGCOptions,
    RootCACertPublisherOptions,
)

log = logging.getLogger(__name__)

# name (as upstream's --controllers) → "module:Class"; imported only when enabled.
CONTROLLERS = {
    "replicaset": "kubeling.controllers.replicaset:ReplicaSetController",
    "replicationcontroller": "kubeling.controllers.replication:ReplicationManager",
    "deployment": "kubeling.controllers.deployment:DeploymentController",
    "daemonset": "kubeling.controllers.daemonset:DaemonSetController",
    "statefulset": "kubeling.controllers.statefulset:StatefulSetController",
    "disruption": "kubeling.controllers.disruption:DisruptionController",
    "resourcequota": "kubeling.controllers.resourcequota:ResourceQuotaController",
    "job": "kubeling.controllers.job:JobController",
    "cronjob": "kubeling.controllers.cronjob:CronJobController",
    "nodelifecycle": "kubeling.controllers.nodelifecycle:NodeLifecycleController",
    "nodeipam": "kubeling.controllers.nodeipam:NodeIpamController",
    "podgc": "kubeling.controllers.podgc:PodGCController",
    "endpoint": "kubeling.controllers.endpoints:EndpointsController",
    "endpointslice": "kubeling.controllers.endpointslice:EndpointSliceController",
    "garbagecollector": "kubeling.controllers.garbagecollector:GarbageCollector",
    "namespace": "kubeling.controllers.namespace:NamespaceController",
    "serviceaccount": "kubeling.controllers.serviceaccount:ServiceAccountController",
    "root-ca-cert-publisher": "kubeling.controllers.rootcacertpublisher:RootCACertPublisher",
    "persistentvolume-binder": "kubeling.controllers.persistentvolume:PersistentVolumeController",
    "pvc-protection": "kubeling.controllers.persistentvolume:PVCProtectionController",
    "pv-protection": "kubeling.controllers.persistentvolume:PVProtectionController",
    "local-path-provisioner": "kubeling.controllers.localpath:LocalPathProvisioner",
}

# The name each controller reports its Events as (reportingController, source.component), as upstream's.
REPORTING_NAMES = {"nodelifecycle": "node-controller", "nodeipam": "cidrAllocator",
                   "endpointslice": "endpoint-slice-controller", "garbagecollector": "garbage-collector-controller",
                   "root-ca-cert-publisher": "root-ca-cert-publisher"}


def reporting_name(controller: str) -> str:
    return REPORTING_NAMES.get(controller, f"{controller}-controller")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    component.add_client_arguments(parser)
    component.add_leader_election_arguments(parser)
    component.add_serving_arguments(parser, 10257)
    parser.add_argument("--controllers", default="*",
                        help="comma-separated controllers to run: '*' for all, 'foo' to enable, '-foo' to disable; "
                             f"known: {', '.join(CONTROLLERS)}")
    parser.add_argument("--node-monitor-grace-period", type=component._seconds,
                        default=NodeLifecycleOptions.node_monitor_grace_period,
                        help="how long a node may go without renewing its Lease before it is marked NotReady")
    parser.add_argument("--node-monitor-period", type=component._seconds,
                        default=NodeLifecycleOptions.node_monitor_period, help="how often node health is checked")
    parser.add_argument("--terminated-pod-gc-threshold", type=int,
                        default=PodGCOptions.terminated_pod_gc_threshold,
                        help="finished pods kept before PodGC deletes the oldest (0: keep them all)")
    parser.add_argument("--cluster-cidr", default=NodeIpamOptions.cluster_cidr,
                        help="CIDR range for pod IPs (node IPAM)")
    parser.add_argument("--allocate-node-cidrs", type=component._bool, default=NodeIpamOptions.allocate_node_cidrs,
                        nargs="?", const=True, help="give every node a spec.podCIDR from --cluster-cidr")
    parser.add_argument("--node-cidr-mask-size", type=int, default=NodeIpamOptions.node_cidr_mask_size,
                        help="prefix length of each node's podCIDR")
    parser.add_argument("--root-ca-file", default=RootCACertPublisherOptions.root_ca_file,
                        help="the cluster CA published in every namespace as ConfigMap kube-root-ca.crt "
                             "(default: the CA of --kubeconfig)")
    parser.add_argument("--resync-period", type=component._seconds, default=300.0,
                        help="how often informers re-deliver every cached object")


def selected(spec: str) -> list[str]:
    """Resolve --controllers as upstream does: '*' means all, '-name' removes, 'name' adds."""
    names: list[str] = []
    items = [item.strip() for item in spec.split(",") if item.strip()]
    unknown = [i.lstrip("-") for i in items if i not in ("*",) and i.lstrip("-") not in CONTROLLERS]
    if unknown:
        raise SystemExit(f"controller-manager: unknown controllers: {', '.join(unknown)}")
    if "*" in items:
        names = list(CONTROLLERS)
    for item in items:
        if item.startswith("-") and item[1:] in names:
            names.remove(item[1:])
        elif item != "*" and not item.startswith("-") and item not in names:
            names.append(item)
    return names


# name → the controller's options, from the parsed flags (controllers without settings take none).
OPTIONS: dict[str, Callable[[argparse.Namespace], object]] = {
    "nodelifecycle": lambda args: NodeLifecycleOptions(node_monitor_grace_period=args.node_monitor_grace_period,
                                                       node_monitor_period=args.node_monitor_period),
    "podgc": lambda args: PodGCOptions(terminated_pod_gc_threshold=args.terminated_pod_gc_threshold),
    "nodeipam": lambda args: NodeIpamOptions(cluster_cidr=args.cluster_cidr,
                                             allocate_node_cidrs=args.allocate_node_cidrs,
                                             node_cidr_mask_size=args.node_cidr_mask_size),
    "root-ca-cert-publisher": lambda args: RootCACertPublisherOptions(root_ca_file=args.root_ca_file),
}


def build(name: str, client: Client, informers: InformerFactory, recorder: EventRecorder,
          args: argparse.Namespace) -> Controller:
    module_name, class_name = CONTROLLERS[name].split(":")
    cls: type[Controller] = getattr(importlib.import_module(module_name), class_name)
    options = OPTIONS[name](args) if name in OPTIONS else None
    return cls(client, informers, recorder.for_controller(reporting_name(name)), options)


def run(args: argparse.Namespace) -> int:
    component.setup_logging(args.v)
    names = selected(args.controllers)
    client = component.make_client(args, "kube-controller-manager")
    stop = component.wait_for_signal()
    if args.port:
        component.HealthServer(args.bind_address, args.port).start()

    def start_controllers() -> None:
        informers = InformerFactory(client, args.resync_period)
        recorder = EventRecorder(client, "kube-controller-manager")
        controllers = [build(name, client, informers, recorder, args) for name in names]
        informers.start()
        if not informers.wait_for_sync(120):
            raise SystemExit("informer caches did not sync")
        for controller in controllers:
            controller.run(stop)
        log.info("started controllers: %s", ", ".join(names))

    component.run_with_leader_election(args, client, "kube-controller-manager", start_controllers, stop)
    stop.wait()
    return 0
