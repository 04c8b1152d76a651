"""The scheduler's record of a decision, as it appears on a pod: kube-scheduler-simulator's annotations.

The contract between the scheduler (which writes it: kubeling/scheduler/record.py) and its readers (`kubectl why`,
the live view). The keys and value shapes are the simulator's debuggable scheduler's
(simulator/docs/debuggable-scheduler.md in kubernetes-sigs/kube-scheduler-simulator), so its users recognise them:

- `filter-result`: node → plugin → "passed", or the reason the plugin rejected the node. As upstream, a node's
  filters stop at the first rejection, so the plugins after it do not appear for that node.
- `score-result`: node → plugin → raw score; `finalscore-result`: node → plugin → normalized (0..100) times weight,
  the numbers the scheduler adds up. Empty when fewer than two nodes passed (nothing to compare, nothing scored).
- `prefilter-result-status`: plugin → "success", or "skip" when the plugin had nothing to check for this pod.
- `selected-node`: the chosen node, "" when none fits.
- `result-history`: the earlier, different results (oldest first, bounded), each a map of the keys above.

Every value is a string, numbers too, as the simulator writes them.

The simulator records every node; in a cluster of hundreds of nodes that is hundreds of kilobytes on every pod, so
kubeling keeps the nodes a reader needs (the chosen one, the best of the others, and for each different reason a
node was turned down, the first nodes it turned down: `--record-decisions-max-nodes`) and says how many it left
out in one annotation of its own, `kubeling.io/decision-nodes`: {"evaluated": N, "feasible": M, "recorded": K}.
"""

from __future__ import annotations

import json
from typing import Any

from kubeling.api.types import Obj

PREFIX = "kube-scheduler-simulator.sigs.k8s.io/"
FILTER = PREFIX + "filter-result"
SCORE = PREFIX + "score-result"
FINAL_SCORE = PREFIX + "finalscore-result"
PREFILTER = PREFIX + "prefilter-result-status"
SELECTED = PREFIX + "selected-node"
HISTORY = PREFIX + "result-history"
NODES = "kubeling.io/decision-nodes"  # how many nodes were evaluated, passed, and kept in the record
RESULT_KEYS = (FILTER, SCORE, FINAL_SCORE, PREFILTER, SELECTED, NODES)
PASSED = "passed"


def is_record_key(key: str) -> bool:
    """An annotation the scheduler writes itself (a change to it is no reason to try the pod again)."""
    return key.startswith(PREFIX) or key == NODES


def history(annotations: dict[str, str]) -> list[dict[str, str]]:
    """The earlier results kept in `result-history`, oldest first ([] when absent or unreadable)."""
    try:
        entries = json.loads(annotations.get(HISTORY) or "[]")
    except ValueError:
        return []
    return [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []


def parse(annotations: dict[str, str]) -> dict[str, Any] | None:
    """One result (a pod's annotations, or an entry of its history) parsed, scores as ints, or None when there is
    no filter result: {"filter": {...}, "score": {...}, "finalscore": {...}, "prefilter": {...}, "selected": str}."""
    if FILTER not in annotations:
        return None

    def table(key: str) -> dict[str, Any]:
        try:
            value = json.loads(annotations.get(key) or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def ints(key: str) -> dict[str, dict[str, int]]:
        return {node: {plugin: int(score) for plugin, score in scores.items()}
                for node, scores in table(key).items() if isinstance(scores, dict)}

    filters = table(FILTER)
    counts = table(NODES)
    feasible = sum(1 for verdicts in filters.values() if set(verdicts.values()) <= {PASSED})
    return {"filter": filters, "score": ints(SCORE), "finalscore": ints(FINAL_SCORE),
            "prefilter": table(PREFILTER), "selected": annotations.get(SELECTED, ""),
            "evaluated": int(counts.get("evaluated", len(filters))), "feasible": int(counts.get("feasible", feasible)),
            "recorded": len(filters)}


def read(pod: Obj) -> dict[str, Any] | None:
    """The latest decision recorded on `pod` (see `parse`) with its "history" (a list of parsed results), or None."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    result = parse(annotations)
    if result is None:
        return None
    result["history"] = [entry for entry in map(parse, history(annotations)) if entry is not None]
    return result


def totals(result: dict[str, Any]) -> dict[str, int]:
    """Each scored node's total: the sum of its final scores (what the scheduler compared)."""
    return {node: sum(scores.values()) for node, scores in result.get("finalscore", {}).items()}
