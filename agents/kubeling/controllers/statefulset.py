"""StatefulSet: pods with stable names `<set>-0 … <set>-N-1`, created and removed in order.

As upstream's `pkg/controller/statefulset`: `plan` (pure) looks at the pods by ordinal and decides the next steps:
recreate failed pods, create missing ones, delete those beyond the replica count from the highest ordinal down,
then roll a changed template out from the highest ordinal down to the partition. With OrderedReady it stops at the
first step that must wait (a pod not yet running and available, or still terminating); Parallel does not wait.

Differences from upstream, on purpose:
- ControllerRevisions don't exist in our API. A revision is named `<set>-<template hash>` and lives only in the
  pods' `controller-revision-hash` label and in status; a pod recreated below the partition gets the *update*
  revision, because the old template is not stored anywhere.
- Claims of `volumeClaimTemplates` (stateful_pod_control.go) are created before the pod that uses them and are
  never deleted by this controller unless `persistentVolumeClaimRetentionPolicy` says Delete, which kubeling
  carries out through owner references as upstream does (the set owns its claims for whenDeleted: Delete, so the
  garbage collector removes them with it; a claim of a scaled-down ordinal is deleted for whenScaled: Delete).
- Orphaned pods are not adopted, and `maxUnavailable` (alpha upstream) is not supported: one pod at a time.
"""

from __future__ import annotations

import copy
import datetime
import logging
import re
from dataclasses import dataclass

from kubeling.api import meta
from kubeling.api.podutil import is_pod_available, is_pod_ready, template_hash
from kubeling.api.resources import must_lookup
from kubeling.api.selectors import selector_from_label_selector
from kubeling.api.types import Obj
from kubeling.client import errors, keys
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory, controller_of, controller_uid_index, owner_reference

log = logging.getLogger(__name__)

STATEFULSETS = must_lookup("apps", "statefulsets")
PODS = must_lookup("", "pods")
CLAIMS = must_lookup("", "persistentvolumeclaims")

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
OWNER_INDEX = "statefulset-uid"

_ORDINAL = re.compile(r"^(.*)-(\d+)$")


# --- pure helpers ---


def parse_ordinal(set_name: str, pod_name: str) -> int | None:
    """The ordinal of `<set>-<n>`; None for a name not of this set (upstream's getParentNameAndOrdinal)."""
    match = _ORDINAL.match(pod_name)
    if not match or match.group(1) != set_name:
        return None
    return int(match.group(2))


def revision_name(sts: Obj) -> str:
    return f"{sts['metadata']['name']}-{template_hash(sts['spec']['template'])}"


def ordinal_range(sts: Obj) -> range:
    start = ((sts["spec"].get("ordinals") or {}).get("start")) or 0
    return range(start, start + int(sts["spec"].get("replicas", 1)))


def identity_labels(sts: Obj, ordinal: int) -> dict[str, str]:
    return {POD_NAME_LABEL: f"{sts['metadata']['name']}-{ordinal}", POD_INDEX_LABEL: str(ordinal)}


def new_pod(sts: Obj, ordinal: int, revision: str) -> Obj:
    template = sts["spec"]["template"]
    template_meta = template.get("metadata") or {}
    name = f"{sts['metadata']['name']}-{ordinal}"
    labels = {**(template_meta.get("labels") or {}), **identity_labels(sts, ordinal), REVISION_LABEL: revision}
    owner = owner_reference({**sts, "apiVersion": "apps/v1", "kind": "StatefulSet"})  # list items may lack them
    metadata: Obj = {"name": name, "namespace": sts["metadata"]["namespace"], "labels": labels,
                     "ownerReferences": [owner]}
    if template_meta.get("annotations"):
        metadata["annotations"] = dict(template_meta["annotations"])
    spec = copy.deepcopy(template.get("spec") or {})
    spec["hostname"] = name
    if sts["spec"].get("serviceName"):
        spec["subdomain"] = sts["spec"]["serviceName"]
    claims = {t["metadata"]["name"]: claim_name(t, sts, ordinal) for t in claim_templates(sts)}
    if claims:  # updateStorage: each template's volume names the pod's own claim, replacing a same-named volume
        others = [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
        spec["volumes"] = [{"name": volume, "persistentVolumeClaim": {"claimName": claim}}
                           for volume, claim in claims.items()] + others
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def claim_templates(sts: Obj) -> list[Obj]:
    return [t for t in sts["spec"].get("volumeClaimTemplates") or [] if (t.get("metadata") or {}).get("name")]


def claim_name(template: Obj, sts: Obj, ordinal: int) -> str:
    """`<template>-<set>-<ordinal>` (upstream's getPersistentVolumeClaimName)."""
    return f"{template['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"


def new_claims(sts: Obj, ordinal: int) -> list[Obj]:
    """The claims of one ordinal, from the set's volumeClaimTemplates (getPersistentVolumeClaims): each labelled
    with its template's labels and the set's selector labels. With whenDeleted: Delete, the set owns them."""
    out = []
    for template in claim_templates(sts):
        labels = {**(template["metadata"].get("labels") or {}),
                  **((sts["spec"].get("selector") or {}).get("matchLabels") or {})}
        metadata: Obj = {"name": claim_name(template, sts, ordinal), "namespace": sts["metadata"]["namespace"],
                         "labels": labels}
        if template["metadata"].get("annotations"):
            metadata["annotations"] = dict(template["metadata"]["annotations"])
        if retention(sts, "whenDeleted") == "Delete":
            owner = owner_reference({**sts, "apiVersion": "apps/v1", "kind": "StatefulSet"})
            metadata["ownerReferences"] = [owner]
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
                    "spec": copy.deepcopy(template.get("spec") or {})})
    return out


def retention(sts: Obj, when: str) -> str:
    """persistentVolumeClaimRetentionPolicy's `whenDeleted` or `whenScaled`: Retain (the default) or Delete."""
    return ((sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}).get(when)) or "Retain"


def identity_patch(sts: Obj, pod: Obj, ordinal: int) -> Obj | None:
    """A merge patch restoring the pod's identity labels (someone removed them), or None when they are intact."""
    labels = pod["metadata"].get("labels") or {}
    wanted = identity_labels(sts, ordinal)
    missing = {k: v for k, v in wanted.items() if labels.get(k) != v}
    return {"metadata": {"labels": missing}} if missing else None


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


def running_and_available(pod: Obj, min_ready_seconds: int, now: datetime.datetime) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_available(pod, min_ready_seconds, now)


def is_healthy(pod: Obj) -> bool:
    return running_and_ready(pod) and not is_terminating(pod)


def revision_of(pod: Obj) -> str:
    return (pod["metadata"].get("labels") or {}).get(REVISION_LABEL, "")


@dataclass(frozen=True)
class Action:
    verb: str  # "create", "delete" or "identity"
    ordinal: int
    pod: Obj | None = None  # the existing pod, for delete and identity


def plan(sts: Obj, pods: list[Obj], update_revision: str, now: datetime.datetime) -> list[Action]:
    """The steps to take now, in order; upstream's updateStatefulSet without the API calls."""
    monotonic = sts["spec"].get("podManagementPolicy", "OrderedReady") != "Parallel"
    min_ready = sts["spec"].get("minReadySeconds") or 0
    wanted = ordinal_range(sts)
    replicas: dict[int, Obj] = {}
    condemned: list[tuple[int, Obj]] = []
    pod: Obj | None  # each loop below looks pods up by ordinal; a missing one is None
    for pod in pods:
        ordinal = parse_ordinal(sts["metadata"]["name"], pod["metadata"]["name"])
        if ordinal is None:
            continue
        if ordinal in wanted:
            replicas[ordinal] = pod
        else:
            condemned.append((ordinal, pod))
    condemned.sort(key=lambda item: item[0])
    first_unhealthy = next((replicas[o] for o in wanted if o in replicas and not is_healthy(replicas[o])), None)
    if first_unhealthy is None:
        first_unhealthy = next((pod for _, pod in condemned if not is_healthy(pod)), None)

    actions: list[Action] = []
    # Every wanted ordinal, lowest first: replace finished pods, create missing ones, wait for the unready.
    for ordinal in wanted:
        pod = replicas.get(ordinal)
        if pod is not None and is_finished(pod) and not is_terminating(pod):
            actions.append(Action("delete", ordinal, pod))  # recreated once it is gone
            if monotonic:
                return actions
            continue
        if pod is None:
            actions.append(Action("create", ordinal))
            if monotonic:
                return actions
            continue
        if is_terminating(pod):
            if monotonic:
                return actions
            continue
        if monotonic and not running_and_available(pod, min_ready, now):
            return actions
        patch = identity_patch(sts, pod, ordinal)
        if patch is not None:
            actions.append(Action("identity", ordinal, pod))
    # Everything wanted is running and available: remove the condemned, highest ordinal first.
    for ordinal, pod in reversed(condemned):
        if is_terminating(pod):
            if monotonic:
                return actions
            continue
        if monotonic and not running_and_ready(pod) and pod is not first_unhealthy:
            return actions
        actions.append(Action("delete", ordinal, pod))
        if monotonic:
            return actions
    strategy = sts["spec"].get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return actions  # OnDelete: pods pick up the new template only when someone deletes them
    partition = (strategy.get("rollingUpdate") or {}).get("partition") or 0
    # Replace the highest-ordinal pod still on an old revision, one at a time, waiting for each to be healthy.
    for ordinal in reversed(wanted):
        if ordinal - wanted.start < partition:
            break
        pod = replicas.get(ordinal)
        if pod is None:
            return actions  # being created in this very plan (Parallel)
        if revision_of(pod) != update_revision and not is_terminating(pod):
            actions.append(Action("delete", ordinal, pod))
            return actions
        if not is_healthy(pod):
            return actions
    return actions


def calculate_status(sts: Obj, pods: list[Obj], current_revision: str, update_revision: str,
                     now: datetime.datetime) -> Obj:
    min_ready = sts["spec"].get("minReadySeconds") or 0
    replicas = ready = available = current = updated = 0
    for pod in pods:
        if parse_ordinal(sts["metadata"]["name"], pod["metadata"]["name"]) is None:
            continue
        replicas += 1
        if running_and_ready(pod):
            ready += 1
            if running_and_available(pod, min_ready, now):
                available += 1
        if not is_terminating(pod):
            if revision_of(pod) == current_revision:
                current += 1
            if revision_of(pod) == update_revision:
                updated += 1
    spec_replicas = int(sts["spec"].get("replicas", 1))
    strategy = (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
    # upstream's completeRollingUpdate: once every pod runs the new revision, it becomes the current one.
    if strategy == "RollingUpdate" and updated == ready == replicas == spec_replicas:
        current, current_revision = updated, update_revision
    status: Obj = {"observedGeneration": sts["metadata"].get("generation", 0), "replicas": replicas}
    for name, value in (("readyReplicas", ready), ("currentReplicas", current), ("updatedReplicas", updated)):
        if value:
            status[name] = value
    status.update({"currentRevision": current_revision, "updateRevision": update_revision,
                   "collisionCount": (sts.get("status") or {}).get("collisionCount") or 0,
                   "availableReplicas": available})
    return status


# --- the controller ---


class StatefulSetController(Controller):
    name = "statefulset"
    workers = 2

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.clock = lambda: datetime.datetime.now(datetime.UTC)
        sts_informer = informers.informer(STATEFULSETS)
        pod_informer = informers.informer(PODS)
        self.statefulsets, self.pods = sts_informer.store, pod_informer.store
        self.pods.add_indexer(OWNER_INDEX, controller_uid_index("StatefulSet"))
        sts_informer.add_handler(self.enqueue, lambda old, new: self.enqueue(new), None)
        pod_informer.add_handler(self._pod_event, lambda old, new: self._pod_event(new), self._pod_event)

    def _pod_event(self, pod: Obj) -> None:
        ref = controller_of(pod)
        if ref and ref.get("kind") == "StatefulSet":
            self.queue.add(keys.key(meta.namespace_of(pod), ref.get("name") or ""))

    def sync(self, key: str) -> None:
        sts = self.statefulsets.get(key)
        if sts is None:
            return
        try:
            selector = selector_from_label_selector(sts["spec"].get("selector"))
        except ValueError as exc:
            self.recorder.event(sts, "Warning", "InvalidSelector", f"invalid selector: {exc}")
            return
        pods = [p for p in self.pods.by_index(OWNER_INDEX, sts["metadata"]["uid"])
                if selector.matches(p["metadata"].get("labels"))]
        update_revision = revision_name(sts)
        current_revision = (sts.get("status") or {}).get("currentRevision") or update_revision
        now = self.clock()
        if not sts["metadata"].get("deletionTimestamp"):
            for action in plan(sts, pods, update_revision, now):
                self._apply(sts, action, update_revision)
        status = calculate_status(sts, pods, current_revision, update_revision, now)
        self._write_status(sts, status)
        min_ready = sts["spec"].get("minReadySeconds") or 0
        if min_ready and status.get("readyReplicas", 0) > status["availableReplicas"]:
            self.queue.add_after(key, float(min_ready))  # ready pods turn available with no event to wake us

    def _apply(self, sts: Obj, action: Action, update_revision: str) -> None:
        set_name = sts["metadata"]["name"]
        namespace = sts["metadata"]["namespace"]
        pod_name = f"{set_name}-{action.ordinal}"
        if action.verb == "create":
            self._create_claims(sts, action.ordinal)
            try:
                created = self.client.create(PODS, new_pod(sts, action.ordinal, update_revision))
            except errors.AlreadyExists:
                return  # our cache hasn't caught up with an earlier create yet
            except errors.ApiError as exc:
                self.recorder.event(sts, "Warning", "FailedCreate",
                                    f"create Pod {pod_name} in StatefulSet {set_name} failed error: {exc}")
                raise
            self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                f"create Pod {pod_name} in StatefulSet {set_name} successful",
                                related={**created, "kind": "Pod", "apiVersion": "v1"})
        elif action.verb == "delete":
            assert action.pod is not None
            if action.ordinal not in ordinal_range(sts) and retention(sts, "whenScaled") == "Delete":
                self._delete_claims(sts, action.ordinal)  # protected while the pod runs: they go after it
            try:
                self.client.delete(PODS, pod_name, namespace, preconditions={"uid": action.pod["metadata"]["uid"]})
            except (errors.NotFound, errors.Conflict):
                return  # already gone, or replaced by a newer pod of the same name
            except errors.ApiError as exc:
                self.recorder.event(sts, "Warning", "FailedDelete",
                                    f"delete Pod {pod_name} in StatefulSet {set_name} failed error: {exc}")
                raise
            self.recorder.event(sts, "Normal", "SuccessfulDelete",
                                f"delete Pod {pod_name} in StatefulSet {set_name} successful",
                                related={**action.pod, "kind": "Pod", "apiVersion": "v1"})
        elif action.verb == "identity" and action.pod is not None:
            patch = identity_patch(sts, action.pod, action.ordinal)
            if patch is not None:
                try:
                    self.client.patch(PODS, pod_name, patch, namespace)
                except errors.NotFound:
                    return

    def _create_claims(self, sts: Obj, ordinal: int) -> None:
        """createPersistentVolumeClaims: each missing claim of the ordinal, before its pod. A claim still being
        deleted holds the pod back (the sync fails and is retried) so the pod never starts on a claim that goes."""
        set_name = sts["metadata"]["name"]
        pod_name = f"{set_name}-{ordinal}"
        for claim in new_claims(sts, ordinal):
            name, namespace = claim["metadata"]["name"], claim["metadata"]["namespace"]
            try:
                existing = self.client.get(CLAIMS, name, namespace)
            except errors.NotFound:
                existing = None
            if existing is not None:
                if existing["metadata"].get("deletionTimestamp"):
                    raise RuntimeError(f"pvc {name} is being deleted")
                continue
            try:
                self.client.create(CLAIMS, claim)
            except errors.AlreadyExists:
                continue
            except errors.ApiError as exc:
                self.recorder.event(sts, "Warning", "FailedCreate", f"create Claim {name} for Pod {pod_name} in "
                                                                    f"StatefulSet {set_name} failed error: {exc}")
                raise
            self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                f"create Claim {name} Pod {pod_name} in StatefulSet {set_name} success")

    def _delete_claims(self, sts: Obj, ordinal: int) -> None:
        """whenScaled: Delete: the claims of an ordinal scaled away go with its pod."""
        for claim in new_claims(sts, ordinal):
            try:
                self.client.delete(CLAIMS, claim["metadata"]["name"], claim["metadata"]["namespace"])
            except errors.NotFound:
                continue

    def _write_status(self, sts: Obj, status: Obj) -> None:
        if sts.get("status") == status:
            return
        try:
            self.client.replace_status(STATEFULSETS, {**sts, "status": status})
        except (errors.NotFound, errors.Conflict):
            return  # deleted, or our cache is behind: the event that made it stale queues us again
