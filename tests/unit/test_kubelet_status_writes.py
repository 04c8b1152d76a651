"""The kubelet writes a pod's status when the API's differs from its own: not again while its last write is still
on its way back through the watch, but again when someone else changed it afterwards (the node lifecycle
controller marking pods not ready while the node was unreachable), as upstream's status manager reconciles."""

from __future__ import annotations

from typing import Any
from unittest import mock

from kubeling.kubelet.pods import PodSyncer

READY = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
NOT_READY = {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}


class Recorder:
    def __init__(self) -> None:
        self.patches: list[Any] = []
        self.version = 10

    def patch(self, rtype: Any, name: str, body: Any, namespace: str, **kwargs: Any) -> dict[str, Any]:
        self.patches.append(body["status"])
        self.version += 1
        return {"metadata": {"name": name, "resourceVersion": str(self.version)}}


def syncer(client: Recorder) -> PodSyncer:
    return PodSyncer(client, mock.Mock(), mock.Mock(), node_name="n1", node_ip="10.0.0.1", root_dir="/tmp",  # type: ignore[arg-type]
                     infra_image="pause", get_pod=lambda uid: None, configmap=mock.Mock(), secret=mock.Mock(),
                     event=lambda *a: None, requeue=lambda uid, delay: None, allocatable=dict)


def pod(version: int, status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": str(version)},
            "status": status}


def test_a_status_changed_by_someone_else_after_our_write_is_written_again() -> None:
    client = Recorder()
    kubelet = syncer(client)
    kubelet._write_status(pod(9, {}), READY)
    assert client.patches == [READY]  # written at resourceVersion 11
    kubelet._write_status(pod(9, {}), READY)  # the watch has not brought our write back yet: nothing to do
    assert len(client.patches) == 1
    kubelet._write_status(pod(11, READY), READY)  # it came back: the same, nothing to do
    assert len(client.patches) == 1
    kubelet._write_status(pod(12, NOT_READY), READY)  # changed by the node lifecycle controller after our write
    assert len(client.patches) == 2 and client.patches[-1]["conditions"] == READY["conditions"]


def test_conditions_others_own_are_kept() -> None:
    """A DisruptionTarget (written by an eviction or PodGC) or a readiness gate's condition is not the kubelet's:
    its status keeps them as they are."""
    from kubeling.kubelet import status

    theirs = {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    pod = {"metadata": {"uid": "u1"}, "spec": {"containers": [{"name": "c", "image": "i"}]},
           "status": {"phase": "Running", "conditions": [theirs]}}
    new = status.pod_status(pod, [], waiting={}, ready=lambda *a: False,
                            started=lambda *a: False, pod_ip="", host_ip="10.0.0.1", sandbox_ready=True,
                            now="2026-01-01T00:00:00Z")
    assert theirs in new["conditions"]
