"""Jobs: a selector generated from the Job's uid, unless the Job asks to choose its own.

Upstream: `pkg/registry/batch/job/strategy.go` (PrepareForCreate, generateSelector).
"""

from __future__ import annotations

from kubeling.api.types import Obj
from kubeling.apiserver.strategies.base import Strategy, served

JOBS = served("batch", "jobs")


class JobStrategy(Strategy):
    def __init__(self) -> None:
        super().__init__(JOBS, reset_status_on_create=True, selectable_fields=("status.successful",))

    def prepare_for_create(self, obj: Obj, asked_name: str) -> None:
        super().prepare_for_create(obj, asked_name)
        generate_selector(obj)


def generate_selector(job: Obj) -> None:
    """Select the Job's pods by its uid, and label its pod template to match (unless `manualSelector` is set)."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector"):
        return
    uid, name = job["metadata"]["uid"], job["metadata"]["name"]
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
              "controller-uid": uid, "job-name": name}
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec.get("template")
    if isinstance(template, dict):
        template_meta = template.setdefault("metadata", {})
        if isinstance(template_meta, dict):
            template_meta.setdefault("labels", {}).update(labels)
