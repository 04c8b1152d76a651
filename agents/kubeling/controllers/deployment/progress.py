"""Is the rollout progressing, complete, or stuck past `spec.progressDeadlineSeconds`? The Progressing and
ReplicaFailure conditions, as upstream's pkg/controller/deployment/progress.go.

Progressing is True with reason NewReplicaSetAvailable once the rollout is complete, True with
ReplicaSetUpdated while pods move, and False with ProgressDeadlineExceeded when nothing moved for
progressDeadlineSeconds since the condition was last updated. Nothing triggers a sync when time simply passes,
so a Deployment in progress is queued again for the moment its deadline falls.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from kubeling.api import meta
from kubeling.api.types import Obj
from kubeling.controllers.deployment.sync import Sync, calculate_status
from kubeling.controllers.deployment.util import (
    NEW_RS_AVAILABLE,
    RS_UPDATED,
    TIMED_OUT,
    deployment_complete,
    deployment_progressing,
    deployment_timed_out,
    get_condition,
    has_progress_deadline,
    new_condition,
    remove_condition,
    set_condition,
)


def rollout_status(all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj,
                   now: datetime.datetime | None = None) -> Obj:
    """Status plus the Progressing and ReplicaFailure conditions (upstream's syncRolloutStatus)."""
    status = calculate_status(all_rss, new_rs, d, now)
    if not has_progress_deadline(d):
        remove_condition(status, "Progressing")
    current = get_condition(status, "Progressing")
    complete = (status.get("replicas", 0) == status.get("updatedReplicas", 0) and current is not None
                and current.get("reason") == NEW_RS_AVAILABLE)
    # Messages name the new ReplicaSet, or the Deployment while there is none.
    subject = f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs else f'Deployment "{d["metadata"]["name"]}"'
    if has_progress_deadline(d) and not complete:
        if deployment_complete(d, status):
            set_condition(status, new_condition("Progressing", "True", NEW_RS_AVAILABLE,
                                                f"{subject} has successfully progressed.", now))
        elif deployment_progressing(d, status):
            condition = new_condition("Progressing", "True", RS_UPDATED, f"{subject} is progressing.", now)
            if current is not None and current.get("status") == "True":
                condition["lastTransitionTime"] = current.get("lastTransitionTime")
            remove_condition(status, "Progressing")
            set_condition(status, condition)
        elif deployment_timed_out(d, status, now):
            set_condition(status, new_condition("Progressing", "False", TIMED_OUT,
                                                f"{subject} has timed out progressing.", now))
    failure = next((c for rs in ([new_rs] if new_rs else []) + list(all_rss) if rs
                    for c in (rs.get("status") or {}).get("conditions") or [] if c.get("type") == "ReplicaFailure"),
                   None)
    if failure is not None:
        stamp = failure.get("lastTransitionTime")
        set_condition(status, {"type": "ReplicaFailure", "status": failure.get("status"), "lastUpdateTime": stamp,
                               "lastTransitionTime": stamp, "reason": failure.get("reason", ""),
                               "message": failure.get("message", "")})
    else:
        remove_condition(status, "ReplicaFailure")
    return status


class Progress(Sync):
    """Writing the rollout's status, and coming back when its deadline passes."""

    def _sync_rollout_status(self, all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj) -> None:
        status = rollout_status(all_rss, new_rs, d)
        self._write_status(d, status)
        self._requeue_if_stuck(d, status)

    def _requeue_if_stuck(self, d: Obj, status: Obj) -> None:
        """Come back when the progress deadline passes, to report ProgressDeadlineExceeded (upstream's
        requeueStuckDeployment)."""
        condition = get_condition(status, "Progressing")
        if not has_progress_deadline(d) or condition is None:
            return
        if deployment_complete(d, status) or condition.get("reason") == TIMED_OUT:
            return
        since = meta.parse_time(condition.get("lastUpdateTime"))
        if since is None:
            return
        deadline = since + datetime.timedelta(seconds=d["spec"]["progressDeadlineSeconds"])
        remaining = (deadline - datetime.datetime.now(datetime.UTC)).total_seconds()
        self.enqueue_after(d, remaining + 1 if remaining >= 1 else 0)
