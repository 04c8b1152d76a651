"""The scheduler's record of a decision: kube-scheduler-simulator's annotations, from the real plugins."""

import json
import uuid

from kubeling.api import decisionrecord as rec
from kubeling.scheduler import record
from kubeling.scheduler.framework import PodInfo
from kubeling.scheduler.generic import Framework, schedule, snapshot
from kubeling.scheduler.scheduler import _schedulable_view, with_unschedulable_condition
from support import builders
from support.builders import node

TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


def pod(cpu="100m", **spec):
    container = builders.container(image="nginx", resources={"requests": {"cpu": cpu}})
    return builders.pod("web", "default", uid=str(uuid.uuid4()), containers=[container],
                        schedulerName="default-scheduler", **spec)


def decide(new_pod, nodes):
    return schedule(Framework(), PodInfo(new_pod), snapshot(nodes), record=True)


def test_every_node_gets_each_filters_verdict_and_the_rejecting_plugin_is_last():
    nodes = [node("a"), node("b"), node("tainted", taints=[TAINT])]
    result = decide(pod(), nodes)
    filters = {node: result.trace.filters_of(node) for node in ("a", "b", "tainted")}
    assert result.trace.evaluated == 3
    assert set(filters) == {"a", "b", "tainted"}
    assert set(filters["a"].values()) == {"passed"}
    rejected = filters["tainted"]
    assert rejected["TaintToleration"] == "node(s) had untolerated taint {dedicated: gpu}"
    # The filters before the rejecting one passed; those after it never ran.
    names = list(rejected)
    assert names[-1] == "TaintToleration" and all(rejected[n] == "passed" for n in names[:-1])
    assert "NodeResourcesFit" not in rejected


def test_scores_raw_and_weighted_add_up_to_the_choice():
    busy = builders.pod("busy", "default", uid="busy", node="b",
                        containers=[builders.container(resources={"requests": {"cpu": "3"}})])
    nodes = snapshot([node("a"), node("b")], [busy])
    result = schedule(Framework(), PodInfo(pod()), nodes, record=True)
    annotations = record.for_pod(pod(), result.trace, result.node)
    parsed = rec.read({"metadata": {"annotations": annotations}})
    assert parsed["selected"] == result.node == "a"
    totals = rec.totals(parsed)
    assert totals["a"] > totals["b"]
    weights = {plugin.name: plugin.weight for plugin in Framework().scorers}
    # Every plugin that scored (pre_score may skip some for this pod) with its weight applied.
    assert {"NodeResourcesFit", "TaintToleration"} <= set(parsed["score"]["a"]) <= set(weights)
    # TaintToleration (weight 3) scores 0 raw on both nodes; reversed-normalized it is 100 times 3.
    assert parsed["score"]["a"]["TaintToleration"] == 0 and parsed["finalscore"]["a"]["TaintToleration"] == 300
    # Values are strings, as the simulator writes them.
    assert all(isinstance(v, str) for scores in json.loads(annotations[rec.SCORE]).values() for v in scores.values())


def test_unschedulable_pod_has_no_selected_node_and_no_scores():
    result = decide(pod(cpu="64"), [node("a"), node("b")])
    annotations = record.for_pod(pod(), result.trace, result.node)
    assert annotations[rec.SELECTED] == ""
    assert json.loads(annotations[rec.FILTER])["a"]["NodeResourcesFit"] == "Insufficient cpu"
    assert annotations[rec.SCORE] == "{}" and annotations[rec.FINAL_SCORE] == "{}"
    assert json.loads(annotations[rec.PREFILTER])  # the pre_filter plugins' statuses


def test_history_keeps_earlier_different_results_bounded():
    new_pod = pod(cpu="64")
    for attempt in range(8):
        nodes = [node(f"n{i}") for i in range(attempt + 1)]  # a new node each time: a different result
        annotations = record.for_pod(new_pod, decide(new_pod, nodes).trace, None)
        new_pod["metadata"].setdefault("annotations", {}).update(annotations)
    history = rec.history(new_pod["metadata"]["annotations"])
    assert len(history) == record.HISTORY_LIMIT
    assert set(json.loads(history[-1][rec.FILTER])) == {f"n{i}" for i in range(7)}
    # The same result again writes nothing.
    assert record.for_pod(new_pod, decide(new_pod, [node(f"n{i}") for i in range(8)]).trace, None) == {}


def test_recording_off_leaves_no_trace_and_the_same_choice():
    new_pod = pod()
    nodes = snapshot([node("a"), node("b"), node("c")])
    plain = schedule(Framework(), PodInfo(new_pod), nodes)
    recorded = schedule(Framework(), PodInfo(new_pod), nodes, record=True)
    assert plain.trace is None and plain.node == recorded.node


def test_the_record_rides_on_the_unschedulable_status_write_and_does_not_requeue_the_pod():
    new_pod = pod(cpu="64")
    annotations = record.for_pod(new_pod, decide(new_pod, [node("a")]).trace, None)
    updated = with_unschedulable_condition(new_pod, "0/1 nodes are available", annotations)
    assert updated["metadata"]["annotations"][rec.SELECTED] == ""
    assert _schedulable_view(updated) == _schedulable_view(new_pod)
    # Already unschedulable with the same record: nothing to write.
    assert with_unschedulable_condition(updated, "0/1 nodes are available", {}) is None


def test_a_large_cluster_record_keeps_the_chosen_the_best_and_every_reason():
    nodes = [node(f"n{i:02}") for i in range(40)]
    nodes += [node(f"t{i:02}", taints=[TAINT]) for i in range(15)]
    nodes += [node(f"c{i:02}", unschedulable=True) for i in range(5)]
    result = decide(pod(), nodes)
    annotations = record.for_pod(pod(), result.trace, result.node, limit=10)
    parsed = rec.read({"metadata": {"annotations": annotations}})
    assert len(parsed["filter"]) == 10 and parsed["recorded"] == 10
    assert (parsed["evaluated"], parsed["feasible"]) == (60, 40)
    assert result.node in parsed["filter"] and result.node in parsed["finalscore"]
    reasons = {next(reversed(v.values())) for v in parsed["filter"].values()}
    assert {"passed", "node(s) had untolerated taint {dedicated: gpu}", "node(s) were unschedulable"} <= reasons
    # The runner-up kept is the best of the others.
    others = [t for n, t in zip(result.trace.scored_nodes, result.trace.totals, strict=True) if n != result.node]
    assert max(others) in [sum(s.values()) for n, s in parsed["finalscore"].items() if n != result.node]
    # 0 keeps every node.
    everything = rec.read({"metadata": {"annotations": record.for_pod(pod(), result.trace, result.node, limit=0)}})
    assert len(everything["filter"]) == 60
