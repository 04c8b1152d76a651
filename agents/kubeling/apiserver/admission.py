"""Admission for new pods that needs the store: upstream's ServiceAccount plugin (the pure part is in
`kubeling.api.serviceaccount`).

It is on when the server can issue service-account tokens (`--service-account-signing-key-file`): the kubelet
fills the token volume through the TokenRequest API, which only such a server offers. A server without a signing
key (the plain-HTTP development setup) admits pods as they come.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from kubeling.api import errors, serviceaccount
from kubeling.api.resources import ResourceType, lookup
from kubeling.api.types import Obj

SERVICE_ACCOUNTS = lookup("", "serviceaccounts")
# The default account is made by the controller-manager right after its namespace: wait for it a little while,
# as upstream does (10 tries, 100-200 ms apart); any other account must exist already.
DEFAULT_ATTEMPTS = 10


class ServiceAccountAdmission:
    def __init__(self, get: Callable[[ResourceType, str, str], Obj | None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`get(rtype, namespace, name)` reads an object (the watch cache, then etcd), None when missing."""
        self.get, self.sleep = get, sleep

    def admit(self, pod: Obj, shown_name: str) -> None:
        """Mutate `pod` (being created) or raise the 403 upstream gives when its service account is missing.
        `shown_name` is the name the client asked for (its generateName when it gave no name)."""
        if serviceaccount.is_mirror_pod(pod):
            return  # the kubelet's own static pods must stay exactly as the kubelet wrote them
        namespace = pod["metadata"].get("namespace", "")
        name = serviceaccount.service_account_name(pod)
        account = self._lookup(namespace, name)
        if account is None:
            raise errors.StatusError(403, serviceaccount.not_found_message(shown_name, namespace, name), "Forbidden",
                                     name=shown_name or None, kind="pods")
        serviceaccount.admit(pod, account)

    def _lookup(self, namespace: str, name: str) -> Obj | None:
        attempts = DEFAULT_ATTEMPTS if name == serviceaccount.DEFAULT_SERVICE_ACCOUNT else 1
        interval = random.uniform(0.1, 0.2)
        for attempt in range(attempts):
            if attempt:
                self.sleep(interval)
            account = self.get(SERVICE_ACCOUNTS, namespace, name)
            if account is not None:
                return account
        return None


class PriorityAdmission:
    """Upstream's Priority plugin (plugin/pkg/admission/priority/admission.go): a new pod's `priority` comes from
    its PriorityClass (or the cluster's `globalDefault` class, or 0), never from the pod; and at most one class is
    the global default. The scheduler orders its queue by the resolved `spec.priority` (scheduler/queue.py)."""

    def __init__(self, list_classes: Callable[[], list[Obj]]) -> None:
        """`list_classes()` returns every PriorityClass (a cluster has a handful)."""
        self.list_classes = list_classes

    def admit_pod(self, pod: Obj, shown_name: str) -> None:
        spec = pod.setdefault("spec", {})
        name = spec.get("priorityClassName") or ""
        classes = self.list_classes()
        chosen: Obj | None
        if name:
            chosen = next((pc for pc in classes if pc["metadata"]["name"] == name), None)
            if chosen is None:
                raise errors.StatusError(403, f'pods "{shown_name}" is forbidden: no PriorityClass with name {name} '
                                              "was found", "Forbidden", name=shown_name or None, kind="pods")
        else:
            defaults = [pc for pc in classes if pc.get("globalDefault")]
            # More than one default can exist after a race: upstream takes the lowest value.
            chosen = min(defaults, key=lambda pc: int(pc.get("value", 0)), default=None)
        priority = int(chosen.get("value", 0)) if chosen else 0
        policy = (chosen or {}).get("preemptionPolicy") or "PreemptLowerPriority"
        given = spec.get("priority")
        if given is not None and given != priority:
            raise errors.StatusError(403, f'pods "{shown_name}" is forbidden: the integer value of priority '
                                          f"({given}) must not be provided in pod spec; priority admission controller "
                                          f"computed {priority} from the given PriorityClass name", "Forbidden",
                                     name=shown_name or None, kind="pods")
        if chosen is not None:
            spec["priorityClassName"] = chosen["metadata"]["name"]
        spec["priority"] = priority
        spec.setdefault("preemptionPolicy", policy)

    def admit_class(self, pc: Obj) -> None:
        """A class marked `globalDefault` while another one is: 403, as upstream."""
        if not pc.get("globalDefault"):
            return
        name = pc["metadata"].get("name")
        for other in self.list_classes():
            if other.get("globalDefault") and other["metadata"]["name"] != name:
                raise errors.StatusError(
                    403, f'priorityclasses.scheduling.k8s.io "{name}" is forbidden: PriorityClass '
                         f'{other["metadata"]["name"]} is already marked as default. Only one default can exist',
                    "Forbidden", name=name, group="scheduling.k8s.io", kind="priorityclasses")
