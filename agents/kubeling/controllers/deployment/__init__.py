"""The Deployment controller, one question per module, as upstream's pkg/controller/deployment/:

- controller.py: which events queue a Deployment, which ReplicaSets it owns, which strategy a sync runs
  (deployment_controller.go);
- sync.py: finding or creating the new ReplicaSet, resizing ReplicaSets, old-ReplicaSet cleanup, status (sync.go);
- rolling.py: how far a RollingUpdate moves in one step, with a worked example (rolling.go);
- recreate.py: old pods all gone, then new ones (recreate.go);
- rollback.py: the legacy `spec.rollbackTo` (rollback.go);
- progress.py: the Progressing condition and progressDeadlineSeconds (progress.go);
- util.py: what a Deployment and its ReplicaSets say, without side effects (util/deployment_util.go).

The controller reads through a MutationCache (kubeling.client.mutationcache) so that it sees its own writes
before its informers do.
"""

from kubeling.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
