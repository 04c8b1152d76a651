"""The shared vocabulary: condition semantics (upstream's SetStatusCondition) and object keys (client-go's
MetaNamespaceKeyFunc / SplitMetaNamespaceKey)."""

from __future__ import annotations

import pytest

from kubeling.api import conditions
from kubeling.api.types import Condition
from kubeling.client import keys


def test_a_new_condition_takes_its_transition_time_from_now() -> None:
    listed: list[Condition] = []
    assert conditions.set_condition(listed, {"type": "Ready", "status": "True", "reason": "Up"}, now="t0")
    assert listed == [{"type": "Ready", "status": "True", "reason": "Up", "lastTransitionTime": "t0"}]


def test_transition_time_moves_only_when_the_status_does() -> None:
    listed: list[Condition] = [{"type": "Ready", "status": "True", "reason": "Up", "lastTransitionTime": "t0"}]
    assert conditions.set_condition(listed, {"type": "Ready", "status": "True", "reason": "StillUp"}, now="t1")
    assert listed[0] == {"type": "Ready", "status": "True", "reason": "StillUp", "lastTransitionTime": "t0"}
    assert conditions.set_condition(listed, {"type": "Ready", "status": "False", "reason": "Down"}, now="t2")
    assert listed[0]["lastTransitionTime"] == "t2"


def test_a_condition_differing_only_in_timestamps_changes_nothing() -> None:
    listed: list[Condition] = [{"type": "Ready", "status": "True", "lastProbeTime": "t0", "lastTransitionTime": "t0"}]
    assert not conditions.set_condition(listed, {"type": "Ready", "status": "True", "lastProbeTime": "t5"}, now="t5")
    assert listed[0]["lastProbeTime"] == "t0"


def test_find_get_remove() -> None:
    pod = {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "False"}]}}
    assert conditions.is_true(pod, "Ready")
    assert not conditions.is_true(pod, "Initialized")
    assert conditions.get_condition(pod, "PodScheduled") is None
    assert conditions.get_condition({}, "Ready") is None
    assert conditions.remove_condition(pod["status"]["conditions"], "Ready")
    assert not conditions.remove_condition(pod["status"]["conditions"], "Ready")
    assert [c["type"] for c in pod["status"]["conditions"]] == ["Initialized"]


def test_transition_time_keeps_the_previous_one_while_the_status_stays() -> None:
    previous: Condition = {"type": "Ready", "status": "True", "lastTransitionTime": "t0"}
    assert conditions.transition_time(previous, "True", "t9") == "t0"
    assert conditions.transition_time(previous, "False", "t9") == "t9"
    assert conditions.transition_time(None, "True", "t9") == "t9"


def test_keys_of_namespaced_and_cluster_scoped_objects() -> None:
    assert keys.key_of({"metadata": {"namespace": "default", "name": "web"}}) == "default/web"
    assert keys.key_of({"metadata": {"name": "worker-1"}}) == "worker-1"
    assert keys.key("kube-system", "dns") == "kube-system/dns"
    assert keys.split_key("default/web") == ("default", "web")
    assert keys.split_key("worker-1") == ("", "worker-1")
    with pytest.raises(ValueError, match="unexpected key format"):
        keys.split_key("a/b/c")
