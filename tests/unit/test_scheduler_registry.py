"""Every registered scheduler plugin implements the interface of each extension point it takes part in (upstream:
`var _ framework.FilterPlugin = &NodeName{}` in each plugin), and the framework refuses one that does not."""

from __future__ import annotations

import pytest

from kubeling.scheduler.framework import NodeInfo, PodInfo, Status, extension_points
from kubeling.scheduler.generic import Framework
from kubeling.scheduler.plugins import default_plugins


def test_every_registered_plugin_implements_its_extension_points() -> None:
    for plugin in default_plugins():
        assert extension_points(plugin), f"{plugin.name} takes part in no extension point"  # type: ignore[attr-defined]


class ScoreWithoutWeight:
    name = "ScoreWithoutWeight"

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return 0


class FilterMissingTheNode:
    name = "FilterMissingTheNode"

    def filter(self, pod: PodInfo) -> Status:
        return Status()


def test_the_framework_refuses_a_plugin_missing_part_of_an_interface() -> None:
    with pytest.raises(TypeError, match="not a ScorePlugin: it lacks weight"):
        Framework([ScoreWithoutWeight()])
    with pytest.raises(TypeError, match=r"filter\(pod\) should take \(pod, node\)"):
        Framework([FilterMissingTheNode()])
