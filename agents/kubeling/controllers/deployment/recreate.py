"""The Recreate strategy: every old pod is gone before the first new one is asked for, as upstream's
pkg/controller/deployment/recreate.go.

A sync scales the old ReplicaSets to 0 and returns; later syncs wait (queued by each old pod's deletion) until
no old pod is left, terminating ones included, and only then create or scale up the new ReplicaSet. Old and new
pods never run side by side, which is what an application that cannot run two versions at once asks for.
"""

from __future__ import annotations

from kubeling.api.types import Obj
from kubeling.controllers.deployment.progress import Progress
from kubeling.controllers.deployment.util import active, deployment_complete, replicas_of, status_count

POD_OWNER_INDEX = "deployment-controller-pod-owner"  # pods by the uid of their controller (a ReplicaSet)


class Recreate(Progress):
    """Old to zero, then new to `replicas`."""

    def _rollout_recreate(self, d: Obj, rss: list[Obj]) -> None:
        new_rs, old_rss = self._get_all(d, rss, create=False)
        scaled = False
        for rs in active(old_rss):
            scaled = self._scale(rs, 0, d)[0] or scaled
        old_rss = self._refresh(old_rss)
        if scaled or self._old_pods_running(old_rss):
            self._sync_rollout_status(old_rss + ([new_rs] if new_rs else []), new_rs, d)
            return
        if new_rs is None:
            new_rs, old_rss = self._get_all(d, rss, create=True)
            assert new_rs is not None
        new_rs = self._scale(new_rs, replicas_of(d), d)[1]
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(old_rss, d)
        self._sync_rollout_status([*old_rss, new_rs], new_rs, d)

    def _old_pods_running(self, old_rss: list[Obj]) -> bool:
        """Any old pod not finished, terminating ones included: Recreate must never overlap old and new."""
        if sum(status_count(rs, "replicas") for rs in old_rss) > 0:
            return True
        for rs in old_rss:
            for pod in self.pods.by_index(POD_OWNER_INDEX, rs["metadata"]["uid"]):
                if pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                    return True
        return False
