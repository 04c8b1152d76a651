"""The ReplicationController manager: ReplicationControllers are the ReplicaSets of core/v1 (the seeds name them),
kept by the same code. The one difference is the selector, a plain set of labels instead of a LabelSelector.

Upstream: pkg/controller/replication/replication_controller.go, which also wraps the ReplicaSet controller
(through conversion to and from ReplicaSets).
"""

from __future__ import annotations

from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.controllers.replicaset import ReplicaSetController


class ReplicationManager(ReplicaSetController):
    name = "replicationcontroller"
    rtype = must_lookup("", "replicationcontrollers")

    @staticmethod
    def label_selector(rc: Obj) -> Obj | None:
        selector = rc.get("spec", {}).get("selector")
        return {"matchLabels": selector} if isinstance(selector, dict) and selector else None
