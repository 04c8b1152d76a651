"""How the Deployment controller finds (or creates) the new ReplicaSet, resizes ReplicaSets, deletes old ones and
writes the Deployment's status: the steps every strategy shares, as upstream's
pkg/controller/deployment/sync.go.

`Sync` holds these as methods of the controller (upstream's `func (dc *DeploymentController)` in sync.go); the
strategies (rolling.py, recreate.py, rollback.py) and controller.py build on it.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
from collections.abc import Sequence

from kubeling.api.podutil import template_hash
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.informer import Store
from kubeling.client.mutationcache import MutationCache
from kubeling.controllers.base import Controller, controller_of, owner_reference
from kubeling.controllers.deployment.util import (
    DEPLOYMENTS,
    DESIRED_REPLICAS,
    FAILED_RS_CREATE,
    FOUND_NEW_RS,
    HASH_LABEL,
    MAX_REPLICAS,
    MIN_AVAILABLE,
    MIN_UNAVAILABLE,
    NEW_RS_CREATED,
    PAUSED,
    REPLICASETS,
    RESUMED,
    REVISION,
    TIMED_OUT,
    active,
    annotation_int,
    equal_ignore_hash,
    find_new_replica_set,
    get_condition,
    has_progress_deadline,
    is_saturated,
    max_surge,
    max_unavailable,
    new_condition,
    new_rs_new_replicas,
    newest_first,
    oldest_first,
    replica_set_fraction,
    replicas_of,
    revision_of,
    rolling_update,
    set_condition,
    set_new_rs_annotations,
    set_replicas_annotations,
    status_count,
)


def calculate_status(all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj,
                     now: datetime.datetime | None = None) -> Obj:
    """The Deployment's status from its ReplicaSets (upstream's calculateStatus); zero counts are omitted, as
    upstream's JSON does."""
    rss = [rs for rs in all_rss if rs is not None]
    available = sum(status_count(rs, "availableReplicas") for rs in rss)
    total = sum(replicas_of(rs) for rs in rss)
    status: Obj = {
        "observedGeneration": d["metadata"].get("generation", 0),
        "replicas": sum(status_count(rs, "replicas") for rs in rss),
        "updatedReplicas": status_count(new_rs, "replicas"),
        "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in rss),
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
    }
    status = {k: v for k, v in status.items() if v}
    old = d.get("status") or {}
    if old.get("conditions"):
        status["conditions"] = copy.deepcopy(old["conditions"])
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= replicas_of(d) - max_unavailable(d):
        set_condition(status, new_condition("Available", "True", MIN_AVAILABLE, "Deployment has minimum availability.",
                                            now))
    else:
        set_condition(status, new_condition("Available", "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status


def proportions(d: Obj, rss: list[Obj], to_add: int) -> dict[str, int]:
    """New sizes of active ReplicaSets when `to_add` pods (negative: remove) are spread in proportion to their
    sizes; leftovers go to the first (largest) one (upstream's DeploymentController.scale).

    For example, 10 replicas with maxSurge 3, mid-rollout as old=8 and new=5 (13 = 10 + 3), resized to 20: the
    allowed total becomes 23, so 10 pods are to add. Each ReplicaSet grows by its share of the old maximum
    (13, from its max-replicas annotation), the bigger first: old 8 * 23/13 = 14.2 → 14 (+6), then new
    5 * 23/13 = 8.8 → 9 (+4).
    """
    if to_add > 0:
        ordered = sorted(rss, key=lambda rs: (-replicas_of(rs), newest_first(rs)))  # bigger, then newer first
    else:
        ordered = sorted(rss, key=lambda rs: (-replicas_of(rs), oldest_first(rs)))  # bigger, then older first
    sizes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        proportion = 0
        if to_add and replicas_of(rs) and to_add != added:
            fraction, allowed = replica_set_fraction(rs, d), to_add - added
            proportion = min(fraction, allowed) if to_add > 0 else max(fraction, allowed)
        sizes[rs["metadata"]["name"]] = replicas_of(rs) + proportion
        added += proportion
    if ordered and added != to_add:
        first = ordered[0]["metadata"]["name"]
        sizes[first] = max(sizes[first] + to_add - added, 0)
    return sizes


class Sync(Controller):
    """The Deployment controller's shared steps. Reads go through `deployments` and `replicasets`, which see the
    controller's own writes (`mutation`) before its informers do."""

    deployments: MutationCache
    replicasets: MutationCache
    pods: Store

    # Revisions and the new ReplicaSet

    def _get_all(self, d: Obj, rss: list[Obj], create: bool) -> tuple[Obj | None, list[Obj]]:
        """(new ReplicaSet or None, all old ReplicaSets), syncing the revision annotations on the way (upstream's
        getAllReplicaSetsAndSyncRevision)."""
        existing = find_new_replica_set(d, rss)
        old_rss = [rs for rs in rss if existing is None or rs["metadata"]["uid"] != existing["metadata"]["uid"]]
        return self._new_replica_set(d, existing, old_rss, create), old_rss

    def _new_replica_set(self, d: Obj, existing: Obj | None, old_rss: list[Obj], create: bool) -> Obj | None:
        """The new ReplicaSet with its revision raised above the old ones'; created if missing and `create`."""
        new_revision = max((revision_of(rs) for rs in old_rss), default=0) + 1
        if existing is not None:
            rs = copy.deepcopy(self.replicasets.newest(existing))
            changed = set_new_rs_annotations(d, rs, new_revision, exists=True)
            if (rs["spec"].get("minReadySeconds") or 0) != (d["spec"].get("minReadySeconds") or 0):
                rs["spec"]["minReadySeconds"] = d["spec"].get("minReadySeconds") or 0
                changed = True
            if changed:
                rs = self.replicasets.mutation(self.client.replace(REPLICASETS, rs))
            self._set_deployment_revision(d, rs["metadata"]["annotations"].get(REVISION, ""))
            if get_condition(d.get("status") or {}, "Progressing") is None:
                status = copy.deepcopy(d.get("status") or {})
                set_condition(status, new_condition("Progressing", "True", FOUND_NEW_RS,
                                                    f'Found new replica set "{rs["metadata"]["name"]}"'))
                self._write_status(d, status)
            return rs
        if not create:
            return None
        return self._create_new_replica_set(d, old_rss, new_revision)

    def _create_new_replica_set(self, d: Obj, old_rss: list[Obj], new_revision: int) -> Obj:
        """Create `<deployment>-<pod-template-hash>`; on a name taken by another ReplicaSet, raise the
        Deployment's collisionCount (which changes the hash) and fail this sync."""
        status = d.get("status") or {}
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = template_hash(d["spec"]["template"], status.get("collisionCount"))
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{d['metadata']['name']}-{pod_hash}", "namespace": d["metadata"]["namespace"],
                         "labels": dict(template["metadata"]["labels"]), "ownerReferences": [owner_reference(d)]},
            "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds") or 0,
                     "selector": selector, "template": template},
        }
        rs["spec"]["replicas"] = new_rs_new_replicas(d, [*old_rss, rs], rs)
        set_new_rs_annotations(d, rs, new_revision, exists=False)
        name = rs["metadata"]["name"]
        try:
            created = self.replicasets.mutation(self.client.create(REPLICASETS, rs))
        except errors.AlreadyExists:
            current = self.client.get(REPLICASETS, name, d["metadata"]["namespace"])
            ref = controller_of(current)
            if ref and ref.get("uid") == d["metadata"]["uid"] and \
                    equal_ignore_hash(current["spec"].get("template"), d["spec"]["template"]):
                return current  # ours: the informer had not shown it yet
            # A different ReplicaSet has this name: hash again with a higher collision count.
            self._write_status(d, {**status, "collisionCount": (status.get("collisionCount") or 0) + 1})
            raise
        except errors.ApiError as exc:
            failed = copy.deepcopy(status)
            set_condition(failed, new_condition("Progressing", "False", FAILED_RS_CREATE,
                                                f'Failed to create new replica set "{name}": {exc.message}'))
            self._write_status(d, failed)
            raise
        if replicas_of(created) > 0:
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled up replica set {name} from 0 to {replicas_of(created)}", action="Scale",
                                related={**created, "kind": "ReplicaSet", "apiVersion": "apps/v1"})
        self._set_deployment_revision(d, str(new_revision))
        status = copy.deepcopy(d.get("status") or {})
        set_condition(status, new_condition("Progressing", "True", NEW_RS_CREATED, f'Created new replica set "{name}"'))
        self._write_status(d, status)
        return created

    def _set_deployment_revision(self, d: Obj, revision: str) -> None:
        if not revision or (d["metadata"].get("annotations") or {}).get(REVISION) == revision:
            return
        patch = {"metadata": {"annotations": {REVISION: revision}}}
        updated = self.deployments.mutation(self.client.patch(DEPLOYMENTS, d["metadata"]["name"], patch,
                                                              d["metadata"]["namespace"]))
        d["metadata"] = updated["metadata"]  # later writes need the new resourceVersion

    # Status

    def _write_status(self, d: Obj, status: Obj) -> None:
        """Write `status` if it changed; `d` (our working copy) takes the new status and resourceVersion."""
        if status == (d.get("status") or {}):
            return
        updated = self.deployments.mutation(self.client.replace_status(DEPLOYMENTS, {**d, "status": status}))
        d["metadata"], d["status"] = updated["metadata"], updated.get("status") or {}

    def _sync_status_only(self, d: Obj, rss: list[Obj]) -> None:
        """A Deployment being deleted: only report what its ReplicaSets have (upstream's syncStatusOnly)."""
        new_rs, old_rss = self._get_all(d, rss, create=False)
        self._write_status(d, calculate_status([*old_rss, new_rs], new_rs, d))

    def _check_paused_conditions(self, d: Obj) -> None:
        """Say "paused" or "resumed" in the Progressing condition when `spec.paused` changes."""
        if not has_progress_deadline(d):
            return
        condition = get_condition(d.get("status") or {}, "Progressing")
        if condition is not None and condition.get("reason") == TIMED_OUT:
            return  # a reported lack of progress is not overwritten by "paused"
        paused_shown = condition is not None and condition.get("reason") == PAUSED
        status = copy.deepcopy(d.get("status") or {})
        if d["spec"].get("paused") and not paused_shown:
            set_condition(status, new_condition("Progressing", "Unknown", PAUSED, "Deployment is paused"))
        elif not d["spec"].get("paused") and paused_shown:
            set_condition(status, new_condition("Progressing", "Unknown", RESUMED, "Deployment is resumed"))
        self._write_status(d, status)

    # Scaling ReplicaSets

    def _scale(self, rs: Obj, replicas: int, d: Obj, operation: str | None = None) -> tuple[bool, Obj]:
        """Set `rs` to `replicas` and refresh its replicas annotations. Returns (size changed, rs)."""
        size_changed = replicas_of(rs) != replicas
        maximum = replicas_of(d) + max_surge(d)
        annotations = rs["metadata"].get("annotations") or {}
        if not size_changed and annotations.get(DESIRED_REPLICAS) == str(replicas_of(d)) and \
                annotations.get(MAX_REPLICAS) == str(maximum):
            return False, rs
        # This sync may have written `rs` already (adopted it, raised its revision): start from that write.
        updated = copy.deepcopy(self.replicasets.newest(rs))
        updated["spec"]["replicas"] = replicas
        set_replicas_annotations(updated, replicas_of(d), maximum)
        updated = self.replicasets.mutation(self.client.replace(REPLICASETS, updated))
        if size_changed:
            operation = operation or ("up" if replicas > replicas_of(rs) else "down")
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {operation} replica set {rs['metadata']['name']} from {replicas_of(rs)} to "
                                f"{replicas}", action="Scale",
                                related={**updated, "kind": "ReplicaSet", "apiVersion": "apps/v1"})
        return size_changed, updated

    def _refresh(self, rss: list[Obj]) -> list[Obj]:
        """`rss` as they are after our writes of this sync."""
        return [self.replicasets.newest(rs) for rs in rss]

    def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        """`spec.replicas` changed since the ReplicaSets were last sized (their desired-replicas annotation)."""
        new_rs, old_rss = self._get_all(d, rss, create=False)
        for rs in active(old_rss + ([new_rs] if new_rs else [])):
            desired = annotation_int(rs, DESIRED_REPLICAS)
            if desired is not None and desired != replicas_of(d):
                return True
        return False

    def _sync_scale(self, d: Obj, rss: list[Obj]) -> None:
        """Resize without rolling out (paused, or `replicas` changed): spread the change proportionally."""
        new_rs, old_rss = self._get_all(d, rss, create=False)
        self._resize(d, new_rs, old_rss)
        new_rs = self.replicasets.newest(new_rs) if new_rs else None
        old_rss = self._refresh(old_rss)
        if d["spec"].get("paused") and not d["spec"].get("rollbackTo"):
            self._cleanup(old_rss, d)
        self._write_status(d, calculate_status([*old_rss, *([new_rs] if new_rs else [])], new_rs, d))

    def _resize(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        """Give the ReplicaSets `spec.replicas` (+ maxSurge while several are active) in total (upstream's
        DeploymentController.scale)."""
        everything = ([new_rs] if new_rs else []) + sorted(old_rss, key=newest_first)
        live = active(everything)
        if len(live) <= 1:  # one active (or, with none, the newest) ReplicaSet takes all the replicas
            target = live[0] if live else (everything[0] if everything else None)
            if target is not None:
                self._scale(target, replicas_of(d), d)  # also refreshes stale replicas annotations
            return
        if is_saturated(d, new_rs):
            for rs in active(old_rss):
                self._scale(rs, 0, d)
            return
        if rolling_update(d) is None:
            return
        allowed = replicas_of(d) + max_surge(d) if replicas_of(d) > 0 else 0
        to_add = allowed - sum(replicas_of(rs) for rs in live)
        sizes = proportions(d, live, to_add)
        operation = "up" if to_add > 0 else "down"
        for rs in live:
            self._scale(rs, sizes[rs["metadata"]["name"]], d, operation)

    # History

    def _cleanup(self, old_rss: list[Obj], d: Obj) -> None:
        """Delete the oldest unused old ReplicaSets beyond `revisionHistoryLimit` (upstream's cleanupDeployment)."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")]
        excess = len(alive) - limit
        if excess <= 0:
            return
        for rs in sorted(alive, key=lambda r: (revision_of(r), oldest_first(r)))[:excess]:
            if status_count(rs, "replicas") or replicas_of(rs) or \
                    rs["metadata"].get("generation", 0) > status_count(rs, "observedGeneration"):
                continue  # still has (or may still get) pods
            with contextlib.suppress(errors.NotFound):
                self.client.delete(REPLICASETS, rs["metadata"]["name"], rs["metadata"]["namespace"],
                                   preconditions={"uid": rs["metadata"]["uid"]})
