"""The scheduler's record of one decision: a `Trace` filled while deciding, turned into annotations on the pod.

The format is kube-scheduler-simulator's (see kubeling/api/decisionrecord.py, the contract with the readers).
The scheduler fills a `Trace` in generic.schedule (only when recording is on: `--record-decisions`), and turns it
into annotations on a binder thread, off the scheduling loop. They travel on the write the scheduler makes anyway:
the Binding (the API server copies its annotations onto the pod, as upstream's setPodHostAndAnnotations) or the
unschedulable status update; never in a write of their own.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from kubeling.api import decisionrecord as rec
from kubeling.api.types import Obj

HISTORY_LIMIT = 5


@dataclasses.dataclass
class Trace:
    """One scheduling attempt as the framework saw it."""

    prefilter: dict[str, str] = dataclasses.field(default_factory=dict)  # plugin → success / skip
    filters: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # node → plugin → passed / why
    scores: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)  # node → plugin → raw
    final_scores: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)  # node → plugin → weighted

    def passed(self, node: str, plugins: list[str]) -> None:
        self.filters[node] = dict.fromkeys(plugins, rec.PASSED)

    def rejected(self, node: str, plugins: list[str], rejecting: int, reasons: tuple[str, ...]) -> None:
        """`plugins[rejecting]` turned the node down: the ones before it passed, the ones after never ran."""
        result = dict.fromkeys(plugins[:rejecting], rec.PASSED)
        result[plugins[rejecting]] = ", ".join(reasons) or "rejected"
        self.filters[node] = result

    def scored(self, plugin: str, nodes: list[str], raw: list[int], final: list[int]) -> None:
        for node, raw_score, final_score in zip(nodes, raw, final, strict=True):
            self.scores.setdefault(node, {})[plugin] = raw_score
            self.final_scores.setdefault(node, {})[plugin] = final_score


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _strings(table: dict[str, dict[str, int]]) -> dict[str, dict[str, str]]:
    return {node: {plugin: str(score) for plugin, score in scores.items()} for node, scores in table.items()}


def result_annotations(trace: Trace, selected: str | None) -> dict[str, str]:
    """The annotations of one attempt, without the history."""
    return {
        rec.FILTER: _dump(trace.filters),
        rec.SCORE: _dump(_strings(trace.scores)),
        rec.FINAL_SCORE: _dump(_strings(trace.final_scores)),
        rec.PREFILTER: _dump(trace.prefilter),
        rec.SELECTED: selected or "",
    }


def for_pod(pod: Obj, trace: Trace, selected: str | None) -> dict[str, str]:
    """What to write on `pod` for this attempt: its result, and the history with the pod's previous result
    appended (at most HISTORY_LIMIT entries). Empty when the result is the one already on the pod."""
    current = (pod.get("metadata") or {}).get("annotations") or {}
    new = result_annotations(trace, selected)
    previous = {key: current[key] for key in rec.RESULT_KEYS if key in current}
    if previous == new:
        return {}
    history = rec.history(current)
    if previous:
        history = [*history, previous][-HISTORY_LIMIT:]
    if history:
        new[rec.HISTORY] = _dump(history)
    return new
