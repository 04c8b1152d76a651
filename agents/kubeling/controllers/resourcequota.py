"""The resource quota controller: count what each ResourceQuota's namespace really uses.

The API server charges each new object to its quotas as it admits it (apiserver/resourcequota.py); this
controller gives back what deleted and finished objects freed, and corrects any figure an admitted create that
then failed left behind, by recounting: `status.used` for each name of `spec.hard`, from the objects themselves.
Informers watch the kinds most quotas count; any other `count/<resource>` is listed when a quota asks for it.

Upstream: pkg/controller/resourcequota/resource_quota_controller.go (syncResourceQuota, replenishment) with the
evaluators of pkg/quota/v1/evaluator/core (here api/quota.py).
"""

from __future__ import annotations

import logging

from kubeling.api import quota
from kubeling.api.resources import RESOURCES, ResourceType, lookup, must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.client.keys import key_of
from kubeling.controllers.base import Controller, InformerFactory

log = logging.getLogger(__name__)

QUOTAS = must_lookup("", "resourcequotas")
# The kinds whose changes free quota most often: watched, so a delete gives back its share at once.
WATCHED = [rtype for rtype in (lookup("", plural) for plural in (
    "pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers"))
    if rtype is not None]


def counted_types(hard: dict[str, object]) -> list[ResourceType]:
    """The resource types a quota's names need counted."""
    wanted = []
    for rtype in RESOURCES:
        if not rtype.namespaced or rtype.create_only:
            continue
        names = {quota.count_name(rtype), quota.OBJECT_COUNT_NAMES.get(rtype.plural, "") if not rtype.group else ""}
        if rtype.kind == "Pod":
            names |= set(quota.POD_COMPUTE)
        if rtype.kind == "Service":
            names |= {"services.nodeports", "services.loadbalancers"}
        if rtype.kind == "PersistentVolumeClaim":
            names |= {"requests.storage"} | {n for n in hard if ".storageclass.storage.k8s.io/" in n}
        if names & set(hard):
            wanted.append(rtype)
    return wanted


class ResourceQuotaController(Controller):
    name = "resourcequota"

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.quotas = informers.informer(QUOTAS)
        self.quotas.add_handler(self.enqueue, lambda old, new: self._on_quota(old, new), None)
        self.watched = {rtype.plural: informers.informer(rtype) for rtype in WATCHED}
        for informer in self.watched.values():
            informer.add_handler(self._replenish, lambda old, new: self._replenish(new), self._replenish)

    def _on_quota(self, old: Obj, new: Obj) -> None:
        # Our own status writes come back as updates: recount only when the limits changed.
        if (old.get("spec") or {}) != (new.get("spec") or {}) or not (new.get("status") or {}).get("used"):
            self.enqueue(new)

    def _replenish(self, obj: Obj) -> None:
        for item in self.quotas.store.list(obj["metadata"].get("namespace", "")):
            self.enqueue(item)

    def objects(self, rtype: ResourceType, namespace: str) -> list[Obj]:
        if rtype.plural in self.watched and not rtype.group:
            return self.watched[rtype.plural].store.list(namespace)
        return list(self.client.list_all(rtype, namespace).get("items") or [])

    def sync(self, key: str) -> None:
        item = self.quotas.store.get(key)
        if item is None:
            return
        namespace = item["metadata"]["namespace"]
        hard = (item.get("spec") or {}).get("hard") or {}
        used: quota.Usage = {}
        for rtype in counted_types(hard):
            for name, amount in quota.total(rtype, self.objects(rtype, namespace), item).items():
                used[name] = used.get(name, 0) + amount
        status = quota.as_status(hard, used)
        if (item.get("status") or {}) == status:
            return
        try:
            self.client.replace_status(QUOTAS, {**item, "status": status})
        except errors.Conflict:
            self.queue.add(key_of(item))  # an admitted create charged it meanwhile: count again
        except errors.NotFound:
            pass
