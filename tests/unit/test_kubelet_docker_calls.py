"""The Docker calls a pod start costs the kubelet beyond Docker's own work (creating and starting containers): an
image is looked up once for a burst of pods, not once per container; a sandbox's inspect (for its IP) serves the
pod's next listing; and the relist wakes a pod only for a container state its last sync did not see."""

from __future__ import annotations

from collections import Counter
from typing import Any
from unittest import mock

import docker.errors
import pytest

from kubeling.kubelet import runtime
from kubeling.kubelet.pods import PodSyncer
from kubeling.kubelet.runtime import ContainerRecord, Runtime


class FakeDocker:
    """Just the Docker API calls these tests make, counted."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.images = {"busybox:1": "sha256:b1"}
        self.rows: list[dict[str, Any]] = []

    def inspect_image(self, image: str) -> dict[str, Any]:
        self.calls["inspect_image"] += 1
        if image not in self.images:
            raise docker.errors.ImageNotFound(f"no such image: {image}")
        return {"Id": self.images[image]}

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        self.calls["inspect_container"] += 1
        return {"State": {"Running": True, "StartedAt": "2026-12-07T19:00:00.123Z"},
                "NetworkSettings": {"Networks": {"pods": {"IPAddress": "10.244.7.5"}}}}

    def containers(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls["containers"] += 1
        return self.rows

    def create_container(self, image: str, **kwargs: Any) -> dict[str, Any]:
        self.calls["create_container"] += 1
        if image not in self.images:
            response = mock.Mock(status_code=404)
            raise docker.errors.ImageNotFound(f"no such image: {image}", response=response)
        return {"Id": "c1"}

    def pull(self, repository: str, tag: str, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls["pull"] += 1
        self.images[f"{repository}:{tag}"] = "sha256:new"
        return []


@pytest.fixture
def engine() -> tuple[Runtime, FakeDocker]:
    rt = Runtime("n1", "pods")
    fake = FakeDocker()
    rt.api = fake  # type: ignore[assignment]
    return rt, fake


def test_an_image_is_looked_up_once_for_a_burst(engine: tuple[Runtime, FakeDocker]) -> None:
    rt, fake = engine
    assert [rt.image_id("busybox:1") for _ in range(30)] == ["sha256:b1"] * 30
    assert fake.calls["inspect_image"] == 1
    assert rt.image_id("missing:1") is None and rt.image_id("missing:1") is None
    assert fake.calls["inspect_image"] == 3  # an absent image is asked about every time (it may be pulled)


def test_a_pull_or_a_create_that_misses_the_image_forgets_it(engine: tuple[Runtime, FakeDocker]) -> None:
    rt, fake = engine
    rt.image_id("busybox:1")
    rt.pull("busybox:1")
    assert rt.image_id("busybox:1") == "sha256:new" and fake.calls["inspect_image"] == 2
    del fake.images["busybox:1"]  # removed by hand while the kubelet still remembers it
    with pytest.raises(docker.errors.APIError):
        rt.create("k8s_app", "busybox:1", {}, host_config={})
    assert rt.image_id("busybox:1") is None and fake.calls["inspect_image"] == 3


def test_a_sandbox_inspected_for_its_ip_is_not_inspected_again(engine: tuple[Runtime, FakeDocker]) -> None:
    rt, fake = engine
    assert rt.sandbox_ip("s1") == "10.244.7.5"
    fake.rows = [{"Id": "s1", "State": "running", "Created": 1,
                  "Labels": {runtime.LABEL_POD_UID: "u1", runtime.LABEL_KIND: "sandbox"}}]
    [record] = rt.list("u1")
    assert record.started_at == "2026-12-07T19:00:00Z"
    assert fake.calls["inspect_container"] == 1


def record(container_id: str, state: str) -> ContainerRecord:
    return ContainerRecord(id=container_id, name="app", kind="app", pod_uid="u1", restart_count=0, state=state,
                           created=1.0)


def test_the_relist_wakes_a_pod_only_for_what_its_last_sync_did_not_see() -> None:
    rt = mock.Mock()
    rt.list.return_value = [record("c1", "running")]
    syncer = PodSyncer(mock.Mock(), rt, mock.Mock(), node_name="n1", node_ip="10.0.0.1", root_dir="/tmp",
                       infra_image="pause", get_pod=lambda uid: None, configmap=mock.Mock(), secret=mock.Mock(),
                       event=lambda *a: None, requeue=lambda uid, delay: None, allocatable=dict)
    assert syncer.unseen("u1", "c1", "running")  # never synced
    syncer._list("u1")
    assert not syncer.unseen("u1", "c1", "running")  # the sync saw it running: nothing new
    assert syncer.unseen("u1", "c1", "exited")  # it died since
    assert syncer.unseen("u1", "c2", "running")  # a container the sync did not see
    syncer._syncing.add("u1")
    assert not syncer.unseen("u1", "c1", "exited")  # a sync runs now: it looks for itself
