"""The RollingUpdate strategy: how far may the new ReplicaSet grow, and how far may the old ones shrink, in one
step? As upstream's pkg/controller/deployment/rolling.go.

Each sync takes one step and returns: it scales the new ReplicaSet up if it may, else the old ones down. The
ReplicaSet controller's pod changes queue the Deployment again, so the rollout advances as pods become available.
Two bounds hold at every step:

- at most `replicas + maxSurge` pods exist (counting every ReplicaSet's spec, or its status while a scale-down
  is still in flight);
- at least `replicas - maxUnavailable` pods are available.

A worked example: replicas 10, maxSurge 3, maxUnavailable 2; the old ReplicaSet has 10 available pods and the
template changes.

1. The new ReplicaSet is created as large as the surge allows (`new_rs_new_replicas`): 10 pods exist, 13 may,
   so it starts with 3. Nothing more may go up, so the same sync scales down (`max_scaled_down`): 10 + 3 = 13
   pods are asked for, 8 must stay available, and the 3 new ones are not available yet, so they count as
   unavailable: 13 - 8 - 3 = 2 old pods may go, old 10 → 8.
2. Once the old pods are gone and the new ones available, 8 + 3 = 11 pods exist and 13 may: new 3 → 5.
3. The next sync cannot scale up (13 asked for), so it scales down: 8 must stay available and the 2 newest pods
   are not available yet: 13 - 8 - 2 = 3, old 8 → 5.
4. And so on until new = 10 and old = 0. At no point were more than 13 pods asked for, or fewer than 8
   available.

Old ReplicaSets lose their unavailable pods first (`plan_cleanup_unhealthy`): removing a pod that serves
nothing costs no availability, and it unblocks a rollout whose old pods are stuck (crash-looping, unschedulable).
"""

from __future__ import annotations

from kubeling.api.types import Obj
from kubeling.controllers.deployment.progress import Progress
from kubeling.controllers.deployment.util import (
    active,
    deployment_complete,
    max_unavailable,
    new_rs_new_replicas,
    oldest_first,
    replicas_of,
    status_count,
)


def max_scaled_down(all_rss: list[Obj], new_rs: Obj, d: Obj) -> int:
    """How many old pods may go now without dropping below replicas - maxUnavailable, counting the new RS's
    pods that are not available yet as unavailable (upstream's reconcileOldReplicaSets)."""
    min_available = replicas_of(d) - max_unavailable(d)
    new_unavailable = replicas_of(new_rs) - status_count(new_rs, "availableReplicas")
    return sum(replicas_of(rs) for rs in all_rss) - min_available - new_unavailable


def plan_cleanup_unhealthy(old_rss: list[Obj], budget: int) -> dict[str, int]:
    """Scale old ReplicaSets down by their unavailable pods first, oldest first, up to `budget` pods (upstream's
    cleanupUnhealthyReplicas)."""
    plan: dict[str, int] = {}
    removed = 0
    for rs in sorted(old_rss, key=oldest_first):
        if removed >= budget:
            break
        unhealthy = replicas_of(rs) - status_count(rs, "availableReplicas")
        if replicas_of(rs) == 0 or unhealthy <= 0:
            continue
        count = min(budget - removed, unhealthy)
        plan[rs["metadata"]["name"]] = replicas_of(rs) - count
        removed += count
    return plan


def _available_of(rs: Obj) -> int:
    """Available pods an RS will keep: a pending scale-down will remove some of those its status still counts."""
    return min(replicas_of(rs), status_count(rs, "availableReplicas"))


def plan_scale_down_old(all_rss: list[Obj], old_rss: list[Obj], d: Obj) -> dict[str, int]:
    """Scale old ReplicaSets down, oldest first, by as many available pods as exceed replicas - maxUnavailable
    (upstream's scaleDownOldReplicaSetsForRollingUpdate)."""
    min_available = replicas_of(d) - max_unavailable(d)
    available = sum(_available_of(rs) for rs in all_rss)
    excess = available - min_available
    plan: dict[str, int] = {}
    removed = 0
    for rs in sorted(old_rss, key=oldest_first):
        if removed >= excess:
            break
        if replicas_of(rs) == 0:
            continue
        count = min(replicas_of(rs), excess - removed)
        plan[rs["metadata"]["name"]] = replicas_of(rs) - count
        removed += count
    return plan


class RollingUpdate(Progress):
    """One step of a rolling update per sync."""

    def _rollout_rolling(self, d: Obj, rss: list[Obj]) -> None:
        new_rs, old_rss = self._get_all(d, rss, create=True)
        assert new_rs is not None
        if self._reconcile_new([*old_rss, new_rs], new_rs, d) or \
                self._reconcile_old(old_rss, new_rs, d):
            new_rs, old_rss = self.replicasets.newest(new_rs), self._refresh(old_rss)
            self._sync_rollout_status([*old_rss, new_rs], new_rs, d)
            return
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(old_rss, d)
        self._sync_rollout_status([*old_rss, new_rs], new_rs, d)

    def _reconcile_new(self, all_rss: list[Obj], new_rs: Obj, d: Obj) -> bool:
        """Scale the new ReplicaSet up as far as maxSurge allows (or down, if it has more than `replicas`)."""
        if replicas_of(new_rs) == replicas_of(d):
            return False
        if replicas_of(new_rs) > replicas_of(d):
            return self._scale(new_rs, replicas_of(d), d)[0]
        return self._scale(new_rs, new_rs_new_replicas(d, all_rss, new_rs), d)[0]

    def _reconcile_old(self, old_rss: list[Obj], new_rs: Obj, d: Obj) -> bool:
        """Scale old ReplicaSets down as far as maxUnavailable allows: unhealthy pods first, then available ones."""
        old_active = active(old_rss)
        if not old_active:
            return False
        budget = max_scaled_down([*old_rss, new_rs], new_rs, d)
        if budget <= 0:
            return False
        scaled = self._apply_plan(old_active, plan_cleanup_unhealthy(old_active, budget), d)
        old_active = self._refresh(old_active)
        plan = plan_scale_down_old([*self._refresh(old_rss), new_rs], old_active, d)
        return self._apply_plan(old_active, plan, d) or scaled

    def _apply_plan(self, rss: list[Obj], plan: dict[str, int], d: Obj) -> bool:
        scaled = False
        for rs in rss:
            if rs["metadata"]["name"] in plan:
                scaled = self._scale(rs, plan[rs["metadata"]["name"]], d)[0] or scaled
        return scaled
