"""CronJob: create a Job at every scheduled time, honouring concurrencyPolicy, and prune finished Jobs.

As upstream's `cronjob_controllerv2.go`: no polling loop. Each sync works out the most recent unmet schedule time,
creates the Job `<cronjob>-<scheduled time in minutes since the epoch>` (a deterministic name, so a Job is never
created twice for one time), and requeues the CronJob for its next schedule time with `queue.add_after`.

Schedule times come from `croniter` (standard 5-field cron and the @hourly-style descriptors, plus `@every
<duration>`), in `spec.timeZone`, or a `CRON_TZ=`/`TZ=` prefix. Without either, times are UTC; upstream uses the
controller-manager's local zone, which is UTC on standard deployments. The clock is a field (`clock`) so the
schedule logic can be tested without waiting for minutes to pass.
"""

from __future__ import annotations

import copy
import datetime
import logging
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from croniter import croniter

from kubeling.api import meta
from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.client.keys import split_key
from kubeling.controllers.base import Controller, InformerFactory, controller_of, owner_of

log = logging.getLogger(__name__)

CRONJOBS = must_lookup("batch", "cronjobs")
JOBS = must_lookup("batch", "jobs")

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1  # seconds past the schedule time to wake up, against clock skew (upstream's 100 ms)
MANY_MISSED = 100

UTC = datetime.UTC
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


# --- schedules (pure) ---


class Schedule:
    """A parsed cron schedule: `next(t)` is the first activation strictly after `t`, in whole seconds."""

    def __init__(self, expression: str, zone: datetime.tzinfo) -> None:
        self.expression, self.zone = expression, zone
        self.every: float | None = None
        if expression.startswith("@every "):
            self.every = parse_duration(expression[len("@every "):].strip())
            if self.every < 1:
                raise ValueError(f"@every duration must be at least 1 second: {expression!r}")
            return
        if expression not in _DESCRIPTORS:
            fields = expression.split()
            if len(fields) != 5:
                raise ValueError(f"expected exactly 5 fields, found {len(fields)}: {expression}")
        try:
            croniter(expression)
        except (ValueError, KeyError) as exc:
            raise ValueError(str(exc)) from exc

    def next(self, moment: datetime.datetime) -> datetime.datetime:
        if self.every is not None:
            # As robfig/cron's ConstantDelaySchedule: add the delay, then drop the fraction of a second.
            later = moment + datetime.timedelta(seconds=self.every)
            return later.replace(microsecond=0)
        local = moment.astimezone(self.zone)
        return croniter(self.expression, local).get_next(datetime.datetime).astimezone(UTC)


def parse_duration(text: str) -> float:
    """A Go duration such as `1h30m` or `90s`, in seconds."""
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"time: invalid duration {text!r}")
    return total


def load_zone(name: str | None) -> datetime.tzinfo:
    """The named IANA zone (UTC for none); raises ValueError for an unknown one."""
    if not name:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name}") from exc


def parse_schedule(schedule: str, time_zone: str | None = None) -> Schedule:
    """Parse `spec.schedule` in `spec.timeZone`; a `CRON_TZ=`/`TZ=` prefix in the schedule names its own zone."""
    schedule = schedule.strip()
    match = re.match(r"^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$", schedule)
    if match:
        return Schedule(match.group(2).strip(), load_zone(match.group(1)))
    return Schedule(schedule, load_zone(time_zone))


@dataclass(frozen=True)
class ScheduleCheck:
    earliest: datetime.datetime  # last schedule time, creation time, or the starting deadline
    most_recent: datetime.datetime | None  # the latest schedule time at or before now not yet handled
    missed: int  # roughly how many schedule times were missed (upstream's estimate)


def most_recent_schedule_time(schedule: Schedule, created: datetime.datetime,
                              last_scheduled: datetime.datetime | None, now: datetime.datetime,
                              starting_deadline: int | None = None) -> ScheduleCheck:
    """Upstream's mostRecentScheduleTime: the latest activation in (earliest, now], without listing every
    missed one when the controller was away for a long time."""
    earliest = last_scheduled or created
    if starting_deadline is not None:
        # The controller won't start anything older than the deadline allows.
        earliest = max(earliest, now - datetime.timedelta(seconds=starting_deadline))
    t1 = schedule.next(earliest)
    t2 = schedule.next(t1)
    if now < t1:
        return ScheduleCheck(earliest, None, 0)
    if now < t2:
        return ScheduleCheck(earliest, t1, 0)
    between = round((t2 - t1).total_seconds())
    if between < 1:
        raise ValueError("time difference between two schedules is less than 1 second")
    missed = int((now - t1).total_seconds()) // between + 1
    # Jump close to now, then walk: skipping ahead by whole intervals keeps this cheap even after a long outage.
    cursor = schedule.next(t1 + datetime.timedelta(seconds=(missed - 2) * between))
    most_recent = None
    while cursor <= now:
        most_recent = cursor
        cursor = schedule.next(cursor)
    return ScheduleCheck(earliest, most_recent, missed)


def next_schedule_delay(schedule: Schedule, created: datetime.datetime, last_scheduled: datetime.datetime | None,
                        now: datetime.datetime) -> float:
    """Seconds until the sync for the next schedule time is due (upstream's nextScheduleTimeDuration)."""
    try:
        check = most_recent_schedule_time(schedule, created, last_scheduled, now)
        base = check.most_recent or (check.earliest if check.missed == 0 else now)
    except ValueError:
        base = now
    return (schedule.next(base) - now).total_seconds() + NEXT_SCHEDULE_DELTA


def job_name(cronjob_name: str, scheduled: datetime.datetime) -> str:
    """`<cronjob>-<minutes since the epoch>`: one name per schedule time, so a Job is never made twice."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def rfc3339(moment: datetime.datetime) -> str:
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def job_from_template(cj: Obj, scheduled: datetime.datetime, zone: datetime.tzinfo) -> Obj:
    template = cj["spec"].get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    annotations = {**(template_meta.get("annotations") or {}),
                   SCHEDULED_ANNOTATION: rfc3339(scheduled.astimezone(zone))}
    metadata: Obj = {"name": job_name(cj["metadata"]["name"], scheduled), "namespace": cj["metadata"]["namespace"],
                     "labels": dict(template_meta.get("labels") or {}), "annotations": annotations,
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cj["metadata"]["name"],
                                          "uid": cj["metadata"]["uid"], "controller": True,
                                          "blockOwnerDeletion": True}]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
            "spec": copy.deepcopy(template.get("spec") or {})}


def job_finished(job: Obj) -> str | None:
    """"Complete" or "Failed" once the Job has finished."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition["type"]
    return None


def job_reference(job: Obj) -> Obj:
    metadata = job["metadata"]
    return {"kind": "Job", "namespace": metadata["namespace"], "name": metadata["name"], "uid": metadata["uid"],
            "apiVersion": "batch/v1", "resourceVersion": metadata.get("resourceVersion", "")}


def jobs_to_prune(jobs: list[Obj], limit: int) -> list[Obj]:
    """The oldest finished Jobs beyond `limit`, oldest first (by start time, unstarted last, then name)."""
    def order(job: Obj) -> tuple[int, str, str]:
        start = (job.get("status") or {}).get("startTime")
        return (0, start, job["metadata"]["name"]) if start else (1, "", job["metadata"]["name"])

    excess = len(jobs) - max(limit, 0)
    return sorted(jobs, key=order)[:excess] if excess > 0 else []


# --- the controller ---


class CronJobController(Controller):
    name = "cronjob"
    workers = 2

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(UTC)
        cj_informer = informers.informer(CRONJOBS)
        job_informer = informers.informer(JOBS)
        self.cronjobs, self.jobs = cj_informer.store, job_informer.store
        cj_informer.add_handler(self.enqueue, self._cronjob_updated, None)
        job_informer.add_handler(self._job_event, self._job_updated, self._job_event)

    def _cronjob_updated(self, old: Obj, new: Obj) -> None:
        # A new schedule may be due sooner than the wake-up already queued; anything else: look again now.
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if (old_spec.get("schedule"), old_spec.get("timeZone")) != (new_spec.get("schedule"), new_spec.get("timeZone")):
            try:
                schedule = parse_schedule(new_spec.get("schedule", ""), new_spec.get("timeZone"))
            except ValueError:
                self.enqueue(new)  # the sync reports the bad schedule
                return
            self.enqueue_after(new, next_schedule_delay(schedule, *_times(new), self.clock()))
            return
        self.enqueue(new)

    def _job_event(self, job: Obj) -> None:
        if (cj := owner_of(job, "CronJob", self.cronjobs)) is not None:
            self.enqueue(cj)

    def _job_updated(self, old: Obj, new: Obj) -> None:
        if controller_of(old) != controller_of(new):
            self._job_event(old)
        self._job_event(new)

    # The sync

    def sync(self, key: str) -> None:
        cached = self.cronjobs.get(key)
        if cached is None:
            return
        namespace, name = split_key(key)
        jobs = [j for j in self.jobs.list(namespace)
                if (ref := controller_of(j)) is not None and ref.get("kind") == "CronJob" and ref.get("name") == name]
        cj = copy.deepcopy(cached)
        cj.setdefault("status", {})
        pruned = self._cleanup_finished_jobs(cj, jobs)
        delay, changed = self._sync_cronjob(cj, jobs)
        if pruned or changed:
            if not cj["status"].get("active"):
                cj["status"].pop("active", None)
            self.client.replace_status(CRONJOBS, cj)
        if delay is not None:
            self.queue.add_after(key, max(delay, 0.0))

    def _sync_cronjob(self, cj: Obj, jobs: list[Obj]) -> tuple[float | None, bool]:
        """Reconcile status.active with the Jobs, then start the Job for the latest unmet schedule time.
        Returns (seconds until the next sync is due, or None; whether status changed)."""
        now = self.clock()
        status = cj["status"]
        changed = False
        children = set()
        for job in jobs:
            uid = job["metadata"]["uid"]
            children.add(uid)
            in_active = any(ref.get("uid") == uid for ref in status.get("active") or [])
            finished = job_finished(job)
            if not in_active and finished is None:
                # Maybe our cache of the CronJob predates the status write that listed this Job: ask the server.
                fresh = self.client.get(CRONJOBS, cj["metadata"]["name"], cj["metadata"]["namespace"])
                if any(ref.get("uid") == uid for ref in (fresh.get("status") or {}).get("active") or []):
                    cj.clear()
                    cj.update(fresh)
                    status = cj.setdefault("status", {})
                    continue
                self.recorder.event(cj, "Warning", "UnexpectedJob", "Saw a job that the controller did not create "
                                    f"or forgot: {job['metadata']['name']}")
            elif finished is not None:
                if in_active:
                    status["active"] = [r for r in status["active"] if r.get("uid") != uid]
                    self.recorder.event(cj, "Normal", "SawCompletedJob",
                                        f"Saw completed job: {job['metadata']['name']}, condition: {finished}")
                    changed = True
                completion = (job.get("status") or {}).get("completionTime")
                if finished == "Complete" and completion:
                    last = meta.parse_time(status.get("lastSuccessfulTime"))
                    completed = meta.parse_time(completion)
                    if last is None or (completed is not None and completed > last):
                        status["lastSuccessfulTime"] = completion
                        changed = True
        for ref in list(status.get("active") or []):
            if ref.get("uid") in children:
                continue
            try:
                self.client.get(JOBS, ref["name"], ref.get("namespace") or cj["metadata"]["namespace"])
            except errors.NotFound:
                self.recorder.event(cj, "Normal", "MissingJob", f"Active job went missing: {ref['name']}")
                status["active"] = [r for r in status["active"] if r.get("uid") != ref.get("uid")]
                changed = True

        if cj["metadata"].get("deletionTimestamp"):
            return None, changed
        spec = cj["spec"]
        try:
            zone = load_zone(spec.get("timeZone"))
        except ValueError as exc:
            self.recorder.event(cj, "Warning", "UnknownTimeZone", f"invalid timeZone: {spec.get('timeZone')!r}: {exc}")
            return None, changed
        if spec.get("suspend"):
            return None, changed
        if "TZ" in spec.get("schedule", ""):
            self.recorder.event(cj, "Warning", "UnsupportedSchedule",
                                f"CRON_TZ or TZ used in schedule {spec.get('schedule')!r} is not officially "
                                "supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ "
                                "for more details")
        try:
            schedule = parse_schedule(spec.get("schedule", ""), spec.get("timeZone"))
        except ValueError as exc:
            self.recorder.event(cj, "Warning", "UnparseableSchedule",
                                f"unparseable schedule: {spec.get('schedule')!r} : {exc}")
            return None, changed
        created, last_scheduled = _times(cj)
        try:
            check = most_recent_schedule_time(schedule, created, last_scheduled, now,
                                              spec.get("startingDeadlineSeconds"))
        except ValueError as exc:
            self.recorder.event(cj, "Warning", "InvalidSchedule", f"invalid schedule: {spec.get('schedule')} : {exc}")
            return None, changed
        delay = next_schedule_delay(schedule, created, last_scheduled, now)
        scheduled = check.most_recent
        if scheduled is None:
            return delay, changed  # nothing due yet: wake up at the next schedule time
        if check.missed > MANY_MISSED:
            self.recorder.event(cj, "Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew")
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + datetime.timedelta(seconds=deadline) < now:
            self.recorder.event(cj, "Warning", "MissSchedule", "Missed scheduled time to start a job: "
                                + scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000"))
            return delay, changed
        name = job_name(cj["metadata"]["name"], scheduled)
        if any(ref.get("name") == name for ref in status.get("active") or []) or last_scheduled == scheduled:
            return delay, changed  # this schedule time has been handled
        if spec.get("concurrencyPolicy") == "Forbid" and status.get("active"):
            self.recorder.event(cj, "Normal", "JobAlreadyActive", "Not starting job because prior execution is "
                                "running and concurrency policy is Forbid")
            return delay, changed
        if spec.get("concurrencyPolicy") == "Replace":
            for ref in list(status.get("active") or []):
                self._delete_job(cj, ref["name"], ref.get("uid", ""))
                changed = True
        try:
            job = self.client.create(JOBS, job_from_template(cj, scheduled, zone))
        except errors.AlreadyExists:
            # Created on an earlier try whose status write was lost, or by someone else.
            job = self.client.get(JOBS, name, cj["metadata"]["namespace"])
            ref = controller_of(job)
            if not ref or ref.get("uid") != cj["metadata"]["uid"]:
                return None, changed
            if any(r.get("uid") == job["metadata"]["uid"] for r in status.get("active") or []):
                return None, changed
        except errors.ApiError as exc:
            self.recorder.event(cj, "Warning", "FailedCreate", f"Error creating job: {exc}")
            raise
        else:
            self.recorder.event(cj, "Normal", "SuccessfulCreate", f"Created job {job['metadata']['name']}",
                                related={**job, "kind": "Job", "apiVersion": "batch/v1"})
        status.setdefault("active", []).append(job_reference(job))
        status["lastScheduleTime"] = meta.format_time(scheduled)
        return next_schedule_delay(schedule, created, scheduled, now), True

    def _cleanup_finished_jobs(self, cj: Obj, jobs: list[Obj]) -> bool:
        """Delete the oldest finished Jobs beyond the history limits; True when status changed."""
        spec = cj["spec"]
        if spec.get("successfulJobsHistoryLimit") is None and spec.get("failedJobsHistoryLimit") is None:
            return False
        changed = False
        for kind, limit in (("Complete", spec.get("successfulJobsHistoryLimit")),
                            ("Failed", spec.get("failedJobsHistoryLimit"))):
            if limit is None:
                continue
            for job in jobs_to_prune([j for j in jobs if job_finished(j) == kind], limit):
                changed |= self._delete_job(cj, job["metadata"]["name"], job["metadata"]["uid"])
        return changed

    def _delete_job(self, cj: Obj, name: str, uid: str) -> bool:
        try:
            self.client.delete(JOBS, name, cj["metadata"]["namespace"], propagation="Background")
        except errors.NotFound:
            pass
        except errors.ApiError as exc:
            self.recorder.event(cj, "Warning", "FailedDelete", f"Deleted job: {exc}")
            return False
        status = cj["status"]
        if status.get("active"):
            status["active"] = [r for r in status["active"] if r.get("uid") != uid]
        self.recorder.event(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}",
                            related={"kind": "Job", "apiVersion": "batch/v1",
                                     "metadata": {"name": name, "namespace": cj["metadata"]["namespace"], "uid": uid}})
        return True


def _times(cj: Obj) -> tuple[datetime.datetime, datetime.datetime | None]:
    """(creation time, last schedule time) of a CronJob."""
    created = meta.parse_time(cj["metadata"].get("creationTimestamp")) or datetime.datetime.now(UTC)
    return created, meta.parse_time((cj.get("status") or {}).get("lastScheduleTime"))
