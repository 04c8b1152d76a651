"""The story of a pod or a Deployment, built from objects already fetched: pure, so tests feed it fixtures.

A pod's story, in the order things happened to it:

1. who created it: its owner chain (Deployment → ReplicaSet → pod), with the owner's Event that created it;
2. where the scheduler put it and why: the chosen node and its score, the runner-up, and each rejected node's
   reason (from the scheduler's record on the pod: kubeling/api/decisionrecord.py);
3. what the kubelet did: its Events (pull, create, start, probes, kills, back-offs) in order;
4. how it is now: each container's state and restarts, the pod's conditions;
5. for a pod that is not running: exactly what stands in the way, and what would fix it (advice.py).

A Deployment's story is its rollout: its ReplicaSets by revision, and the scaling steps of the Deployment and
its ReplicaSets' pod creations and deletions, merged in time order; then its conditions.

Events are read in their events.k8s.io/v1 form (regarding, note, reportingController, action, series...).
`build_*` return plain dicts (what `-o json` prints); `render` turns one into terminal text.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import decisionrecord
from kubeling.api.types import Obj
from kubeling.why import advice

Story = dict[str, Any]
KUBELET = "kubelet"
SCHEDULER = "default-scheduler"


# Events


def event_time(event: Obj) -> str:
    """When it first happened (a MicroTime or a Time: both sort as text)."""
    return event.get("eventTime") or event.get("deprecatedFirstTimestamp") or \
        (event.get("metadata") or {}).get("creationTimestamp") or ""


def _last_time(event: Obj) -> str:
    return (event.get("series") or {}).get("lastObservedTime") or event.get("deprecatedLastTimestamp") or \
        event_time(event)


def _count(event: Obj) -> int:
    return int((event.get("series") or {}).get("count") or event.get("deprecatedCount") or 1)


def _reporter(event: Obj) -> str:
    return event.get("reportingController") or (event.get("deprecatedSource") or {}).get("component") or ""


def summarize_event(event: Obj) -> dict[str, Any]:
    related = event.get("related") or {}
    regarding = event.get("regarding") or {}
    return {
        "time": event_time(event), "lastTime": _last_time(event), "count": _count(event),
        "type": event.get("type", ""), "reason": event.get("reason", ""), "action": event.get("action", ""),
        "reportingController": _reporter(event), "note": event.get("note", ""),
        "regarding": f"{regarding.get('kind', '').lower()}/{regarding.get('name', '')}",
        "related": f"{related.get('kind', '').lower()}/{related.get('name', '')}" if related else "",
    }


def _in_order(events: list[Obj]) -> list[dict[str, Any]]:
    return [summarize_event(e) for e in sorted(events, key=event_time)]


# The pod's story


def owner_chain(pod: Obj, owners: list[Obj], owner_events: list[Obj]) -> list[dict[str, Any]]:
    """The pod's controllers from the nearest up (ReplicaSet, then Deployment), each with the Event in which it
    acted on the object below it (the creation of the pod, the scaling of the ReplicaSet)."""
    chain = []
    below = pod
    for owner in owners:
        below_name = (below.get("metadata") or {}).get("name", "")
        below_uid = (below.get("metadata") or {}).get("uid", "")
        uid = (owner.get("metadata") or {}).get("uid", "")
        acts = [e for e in owner_events if (e.get("regarding") or {}).get("uid") == uid
                and ((e.get("related") or {}).get("uid") == below_uid
                     or (e.get("related") or {}).get("name") == below_name)]
        chain.append({"kind": owner.get("kind", ""), "name": (owner.get("metadata") or {}).get("name", ""),
                      "events": _in_order(acts)})
        below = owner
    return chain


def scheduling(pod: Obj, events: list[Obj]) -> dict[str, Any]:
    """The scheduler's decision condensed: chosen node and score, the runner-up, each rejected node's reason."""
    record = decisionrecord.read(pod)
    node = (pod.get("spec") or {}).get("nodeName") or ""
    condition: Obj = next((c for c in (pod.get("status") or {}).get("conditions") or []
                      if c.get("type") == "PodScheduled"), {})
    scheduler_events = _in_order([e for e in events if _reporter(e) == SCHEDULER])
    if record is None:
        return {"recorded": False, "node": node, "message": condition.get("message", ""),
                "events": scheduler_events}
    totals = decisionrecord.totals(record)
    chosen = record["selected"] or ""
    others = sorted(((score, name) for name, score in totals.items() if name != chosen), reverse=True)
    rejected = []
    for name, verdicts in record["filter"].items():
        failing = [(plugin, why) for plugin, why in verdicts.items() if why != decisionrecord.PASSED]
        if failing:
            plugin, why = failing[-1]
            rejected.append({"node": name, "plugin": plugin, "reason": why,
                             "advice": advice.for_reason(why, pod, name)})
    return {
        "recorded": True, "node": chosen or node,
        "score": totals.get(chosen),
        "finalScores": record["finalscore"].get(chosen, {}),
        "runnerUp": {"node": others[0][1], "score": others[0][0],
                     "finalScores": record["finalscore"].get(others[0][1], {})} if others else None,
        "evaluated": record["evaluated"], "feasible": record["feasible"], "recordedNodes": record["recorded"],
        "rejected": sorted(rejected, key=lambda r: r["node"]),
        "message": condition.get("message", "") if not chosen else "",
        "attempts": len(record["history"]) + 1,
        "events": scheduler_events,
    }


def _state(state: Obj | None) -> str:
    """A container state in one phrase: running since, waiting (reason), terminated (reason, exit code)."""
    if not state:
        return ""
    if "running" in state:
        return f"running since {(state['running'] or {}).get('startedAt', '?')}"
    if "waiting" in state:
        waiting = state["waiting"] or {}
        message = f": {waiting['message']}" if waiting.get("message") else ""
        return f"waiting ({waiting.get('reason', '')}{message})"
    if "terminated" in state:
        done = state["terminated"] or {}
        return (f"terminated ({done.get('reason', '')}, exit code {done.get('exitCode', '?')}"
                f"{', at ' + done['finishedAt'] if done.get('finishedAt') else ''})")
    return ""


def containers(pod: Obj) -> list[dict[str, Any]]:
    statuses = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []}
    out = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        status = statuses.get(container.get("name"), {})
        out.append({"name": container.get("name", ""), "image": container.get("image", ""),
                    "ready": bool(status.get("ready")), "restarts": int(status.get("restartCount") or 0),
                    "state": _state(status.get("state")), "lastState": _state(status.get("lastState")),
                    "waitingReason": ((status.get("state") or {}).get("waiting") or {}).get("reason", "")})
    return out


def blockers(pod: Obj, sched: dict[str, Any], boxes: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What stands between the pod and running, with what would fix it; empty for a running, ready pod."""
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    if phase in ("Succeeded", "Failed"):
        return []
    found = []
    if not (pod.get("spec") or {}).get("nodeName"):
        if sched.get("recorded") and sched.get("rejected"):
            for rejected in sched["rejected"]:
                found.append({"what": f"node {rejected['node']}: {rejected['plugin']}: {rejected['reason']}",
                              "advice": rejected["advice"] or "see the scheduler's reason"})
        elif sched.get("message"):
            found.append({"what": sched["message"], "advice": advice.for_reason(sched["message"], pod)
                          or "see the scheduler's message"})
        elif sched.get("recorded") and not sched.get("evaluated"):
            found.append({"what": "there are no nodes", "advice": advice.for_reason("no nodes available", pod)})
        else:
            found.append({"what": "not scheduled yet", "advice": "is the scheduler running? kubectl get cs"})
        return found
    for box in boxes:
        if box["waitingReason"]:
            found.append({"what": f"container {box['name']}: {box['state']}",
                          "advice": advice.WAITING.get(box["waitingReason"], "read the kubelet's events above")})
        elif not box["ready"] and phase == "Running":
            found.append({"what": f"container {box['name']} is not ready ({box['state']})",
                          "advice": "its readiness probe fails: read the Unhealthy events above"})
    return found


def build_pod(pod: Obj, owners: list[Obj], events: list[Obj], owner_events: list[Obj]) -> Story:
    """`owners`: the controller chain from the pod up; `events`: the pod's own Events; `owner_events`: the
    owners' (for the ones that created the pod)."""
    metadata = pod.get("metadata") or {}
    sched = scheduling(pod, events)
    boxes = containers(pod)
    return {
        "kind": "Pod", "name": metadata.get("name", ""), "namespace": metadata.get("namespace", ""),
        "phase": (pod.get("status") or {}).get("phase") or "Pending",
        "owners": owner_chain(pod, owners, owner_events),
        "scheduling": sched,
        "kubelet": _in_order([e for e in events if _reporter(e) == KUBELET]),
        "otherEvents": _in_order([e for e in events if _reporter(e) not in (KUBELET, SCHEDULER)]),
        "containers": boxes,
        "conditions": [{key: c.get(key, "") for key in ("type", "status", "reason", "message")}
                       for c in (pod.get("status") or {}).get("conditions") or []],
        "blockers": blockers(pod, sched, boxes),
    }


# The Deployment's story

REVISION = "deployment.kubernetes.io/revision"


def build_deployment(deployment: Obj, replicasets: list[Obj], events: list[Obj]) -> Story:
    """`replicasets`: those the Deployment owns; `events`: the Deployment's and its ReplicaSets' Events."""
    metadata = deployment.get("metadata") or {}
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}

    def revision(rs: Obj) -> int:
        return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION) or 0)

    sets = []
    for rs in sorted(replicasets, key=revision):
        template = ((rs.get("spec") or {}).get("template") or {}).get("spec") or {}
        sets.append({"name": rs["metadata"]["name"], "revision": revision(rs),
                     "desired": (rs.get("spec") or {}).get("replicas", 0),
                     "ready": (rs.get("status") or {}).get("readyReplicas", 0),
                     "images": [c.get("image", "") for c in template.get("containers") or []]})
    return {
        "kind": "Deployment", "name": metadata.get("name", ""), "namespace": metadata.get("namespace", ""),
        "replicas": {"desired": spec.get("replicas", 1), "updated": status.get("updatedReplicas", 0),
                     "ready": status.get("readyReplicas", 0), "available": status.get("availableReplicas", 0)},
        "strategy": (spec.get("strategy") or {}).get("type", "RollingUpdate"),
        "replicaSets": sets,
        "steps": _in_order(events),
        "conditions": [{key: c.get(key, "") for key in ("type", "status", "reason", "message")}
                       for c in status.get("conditions") or []],
    }


# Text


def _clock(stamp: str) -> str:
    """The time of day of a timestamp (the date is noise in a story that spans minutes)."""
    return stamp[11:19] if len(stamp) >= 19 else stamp


def _event_line(event: dict[str, Any]) -> str:
    count = f" (x{event['count']})" if event["count"] > 1 else ""
    warning = "WARNING " if event["type"] == "Warning" else ""
    action = f"{event['action']}: " if event["action"] and event["action"] != event["reason"] else ""
    return f"{_clock(event['time'])}  {warning}{event['reason']}{count}  {action}{event['note']}"


def _render_pod(story: Story) -> list[str]:
    lines = [f"pod/{story['name']} in namespace {story['namespace']}: {story['phase']}", ""]
    lines.append("1. Who created it")
    if not story["owners"]:
        lines.append("   nobody: it was created directly (no controller owns it)")
    for depth, owner in enumerate(story["owners"]):
        lines.append(f"   {'  ' * depth}{'owned by' if depth == 0 else 'which is owned by'} "
                     f"{owner['kind']} {owner['name']}")
        for event in owner["events"]:
            lines.append(f"   {'  ' * depth}  {_event_line(event)}")
    sched = story["scheduling"]
    lines += ["", "2. Where the scheduler put it"]
    if not sched["recorded"]:
        if sched["node"] and not sched["events"]:
            lines.append(f"   on node {sched['node']}, named in the pod's spec.nodeName when it was created: the "
                         "scheduler did not choose")
        else:
            where = f"on node {sched['node']}" if sched["node"] else "nowhere yet"
            lines.append(f"   {where} (no decision record on the pod: the scheduler runs with "
                         "--record-decisions=false)")
        if sched.get("message"):
            lines.append(f"   {sched['message']}")
    else:
        if sched["node"]:
            lines.append(f"   chosen: {sched['node']}, score {sched['score'] if sched['score'] is not None else '-'}"
                         f"{'' if sched['score'] is not None else ' (the only node that passed every filter)'}")
            if sched["runnerUp"]:
                lines.append(f"   runner-up: {sched['runnerUp']['node']}, score {sched['runnerUp']['score']}")
        else:
            lines.append(f"   no node fits ({sched['attempts']} attempt{'s' if sched['attempts'] > 1 else ''} "
                         f"recorded): {sched['message']}")
        kept = sched["recordedNodes"]
        lines.append(f"   {sched['feasible']} of {sched['evaluated']} nodes passed every filter"
                     + (f" (the record keeps {kept} of them)" if kept < sched["evaluated"] else ""))
        for rejected in sched["rejected"]:
            lines.append(f"   rejected {rejected['node']}: {rejected['plugin']}: {rejected['reason']}")
    for event in sched["events"]:
        lines.append(f"   {_event_line(event)}")
    lines += ["", "3. What the kubelet did"]
    if not story["kubelet"]:
        lines.append("   nothing yet")
    lines += [f"   {_event_line(event)}" for event in story["kubelet"]]
    if story["otherEvents"]:
        lines += ["", "   and other controllers:"]
        lines += [f"   {_event_line(event)} [{event['reportingController']}]" for event in story["otherEvents"]]
    lines += ["", "4. Now"]
    for box in story["containers"]:
        restarts = f", {box['restarts']} restart{'s' if box['restarts'] != 1 else ''}" if box["restarts"] else ""
        last = f"; last time: {box['lastState']}" if box["lastState"] else ""
        lines.append(f"   container {box['name']} ({box['image']}): {box['state'] or 'not started'}{restarts}{last}")
    for condition in story["conditions"]:
        why = f" ({condition['reason']}: {condition['message']})" if condition["reason"] or condition["message"] \
            else ""
        lines.append(f"   {condition['type']}={condition['status']}{why}")
    if story["blockers"]:
        lines += ["", "5. What stands in the way"]
        for blocker in story["blockers"]:
            lines.append(f"   {blocker['what']}")
            lines.append(f"     fix: {blocker['advice']}")
    return lines


def _render_deployment(story: Story) -> list[str]:
    replicas = story["replicas"]
    lines = [f"deployment/{story['name']} in namespace {story['namespace']}: {replicas['ready']}/"
             f"{replicas['desired']} ready, {replicas['updated']} up to date ({story['strategy']})", ""]
    lines.append("1. Its ReplicaSets, oldest revision first")
    for rs in story["replicaSets"]:
        lines.append(f"   revision {rs['revision']}: ReplicaSet {rs['name']}, {rs['ready']}/{rs['desired']} ready, "
                     f"image {', '.join(rs['images'])}")
    lines += ["", "2. The rollout, step by step"]
    if not story["steps"]:
        lines.append("   no events recorded (events expire after an hour)")
    for step in story["steps"]:
        lines.append(f"   {_event_line(step)} [{step['reportingController']} on {step['regarding']}]")
    lines += ["", "3. Now"]
    for condition in story["conditions"]:
        lines.append(f"   {condition['type']}={condition['status']} ({condition['reason']}: {condition['message']})")
    return lines


def render(story: Story) -> str:
    """The story as terminal text."""
    lines = _render_pod(story) if story["kind"] == "Pod" else _render_deployment(story)
    return "\n".join(lines) + "\n"
