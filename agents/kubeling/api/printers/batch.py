"""Printers for the `batch` group: jobs and cron jobs.

Upstream (v1.32): pkg/printers/internalversion/printers.go, printJob, printCronJob.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    Printer,
    column,
    container_cells,
    dig,
    format_label_selector,
    human_duration,
    object_age,
    object_name,
    parse_time,
    since,
)

# Field descriptions, as upstream takes them from the API types' SwaggerDoc().
_DOC = {
    "job.succeeded": (
        "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. "
        "However, it may decrease in reaction to scale down of elastic indexed jobs."
    ),
    "job.selector": (
        "A label query over pods that should match the pod count. Normally, the system sets this field for you. "
        "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
    "cj.schedule": "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
    "cj.timeZone": (
        "The time zone name for the given schedule, see "
        "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the "
        "time zone of the kube-controller-manager process. The set of valid time zone names and the time zone "
        "offset is loaded from the system-wide time zone database by the API server during CronJob validation and "
        "the controller manager during execution. If no system-wide time zone database can be found a bundled "
        "version of the database is used instead. If the time zone name becomes invalid during the lifetime of a "
        "CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will "
        "create a system event with the reason UnknownTimeZone. More information can be found in "
        "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones"
    ),
    "cj.suspend": (
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started "
        "executions.  Defaults to false."
    ),
    "cj.active": "A list of pointers to currently running jobs.",
    "cj.lastScheduleTime": "Information when was the last time the job was successfully scheduled.",
}


_JOB_COLUMNS = [
    NAME,
    column("Status", "Status of the job."),
    column("Completions", _DOC["job.succeeded"]),
    column("Duration", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", _DOC["job.selector"], priority=1),
]


def _job_condition(job: dict[str, Any], type_: str) -> bool:
    """hasJobCondition: the first condition of that type decides."""
    for cond in dig(job, "status", "conditions") or []:
        if cond.get("type") == type_:
            return cond.get("status") == "True"
    return False


def _job_status(job: dict[str, Any]) -> str:
    if _job_condition(job, "Complete"):
        return "Complete"
    if _job_condition(job, "Failed"):
        return "Failed"
    if dig(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    if _job_condition(job, "Suspended"):
        return "Suspended"
    if _job_condition(job, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_cells(job: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    took = "" if start is None else human_duration(((end or now) - start).total_seconds())
    return [
        object_name(job), _job_status(job), completions, took, object_age(job, now),
        *container_cells(dig(spec, "template", "spec")), format_label_selector(spec.get("selector")),
    ]  # fmt: skip


_CRONJOB_COLUMNS = [
    NAME,
    column("Schedule", _DOC["cj.schedule"]),
    column("Timezone", _DOC["cj.timeZone"]),
    column("Suspend", _DOC["cj.suspend"], "boolean"),
    column("Active", _DOC["cj.active"], "integer"),
    column("Last Schedule", _DOC["cj.lastScheduleTime"]),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", _DOC["job.selector"], priority=1),
]


def _cronjob_cells(cj: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    suspend = spec.get("suspend")
    last = status.get("lastScheduleTime")
    job_spec = dig(spec, "jobTemplate", "spec") or {}
    return [
        object_name(cj), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
        "<unset>" if suspend is None else ("True" if suspend else "False"), len(status.get("active") or []),
        "<none>" if last is None else since(last, now), object_age(cj, now),
        *container_cells(dig(job_spec, "template", "spec")), format_label_selector(job_spec.get("selector")),
    ]  # fmt: skip


GROUP = "batch"

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "Job": Printer(_JOB_COLUMNS, _job_cells),
    "CronJob": Printer(_CRONJOB_COLUMNS, _cronjob_cells),
}
