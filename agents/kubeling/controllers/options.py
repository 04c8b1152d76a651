"""The settings of the controllers that have any, one dataclass each, with upstream's defaults.

The controller-manager's flags take their defaults from here and build each controller's options from its
parsed flags; a controller given no options runs with these defaults. Upstream keeps the same split: one
configuration type per controller (pkg/controller/<name>/config/types.go) and the flags that fill it
(cmd/kube-controller-manager/app/options/).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class NodeLifecycleOptions:
    """pkg/controller/nodelifecycle/config/types.go."""

    node_monitor_grace_period: float = 40.0  # seconds a node may go silent before it is marked NotReady/Unknown
    node_monitor_period: float = 5.0  # seconds between two looks at every node


@dataclasses.dataclass(frozen=True)
class PodGCOptions:
    """pkg/controller/podgc/config/types.go (the threshold) and gc_controller.go (its two constants)."""

    terminated_pod_gc_threshold: int = 12500  # finished pods kept before the oldest go; 0 turns that off
    gc_check_period: float = 20.0  # seconds between two passes over every pod
    quarantine_time: float = 40.0  # seconds a node must stay missing before its pods count as orphans


@dataclasses.dataclass(frozen=True)
class NodeIpamOptions:
    """pkg/controller/nodeipam/config/types.go, with the controller-manager's --cluster-cidr and
    --allocate-node-cidrs."""

    cluster_cidr: str = "10.244.0.0/16"
    allocate_node_cidrs: bool = True
    node_cidr_mask_size: int = 24


@dataclasses.dataclass(frozen=True)
class RootCACertPublisherOptions:
    """The controller-manager's --root-ca-file (empty: the CA the controller-manager's own kubeconfig trusts)."""

    root_ca_file: str = ""
