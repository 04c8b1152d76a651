"""Pod status from what Docker shows, as upstream's `generateAPIPodStatus` and `getPhase` work it out (pure)."""

from __future__ import annotations

import copy
from collections.abc import Callable

from kubeling.api import quantity
from kubeling.api.conditions import find_condition, transition_time
from kubeling.api.types import Condition, Obj
from kubeling.kubelet.runtime import ContainerRecord

Waiting = dict[str, tuple[str, str]]  # container name → (reason, message) for containers not running

TERMINAL = ("Succeeded", "Failed")


def container_id(record: ContainerRecord) -> str:
    return f"docker://{record.id}"


def image_id(record: ContainerRecord) -> str:
    return f"docker://{record.image_id}" if record.image_id else ""


def terminated(record: ContainerRecord, message: str = "") -> Obj:
    if record.state == "created" and record.error:
        reason = "StartError"
        code = record.exit_code or 128
    else:
        code = record.exit_code
        reason = "OOMKilled" if record.oom_killed else ("Completed" if code == 0 else "Error")
    state: Obj = {"exitCode": code, "reason": reason, "startedAt": record.started_at or None,
                  "finishedAt": record.finished_at or None, "containerID": container_id(record)}
    if record.state == "created" and record.error:
        state["message"] = record.error
    elif message:
        state["message"] = message
    return {k: v for k, v in state.items() if v is not None}


def instances(records: list[ContainerRecord], name: str, kind: str) -> list[ContainerRecord]:
    """A container's instances, newest first."""
    mine = [r for r in records if r.name == name and r.kind == kind]
    return sorted(mine, key=lambda r: (r.restart_count, r.created), reverse=True)


def qos_class(spec: Obj) -> str:
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            differs = name in requests and quantity.parse_quantity(requests[name]) != quantity.parse_quantity(
                limits.get(name, 0))
            if name not in limits or differs:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def container_statuses(pod: Obj, records: list[ContainerRecord], kind: str, waiting: Waiting,
                       ready: Callable[[str, str], bool], started: Callable[[str, str], bool],
                       messages: dict[str, str]) -> list[Obj]:
    spec = pod.get("spec", {})
    containers = spec.get("initContainers" if kind == "init" else "containers") or []
    default_reason = "PodInitializing" if spec.get("initContainers") else "ContainerCreating"
    statuses = []
    for container in containers:
        name = container["name"]
        found = instances(records, name, kind)
        latest = found[0] if found else None
        status: Obj = {"name": name, "image": container.get("image", ""), "imageID": "", "ready": False,
                       "restartCount": latest.restart_count if latest else 0, "started": False, "state": {},
                       "lastState": {}}
        if latest is not None:
            status["containerID"] = container_id(latest)
            status["imageID"] = image_id(latest)
        if latest is not None and latest.running:
            status["state"] = {"running": {"startedAt": latest.started_at}}
            is_started = kind == "init" or started(name, latest.id)
            status["started"] = is_started
            status["ready"] = kind == "app" and is_started and ready(name, latest.id)
            if len(found) > 1 and found[1].exited:
                status["lastState"] = {"terminated": terminated(found[1], messages.get(found[1].id, ""))}
        elif latest is not None and latest.exited:
            if name in waiting:
                reason, message = waiting[name]
                status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
                status["lastState"] = {"terminated": terminated(latest, messages.get(latest.id, ""))}
            else:
                status["state"] = {"terminated": terminated(latest, messages.get(latest.id, ""))}
                if len(found) > 1 and found[1].exited:
                    status["lastState"] = {"terminated": terminated(found[1], messages.get(found[1].id, ""))}
                # An init container that finished well counts as ready, as upstream.
                status["ready"] = kind == "init" and latest.exit_code == 0 and latest.state == "exited"
        else:
            reason, message = waiting.get(name, (default_reason, ""))
            status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        statuses.append(status)
    if kind == "app":
        statuses.sort(key=lambda s: s["name"])  # upstream sorts container statuses by name
    return statuses


def _succeeded(status: Obj) -> bool:
    state = status.get("state", {})
    return "terminated" in state and state["terminated"].get("exitCode") == 0


def phase(spec: Obj, init_statuses: list[Obj], statuses: list[Obj], terminal: bool = False) -> str:
    """Upstream's getPhase."""
    policy = spec.get("restartPolicy", "Always")
    for status in init_statuses:
        if _succeeded(status):
            continue
        state = status.get("state", {})
        failed = "terminated" in state or ("waiting" in state and "terminated" in status.get("lastState", {}))
        if failed and policy == "Never":
            return "Failed"
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for status in statuses:
        state = status.get("state", {})
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif "waiting" in state:
            if "terminated" in status.get("lastState", {}):
                stopped += 1
            else:
                waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(old: list[Condition], kind: str, status: bool, now: str, reason: str = "",
               message: str = "") -> Condition:
    value = "True" if status else "False"
    since = transition_time(find_condition(old, kind), value, now)
    condition: Condition = {"type": kind, "status": value, "lastProbeTime": None, "lastTransitionTime": since}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def pod_status(pod: Obj, records: list[ContainerRecord], *, waiting: Waiting, ready: Callable[[str, str], bool],
               started: Callable[[str, str], bool], pod_ip: str, host_ip: str, sandbox_ready: bool, now: str,
               messages: dict[str, str] | None = None, terminal: bool = False) -> Obj:
    spec = pod.get("spec", {})
    old: Obj = copy.deepcopy(pod.get("status") or {})
    messages = messages or {}
    init_statuses = container_statuses(pod, records, "init", waiting, ready, started, messages)
    statuses = container_statuses(pod, records, "app", waiting, ready, started, messages)
    new_phase = phase(spec, init_statuses, statuses, terminal)
    if old.get("phase") in TERMINAL:
        new_phase = old["phase"]  # a finished pod never runs again
    old_conditions = old.get("conditions") or []
    conditions = []
    scheduled = find_condition(old_conditions, "PodScheduled")
    conditions.append(scheduled or {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                    "lastTransitionTime": now})
    conditions.append(_condition(old_conditions, "PodReadyToStartContainers", sandbox_ready, now))
    incomplete = [s["name"] for s in init_statuses if not _succeeded(s)]
    initialized = not incomplete or bool(any(r.kind == "app" for r in records))
    conditions.append(_condition(old_conditions, "Initialized", initialized, now,
                                 "" if initialized else "ContainersNotInitialized",
                                 "" if initialized else f"containers with incomplete status: [{' '.join(incomplete)}]"))
    unready = [s["name"] for s in statuses if not s["ready"]]
    if new_phase == "Succeeded":
        reason, message = "PodCompleted", ""
    else:
        reason = "ContainersNotReady" if unready else ""
        message = f"containers with unready status: [{' '.join(unready)}]" if unready else ""
    conditions.append(_condition(old_conditions, "ContainersReady", not unready and new_phase == "Running", now,
                                 reason, message))
    gate_problem = readiness_gates(spec, old_conditions)
    ready_reason, ready_message = reason, message
    if not unready and gate_problem:
        ready_reason, ready_message = "ReadinessGatesNotReady", gate_problem
    is_ready = not unready and not gate_problem and new_phase == "Running"
    conditions.append(_condition(old_conditions, "Ready", is_ready, now, ready_reason, ready_message))
    # Conditions others own (readiness gates, DisruptionTarget, ...) are kept as they are, as upstream's status
    # manager merges them in (pkg/kubelet/status/status_manager.go, mergePodStatus).
    known = {c["type"] for c in conditions}
    conditions += [c for c in old_conditions if c.get("type") not in known]

    status: Obj = {"phase": new_phase, "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}]}
    ip = pod_ip or old.get("podIP", "")
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    status["startTime"] = old.get("startTime") or now
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    status["qosClass"] = old.get("qosClass") or qos_class(spec)
    for key in ("nominatedNodeName", "message", "reason"):
        if old.get(key):
            status[key] = old[key]
    return status


def readiness_gates(spec: Obj, conditions: list[Obj]) -> str:
    """'' when every readiness gate's condition is True, else upstream's message for the first that is not."""
    for gate in spec.get("readinessGates") or []:
        kind = gate.get("conditionType", "")
        found = next((c for c in conditions if c.get("type") == kind), None)
        if found is None:
            return f'corresponding condition of pod readiness gate "{kind}" does not exist.'
        if found.get("status") != "True":
            return f'the status of pod readiness gate "{kind}" is not "True", but {found.get("status")}'
    return ""
