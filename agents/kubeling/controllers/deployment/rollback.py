"""The legacy rollback: a Deployment that carries `spec.rollbackTo` (a field of extensions/v1beta1; apps/v1 has
none, and kubeling serves only apps/v1) gets the pod template of that revision back, as upstream's
pkg/controller/deployment/rollback.go.

Revision 0 means "the one before the current". The controller copies the template (without its
`pod-template-hash` label) and the revision's annotations onto the Deployment and clears `rollbackTo`; the
ordinary rollout then rolls the old template out again, and the ReplicaSet that has it becomes the newest
revision. `kubectl rollout undo` does the same copy itself, on the client side."""

from __future__ import annotations

import copy

from kubeling.api.types import Obj
from kubeling.controllers.deployment.sync import Sync
from kubeling.controllers.deployment.util import (
    DEPLOYMENTS,
    SKIP_COPY,
    equal_ignore_hash,
    revision_of,
    without_hash,
)


class Rollback(Sync):
    """Acting on `spec.rollbackTo`."""

    def _rollback(self, d: Obj, rss: list[Obj]) -> None:
        """Copy the wanted revision's template, or say why not in an event; clear the field either way."""
        new_rs, old_rss = self._get_all(d, rss, create=True)
        all_rss = old_rss + ([new_rs] if new_rs else [])
        wanted = int(d["spec"]["rollbackTo"].get("revision") or 0)
        if wanted == 0:
            revisions = sorted({revision_of(rs) for rs in all_rss}, reverse=True)
            wanted = revisions[1] if len(revisions) > 1 else 0
        source = next((rs for rs in all_rss if wanted and revision_of(rs) == wanted), None)
        updated = copy.deepcopy(d)
        if source is None:
            self.recorder.event(d, "Warning", "RollbackRevisionNotFound", "Unable to find the revision to rollback to.")
        elif equal_ignore_hash(source["spec"]["template"], d["spec"]["template"]):
            self.recorder.event(d, "Warning", "RollbackTemplateUnchanged",
                                f"The rollback revision contains the same template as current deployment "
                                f"\"{d['metadata']['name']}\"")
        else:
            updated["spec"]["template"] = without_hash(source["spec"]["template"])
            annotations = updated["metadata"].setdefault("annotations", {})
            for key, value in (source["metadata"].get("annotations") or {}).items():
                if key not in SKIP_COPY:
                    annotations[key] = value
            self.recorder.event(d, "Normal", "DeploymentRollback",
                                f"Rolled back deployment \"{d['metadata']['name']}\" to revision {wanted}")
        updated["spec"].pop("rollbackTo", None)
        updated.pop("status", None)
        self.deployments.mutation(self.client.replace(DEPLOYMENTS, updated))
