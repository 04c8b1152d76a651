"""What would fix each reason the scheduler gives for turning a node down (or the kubelet for not starting).

The reasons are the scheduler plugins' own words (kubeling/scheduler/plugins, upstream's messages); one rule per
plugin, matched on the reason's text so a reason from the PodScheduled condition (no decision record) works too.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kubeling.api.types import Obj

Rule = tuple[re.Pattern[str], Callable[[re.Match[str], Obj, str], str]]


def _selector(pod: Obj) -> str:
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def _taint(match: re.Match[str], pod: Obj, node: str) -> str:
    key, value = match.group(1), match.group(2)
    toleration = f'{{key: "{key}", operator: "Equal", value: "{value}", effect: "NoSchedule"}}' if value else \
        f'{{key: "{key}", operator: "Exists", effect: "NoSchedule"}}'
    return (f"add a toleration to the pod's spec.tolerations, {toleration}, or remove the taint: "
            f"kubectl taint nodes {node} {key}-")


def _resources(match: re.Match[str], pod: Obj, node: str) -> str:
    resource = match.group(1)
    return (f"lower the pod's {resource} request, free {resource} on {node} (delete or scale down pods there), "
            f"or add a node with more {resource}")


def _affinity(match: re.Match[str], pod: Obj, node: str) -> str:
    wanted = _selector(pod)
    if wanted:
        return f"label a node to match the pod's nodeSelector: kubectl label nodes {node} {wanted.replace(',', ' ')}"
    return f"label a node to match the pod's required node affinity (kubectl label nodes {node} KEY=VALUE)"


RULES: list[Rule] = [
    (re.compile(r"untolerated taint \{([^:}]*): ?([^}]*)\}"), _taint),
    (re.compile(r"Insufficient ([A-Za-z0-9./-]*[A-Za-z0-9])"), _resources),
    (re.compile(r"Too many pods"), lambda m, pod, node: f"{node} runs its maximum of pods: delete some, or add a node"),
    (re.compile(r"didn't match Pod's node affinity/selector"), _affinity),
    (re.compile(r"were unschedulable"), lambda m, pod, node: f"the node is cordoned: kubectl uncordon {node}"),
    (re.compile(r"were not ready"), lambda m, pod, node: f"{node} is not Ready: check its kubelet "
                                                          f"(kubectl describe node {node})"),
    (re.compile(r"didn't have free ports"), lambda m, pod, node: f"another pod on {node} holds the same hostPort: "
                                                                   "choose another hostPort, or remove that pod"),
    (re.compile(r"didn't match the requested node name"),
     lambda m, pod, node: f"spec.nodeName asks for another node ({(pod.get('spec') or {}).get('nodeName')})"),
    (re.compile(r'persistentvolumeclaim "([^"]+)" not found', re.I),
     lambda m, pod, node: f"create the PersistentVolumeClaim {m.group(1)}"),
    (re.compile(r"unbound immediate PersistentVolumeClaims|didn't find available persistent volumes", re.I),
     lambda m, pod, node: "create a PersistentVolume that the pod's claim can bind to, or fix the claim's class"),
    (re.compile(r"no nodes available"), lambda m, pod, node: "register a node: start a kubelet (make up, or the "
                                                              "node role of the playbooks)"),
]

# Why the kubelet has not got a container running: its waiting reason → what to do.
WAITING = {
    "ImagePullBackOff": "the image cannot be pulled: check the image name and tag, and the registry's reachability",
    "ErrImagePull": "the image cannot be pulled: check the image name and tag, and the registry's reachability",
    "ErrImageNeverPull": "imagePullPolicy is Never and the image is not on the node: load it there or change the "
                         "policy",
    "CrashLoopBackOff": "the container keeps exiting: read its last output with kubectl logs --previous, and its "
                        "exit code above",
    "CreateContainerConfigError": "a ConfigMap or Secret the container reads is missing: create it",
    "ContainerCreating": "the kubelet is still setting the pod up (pulling the image, mounting volumes): wait, or "
                         "read the kubelet's events above",
}


def for_reason(reason: str, pod: Obj, node: str = "NODE") -> str:
    """What would fix `reason` (why `node` was turned down for `pod`); "" when there is no rule for it."""
    fixes = []
    for pattern, fix in RULES:
        for match in pattern.finditer(reason):
            advice = fix(match, pod, node)
            if advice not in fixes:
                fixes.append(advice)
    return "; or ".join(fixes)
