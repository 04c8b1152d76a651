"""The plugin registry: every in-tree plugin, in the order filters run (the first rejection names the reason).

Adding a plugin is one module here and one line below; a plugin with `score` takes part in scoring with its
class attribute `weight` (upstream's default weights: TaintToleration 3, NodeAffinity 2, spreading 2, the
resource scores 1).
"""

from __future__ import annotations

from kubeling.scheduler.framework import Plugin
from kubeling.scheduler.plugins.balanced_allocation import BalancedAllocation
from kubeling.scheduler.plugins.node_affinity import NodeAffinity
from kubeling.scheduler.plugins.node_name import NodeName
from kubeling.scheduler.plugins.node_ports import NodePorts
from kubeling.scheduler.plugins.node_ready import NodeReady
from kubeling.scheduler.plugins.node_resources_fit import NodeResourcesFit
from kubeling.scheduler.plugins.node_unschedulable import NodeUnschedulable
from kubeling.scheduler.plugins.selector_spread import SelectorSpread
from kubeling.scheduler.plugins.taint_toleration import TaintToleration
from kubeling.scheduler.plugins.volumebinding import VolumeAccess, VolumeBinding

REGISTRY: tuple[type[Plugin], ...] = (
    NodeUnschedulable,
    NodeName,
    TaintToleration,
    NodeReady,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    VolumeBinding,
    BalancedAllocation,
    SelectorSpread,
)


def default_plugins(volumes: VolumeAccess | None = None) -> list[Plugin]:
    """Fresh instances of every registered plugin (plugins keep no state between pods, but stay independent).
    VolumeBinding reads claims, volumes and classes through `volumes` (none given: every claim is missing)."""
    names = [cls.name for cls in REGISTRY]
    if len(names) != len(set(names)):
        raise ValueError(f"duplicate plugin names in the registry: {names}")
    return [VolumeBinding(volumes) if cls is VolumeBinding else cls() for cls in REGISTRY]
