"""Job: run pods until `completions` of them succeed, giving up after `backoffLimit` failures or after
`activeDeadlineSeconds`; then, with `ttlSecondsAfterFinished`, delete the finished Job.

As upstream's `pkg/controller/job` (NonIndexed completion mode) with the 1.32 feature defaults: a Job that has
met its goal first gets the interim condition (SuccessCriteriaMet or FailureTarget); the terminal one (Complete
or Failed) follows once none of its pods is still running or terminating, so `kubectl wait --for=condition=Complete`
means the work is really over. Failed pods are replaced after an exponential back-off (10 s, 20 s, … 10 min).

Differences from upstream, on purpose:
- No `batch.kubernetes.io/job-tracking` finalizer and no `uncountedTerminatedPods`: succeeded and failed pods
  are counted from the pods that exist, and the counts never go down. A pod removed before this controller saw
  it finish is not counted.
- `completionMode: Indexed`, podFailurePolicy, successPolicy and backoffLimitPerIndex are not supported; an
  Indexed Job runs as NonIndexed.
- Upstream's separate TTL-after-finished controller lives here, and deletes with Background propagation (upstream
  uses Foreground, which needs the garbage collector to finish).
- restartPolicy OnFailure: our nodes don't restart containers in place, so a Failed pod counts as a failure and is
  replaced, as with Never; container restarts reported by a kubelet still count towards backoffLimit.
"""

from __future__ import annotations

import copy
import datetime
import logging
from dataclasses import dataclass

from kubeling.api import conditions, meta
from kubeling.api.podutil import is_pod_active, is_pod_ready
from kubeling.api.resources import must_lookup
from kubeling.api.types import Condition, Obj
from kubeling.client import errors, keys
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory, controller_uid_index, owner_reference
from kubeling.controllers.expectations import Expectations

log = logging.getLogger(__name__)

JOBS = must_lookup("batch", "jobs")
PODS = must_lookup("", "pods")
OWNER_INDEX = "job-uid"

BACKOFF_LIMIT_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"
COMPLETIONS_MESSAGE = "Reached expected number of succeeded pods"
INTERIM = {"FailureTarget": "Failed", "SuccessCriteriaMet": "Complete"}  # interim condition → terminal one


# --- pure helpers ---


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp")) and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def true_condition(job: Obj, kind: str) -> Condition | None:
    """The Job's condition `kind`, when its status is True."""
    condition = conditions.get_condition(job, kind)
    return condition if condition is not None and condition.get("status") == "True" else None


def finished_condition(job: Obj) -> Condition | None:
    """The Complete or Failed condition, when the Job has finished."""
    return true_condition(job, "Complete") or true_condition(job, "Failed")


def pod_finish_time(pod: Obj) -> datetime.datetime | None:
    """When the last container of a finished pod stopped (upstream's getFinishedTime, roughly)."""
    status = pod.get("status") or {}
    parsed = [meta.parse_time(((s.get("state") or {}).get("terminated") or {}).get("finishedAt"))
              for s in status.get("containerStatuses") or []]
    times = [t for t in parsed if t is not None]
    if times:
        return max(times)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("lastTransitionTime"):
            return meta.parse_time(condition["lastTransitionTime"])
    return meta.parse_time(pod["metadata"].get("creationTimestamp"))


@dataclass
class PodCounts:
    active: int = 0
    ready: int = 0
    terminating: int = 0
    succeeded: int = 0
    failed: int = 0


def count_pods(job: Obj, pods: list[Obj]) -> PodCounts:
    """Pods by state; succeeded and failed never drop below what status already recorded."""
    status = job.get("status") or {}
    counts = PodCounts()
    succeeded = failed = 0
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase")
        if phase == "Succeeded":
            succeeded += 1
        elif phase == "Failed":
            failed += 1
        elif pod["metadata"].get("deletionTimestamp"):
            counts.terminating += 1
        else:
            counts.active += 1
            counts.ready += is_pod_ready(pod)
    counts.succeeded = max(succeeded, status.get("succeeded") or 0)
    counts.failed = max(failed, status.get("failed") or 0)
    return counts


def wanted_active(job: Obj, succeeded: int, active: int) -> int:
    """How many pods should be running now: min(parallelism, remaining completions); 0 while suspended."""
    spec = job["spec"]
    if spec.get("suspend"):
        return 0
    parallelism = spec.get("parallelism", 1)
    completions = spec.get("completions")
    if completions is None:
        # A work queue: once any pod succeeded, start no more and let the running ones finish.
        return active if succeeded > 0 else parallelism
    return max(0, min(parallelism, completions - succeeded))


def past_backoff_limit_on_failure(job: Obj, pods: list[Obj]) -> bool:
    """restartPolicy OnFailure: container restarts in running pods count towards backoffLimit (upstream)."""
    if (job["spec"].get("template", {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        status = pod.get("status") or {}
        if status.get("phase") in ("Running", "Pending"):
            for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
                restarts += container.get("restartCount") or 0
    limit = job["spec"].get("backoffLimit", 6)
    return restarts > 0 if limit == 0 else restarts >= limit


def deadline_remaining(job: Obj, now: datetime.datetime) -> float | None:
    """Seconds until activeDeadlineSeconds runs out (≤ 0: it has), or None without a deadline or a start."""
    deadline = job["spec"].get("activeDeadlineSeconds")
    start = meta.parse_time((job.get("status") or {}).get("startTime"))
    if deadline is None or start is None or job["spec"].get("suspend"):
        return None
    return deadline - (now - start).total_seconds()


def failure_reason(job: Obj, pods: list[Obj], counts: PodCounts, now: datetime.datetime) -> tuple[str, str] | None:
    """(reason, message) when the Job must fail now."""
    if counts.failed > job["spec"].get("backoffLimit", 6) or past_backoff_limit_on_failure(job, pods):
        return "BackoffLimitExceeded", BACKOFF_LIMIT_MESSAGE
    remaining = deadline_remaining(job, now)
    if remaining is not None and remaining <= 0:
        return "DeadlineExceeded", DEADLINE_MESSAGE
    return None


def is_complete(job: Obj, counts: PodCounts) -> bool:
    completions = job["spec"].get("completions")
    if completions is None:
        return counts.succeeded > 0 and counts.active == 0
    return counts.succeeded >= completions and counts.active == 0


def pod_backoff_remaining(pods: list[Obj], now: datetime.datetime, base: float = 10.0,
                          cap: float = 600.0) -> float:
    """Seconds to wait before replacing failed pods: base·2^(n-1) after the n-th failure since the last success."""
    last_success = max((t for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"
                        if (t := pod_finish_time(p)) is not None), default=None)
    failures = [t for p in pods if (p.get("status") or {}).get("phase") == "Failed"
                if (t := pod_finish_time(p)) is not None and (last_success is None or t > last_success)]
    if not failures:
        return 0.0
    delay = min(base * 2 ** (len(failures) - 1), cap)
    return delay - (now - max(failures)).total_seconds()


def set_condition(status: Obj, kind: str, condition_status: str, reason: str, message: str,
                  now: str) -> bool:
    """Add or update a condition; True when something changed. As upstream's ensureJobConditionStatus, a condition
    that is not True is never added from nothing."""
    if condition_status != "True" and conditions.find_condition(status.get("conditions"), kind) is None:
        return False
    return conditions.set_condition(status.setdefault("conditions", []), {
        "type": kind, "status": condition_status, "reason": reason, "message": message, "lastProbeTime": now}, now)


def pod_from_template(job: Obj) -> Obj:
    template = job["spec"]["template"]
    template_meta = template.get("metadata") or {}
    owner = owner_reference({**job, "apiVersion": "batch/v1", "kind": "Job"})  # list items may lack them
    metadata: Obj = {"generateName": f"{job['metadata']['name']}-", "namespace": job["metadata"]["namespace"],
                     "labels": dict(template_meta.get("labels") or {}), "ownerReferences": [owner]}
    if template_meta.get("annotations"):
        metadata["annotations"] = dict(template_meta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": copy.deepcopy(template.get("spec"))}


def deletion_order(pods: list[Obj]) -> list[Obj]:
    """Pods cheapest to lose first, as upstream's ActivePods sort: unscheduled, pending, not ready, newest."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}
    return sorted(pods, key=lambda p: (bool((p.get("spec") or {}).get("nodeName")),
                                       phase_rank.get((p.get("status") or {}).get("phase", "Pending"), 0),
                                       is_pod_ready(p), _negated(p["metadata"].get("creationTimestamp", ""))))


def _negated(stamp: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in stamp)


# --- the controller ---


class JobController(Controller):
    name = "job"
    workers = 2
    burst = 500  # most pods created or deleted in one sync (upstream's MaxPodCreateDeletePerSync)
    pod_failure_backoff = 10.0  # upstream's DefaultJobPodFailureBackOff
    max_pod_failure_backoff = 600.0

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.expectations = Expectations()
        self.clock = lambda: datetime.datetime.now(datetime.UTC)
        job_informer = informers.informer(JOBS)
        pod_informer = informers.informer(PODS)
        self.jobs, self.pods = job_informer.store, pod_informer.store
        self.pods.add_indexer(OWNER_INDEX, controller_uid_index("Job"))
        job_informer.add_handler(self.enqueue, lambda old, new: self.enqueue(new),
                                 lambda job: self.expectations.forget(keys.key_of(job)))
        self.track_owned_pods(pod_informer, "Job", self.jobs, self.expectations)

    # The sync

    def sync(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None:
            self.expectations.forget(key)
            return
        now = self.clock()
        if finished_condition(job) is not None:
            self._expire_if_due(key, job, now)
            return
        # Read expectations before the pods, so a pod arriving in between defers work rather than doubling it.
        satisfied = self.expectations.satisfied(key)
        pods = self.pods.by_index(OWNER_INDEX, job["metadata"]["uid"])
        counts = count_pods(job, pods)
        status = copy.deepcopy(job.get("status") or {})
        stamp = meta.format_time(now)
        if not status.get("startTime") and not job["spec"].get("suspend"):
            status["startTime"] = stamp
        job = {**job, "status": status}

        interim = self._interim_condition(job, pods, counts, now)
        if interim is not None:
            active_pods = [p for p in pods if is_pod_active(p)]
            deleted = self._delete_pods(job, key, active_pods)
            counts.active -= deleted
            counts.terminating += deleted
            counts.ready = 0 if deleted == len(active_pods) else counts.ready
            set_condition(status, *interim, stamp)
        else:
            if satisfied and not job["metadata"].get("deletionTimestamp"):
                counts.active = self._manage(job, key, pods, counts, now)
            if is_complete(job, counts):
                interim = ("SuccessCriteriaMet", "True", "CompletionsReached", COMPLETIONS_MESSAGE)
                set_condition(status, *interim, stamp)
            elif satisfied:
                self._suspend_condition(job, status, stamp)
            remaining = deadline_remaining(job, now)
            if remaining is not None and interim is None:
                self.queue.add_after(key, max(remaining, 0.0) + 0.05)

        if interim is not None and counts.active == 0 and counts.terminating == 0 and satisfied:
            terminal = INTERIM[interim[0]]
            set_condition(status, terminal, "True", interim[2], interim[3], stamp)
            if terminal == "Complete":
                status["completionTime"] = stamp
                self.recorder.event(job, "Normal", "Completed", "Job completed")
            else:
                self.recorder.event(job, "Warning", interim[2], interim[3])
            if job["spec"].get("ttlSecondsAfterFinished") is not None:
                self.queue.add_after(key, float(job["spec"]["ttlSecondsAfterFinished"]))

        for field, value in (("active", counts.active), ("succeeded", counts.succeeded), ("failed", counts.failed)):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        status["ready"] = counts.ready
        status["terminating"] = counts.terminating
        self._write_status(job, status)

    def _interim_condition(self, job: Obj, pods: list[Obj], counts: PodCounts,
                           now: datetime.datetime) -> tuple[str, str, str, str] | None:
        """(type, status, reason, message) of the interim condition the Job has or must get now, if any."""
        for kind in ("SuccessCriteriaMet", "FailureTarget"):
            if (condition := true_condition(job, kind)) is not None:
                return kind, "True", condition.get("reason", ""), condition.get("message", "")
        failure = failure_reason(job, pods, counts, now)
        if failure is not None:
            return "FailureTarget", "True", *failure
        return None

    def _suspend_condition(self, job: Obj, status: Obj, stamp: str) -> None:
        if job["spec"].get("suspend"):
            if set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", stamp):
                self.recorder.event(job, "Normal", "Suspended", "Job suspended")
        elif set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", stamp):
            self.recorder.event(job, "Normal", "Resumed", "Job resumed")
            # activeDeadlineSeconds counts time continuously active, so a resumed Job starts its clock again.
            status["startTime"] = stamp

    def _manage(self, job: Obj, key: str, pods: list[Obj], counts: PodCounts, now: datetime.datetime) -> int:
        """Create or delete pods towards the wanted number; returns the new number of active pods."""
        active_pods = [p for p in pods if is_pod_active(p)]
        want = wanted_active(job, counts.succeeded, len(active_pods))
        if len(active_pods) > want:
            doomed = deletion_order(active_pods)[: min(len(active_pods) - want, self.burst)]
            return len(active_pods) - self._delete_pods(job, key, doomed)
        missing = min(want - len(active_pods), self.burst)
        if missing <= 0:
            return len(active_pods)
        wait = pod_backoff_remaining(pods, now, self.pod_failure_backoff, self.max_pod_failure_backoff)
        if wait > 0:
            self.queue.add_after(key, wait)
            return len(active_pods)
        self.expectations.expect(key, creations=missing)
        created = 0
        for index in range(missing):
            try:
                pod = self.client.create(PODS, pod_from_template(job))
            except errors.ApiError as exc:
                # Stop at the first failure, as upstream's slow start; unattempted creations will never be seen.
                for _ in range(missing - index):
                    self.expectations.creation_observed(key)
                self.recorder.event(job, "Warning", "FailedCreate", f"Error creating: {exc}")
                raise
            created += 1
            self.recorder.event(job, "Normal", "SuccessfulCreate",
                                f"Created pod: {pod['metadata']['name']} (wanted {missing} more, "
                                f"active {len(active_pods) + created - 1})",
                                related={**pod, "kind": "Pod", "apiVersion": "v1"})
        return len(active_pods) + created

    def _delete_pods(self, job: Obj, key: str, pods: list[Obj]) -> int:
        """Delete pods; returns how many are now deleting or gone."""
        if not pods:
            return 0
        self.expectations.expect(key, deletions=[p["metadata"]["uid"] for p in pods])
        deleted = 0
        for pod in pods:
            try:
                self.client.delete(PODS, pod["metadata"]["name"], pod["metadata"]["namespace"],
                                   preconditions={"uid": pod["metadata"]["uid"]})
            except errors.NotFound:
                self.expectations.deletion_observed(key, pod["metadata"]["uid"])
                deleted += 1
                continue
            except errors.ApiError as exc:
                self.expectations.deletion_observed(key, pod["metadata"]["uid"])
                self.recorder.event(job, "Warning", "FailedDelete", f"Error deleting: {exc}")
                continue
            deleted += 1
            self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                                related={**pod, "kind": "Pod", "apiVersion": "v1"})
        return deleted

    def _write_status(self, job: Obj, status: Obj) -> None:
        cached = self.jobs.get(keys.key_of(job))
        if cached is not None and cached.get("status") == status:
            return
        try:
            self.client.replace_status(JOBS, {**(cached or job), "status": status})
        except (errors.NotFound, errors.Conflict):
            return  # deleted, or our cache is behind: the event that made it stale queues us again

    # ttlSecondsAfterFinished (upstream's TTL-after-finished controller)

    def _expire_if_due(self, key: str, job: Obj, now: datetime.datetime) -> None:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None or job["metadata"].get("deletionTimestamp"):
            return
        remaining = _ttl_remaining(job, ttl, now)
        if remaining > 0:
            self.queue.add_after(key, remaining)
            return
        # The cache may be stale (someone raised the TTL): check a fresh copy before deleting anything.
        try:
            fresh = self.client.get(JOBS, job["metadata"]["name"], job["metadata"]["namespace"])
        except errors.NotFound:
            return
        fresh_ttl = fresh["spec"].get("ttlSecondsAfterFinished")
        if fresh_ttl is None or finished_condition(fresh) is None:
            return
        remaining = _ttl_remaining(fresh, fresh_ttl, now)
        if remaining > 0:
            self.queue.add_after(key, remaining)
            return
        log.info("job %s finished %ss ago; deleting it (ttlSecondsAfterFinished)", key, fresh_ttl)
        try:
            self.client.delete(JOBS, fresh["metadata"]["name"], fresh["metadata"]["namespace"],
                               propagation="Background", preconditions={"uid": fresh["metadata"]["uid"]})
        except (errors.NotFound, errors.Conflict):
            return


def _ttl_remaining(job: Obj, ttl: int, now: datetime.datetime) -> float:
    condition = finished_condition(job) or {}
    finished = meta.parse_time(condition.get("lastTransitionTime")) or now
    return ttl - (now - finished).total_seconds()
