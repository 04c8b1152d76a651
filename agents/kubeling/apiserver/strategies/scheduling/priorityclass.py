"""PriorityClasses: at most one is the cluster's default.

Upstream: `pkg/registry/scheduling/priorityclass/strategy.go` and the PriorityClass half of the Priority
admission plugin (`plugin/pkg/admission/priority/admission.go`, validatePriorityClass), here
`PriorityAdmission.admit_class`.
"""

from __future__ import annotations

from collections.abc import Callable

from kubeling.api.types import Obj
from kubeling.apiserver.strategies.base import Strategy, served

PRIORITY_CLASSES = served("scheduling.k8s.io", "priorityclasses")


class PriorityClassStrategy(Strategy):
    def __init__(self, admit: Callable[[Obj], None] | None = None) -> None:
        """`admit(priority_class)` raises when the class may not be stored (a second global default)."""
        super().__init__(PRIORITY_CLASSES)
        self.admit = admit

    def prepare_for_create(self, obj: Obj, asked_name: str) -> None:
        super().prepare_for_create(obj, asked_name)
        if self.admit is not None:
            self.admit(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        if self.admit is not None and new.get("globalDefault") and not old.get("globalDefault"):
            self.admit(new)
