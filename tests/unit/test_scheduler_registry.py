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


def test_insufficient_resources_names_every_shortage_in_upstreams_order() -> None:
    node = NodeInfo({"metadata": {"name": "n"}, "status": {"allocatable": {
        "cpu": "1", "memory": "1Gi", "pods": "1", "example.com/a": "1", "example.com/b": "1"}}})
    node.add_pod(PodInfo({"metadata": {"name": "bound", "uid": "b"}, "spec": {"containers": []}}))
    greedy = PodInfo({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": {"requests": {
        "example.com/b": "2", "memory": "2Gi", "example.com/a": "2", "cpu": "2"}}}]}})
    assert node.insufficient_resources(greedy) == [
        "Too many pods", "Insufficient cpu", "Insufficient memory", "Insufficient example.com/a",
        "Insufficient example.com/b"]
    modest = PodInfo({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "resources": {"requests": {
        "cpu": "500m"}}}]}})
    assert NodeInfo({"metadata": {"name": "m"}, "status": {"allocatable": {"cpu": "1", "pods": "10"}}}
                    ).insufficient_resources(modest) == []
