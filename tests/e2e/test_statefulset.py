"""StatefulSet controller end to end: a real API server (own etcd prefix), the real scheduler, a controller-manager
running only the statefulset controller, and a kubelet stand-in that marks pods Running and Ready.

Ordering is checked by watching invariants while the controller works: the kubelet stand-in makes pods Ready only
after a delay, so a controller that didn't wait would be caught with web-N existing while web-(N-1) is not Ready.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cluster import Component, Stack
from standin import KubeletStandIn, register_node
from support.polling import wait_until

pytestmark = pytest.mark.e2e

NODES = ["sts-node-a", "sts-node-b"]
GHOST = "sts-node-ghost"  # registered, schedulable, but no kubelet: its pods never become Ready


class Env:
    def __init__(self, url: str, kubelet: KubeletStandIn) -> None:
        self.url, self.kubelet = url, kubelet
        self.http = requests.Session()

    def namespace(self) -> str:
        name = f"sts-{uuid.uuid4().hex[:8]}"
        self.http.post(f"{self.url}/api/v1/namespaces",
                       json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).raise_for_status()
        return name

    def pods(self, ns: str) -> dict[str, dict]:
        items = self.http.get(f"{self.url}/api/v1/namespaces/{ns}/pods").json()["items"]
        return {p["metadata"]["name"]: p for p in items}

    def sts(self, ns: str, name: str) -> dict:
        return self.http.get(f"{self.url}/apis/apps/v1/namespaces/{ns}/statefulsets/{name}").json()

    def create(self, ns: str, body: dict) -> dict:
        response = self.http.post(f"{self.url}/apis/apps/v1/namespaces/{ns}/statefulsets", json=body)
        response.raise_for_status()
        return response.json()

    def patch(self, ns: str, name: str, body: dict) -> dict:
        response = self.http.patch(f"{self.url}/apis/apps/v1/namespaces/{ns}/statefulsets/{name}", json=body,
                                   headers={"Content-Type": "application/merge-patch+json"})
        response.raise_for_status()
        return response.json()


def ready(pod: dict | None) -> bool:
    return pod is not None and pod.get("status", {}).get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


@pytest.fixture(scope="module")
def env(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("statefulset")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "sts")
        for name in NODES:
            register_node(server.url, name)
        register_node(server.url, GHOST, labels={"kubelet": "none"})
        kubelet = stack.start(KubeletStandIn(server.url, NODES, ready_delay=1.0))
        stack.start(Component("scheduler", server.url, workdir, ["--leader-elect=false"]))
        stack.start(Component("controller-manager", server.url, workdir,
                              ["--controllers=statefulset", "--leader-elect=false"]))
        yield Env(server.url, kubelet)

def statefulset(name: str, replicas: int = 3, image: str = "nginx:1.27", node_selector: dict | None = None,
                **spec: Any) -> dict:
    pod_spec: dict = {"containers": [{"name": "c", "image": image}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    else:  # keep off the ghost node, which has no kubelet
        pod_spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubelet", "operator": "DoesNotExist"}]}]}}}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}, **spec}}


def test_ordered_creation_and_reverse_scale_down(env: Env) -> None:
    ns = env.namespace()
    sts = env.create(ns, statefulset("web"))

    def predecessors_ready() -> None:
        pods = env.pods(ns)
        for ordinal in (1, 2):
            if f"web-{ordinal}" in pods:
                before = f"web-{ordinal - 1}"
                assert ready(pods.get(before)), f"web-{ordinal} was created before {before} was Ready"

    wait_until(lambda: sum(ready(p) for p in env.pods(ns).values()) == 3, timeout=30, what="3 ready pods",
               invariant=predecessors_ready)
    pods = env.pods(ns)
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    for ordinal in range(3):
        pod = pods[f"web-{ordinal}"]
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == f"web-{ordinal}"
        assert labels["apps.kubernetes.io/pod-index"] == str(ordinal)
        assert labels["controller-revision-hash"].startswith("web-")
        assert pod["spec"]["hostname"] == f"web-{ordinal}"
        assert pod["spec"]["subdomain"] == "web"
        ref = pod["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["uid"], ref["controller"]) == ("StatefulSet", sts["metadata"]["uid"], True)
    status = wait_until(lambda: (s := env.sts(ns, "web").get("status", {})).get("readyReplicas") == 3 and s,
                        what="status")
    assert status["replicas"] == 3
    assert status["currentReplicas"] == status["updatedReplicas"] == status["availableReplicas"] == 3
    assert status["currentRevision"] == status["updateRevision"] == pods["web-0"]["metadata"]["labels"][
        "controller-revision-hash"]
    assert status["observedGeneration"] == 1

    env.patch(ns, "web", {"spec": {"replicas": 1}})

    def highest_goes_first() -> None:
        pods = env.pods(ns)
        if "web-2" in pods:
            assert "web-1" in pods and not pods["web-1"]["metadata"].get("deletionTimestamp"), \
                "web-1 was deleted while web-2 still existed"

    wait_until(lambda: sorted(env.pods(ns)) == ["web-0"], timeout=30, what="scale down to web-0",
               invariant=highest_goes_first)
    wait_until(lambda: env.sts(ns, "web").get("status", {}).get("replicas") == 1, what="status.replicas 1")


def test_ordered_ready_waits_for_an_unready_pod(env: Env) -> None:
    ns = env.namespace()
    env.create(ns, statefulset("slow", node_selector={"kubelet": "none"}))
    wait_until(lambda: "slow-0" in env.pods(ns), what="slow-0")
    time.sleep(2)
    assert sorted(env.pods(ns)) == ["slow-0"], "OrderedReady must not create slow-1 while slow-0 is not Ready"


def test_parallel_creates_all_pods_at_once(env: Env) -> None:
    ns = env.namespace()
    env.create(ns, statefulset("fast", node_selector={"kubelet": "none"}, podManagementPolicy="Parallel"))
    wait_until(lambda: sorted(env.pods(ns)) == ["fast-0", "fast-1", "fast-2"], what="all 3 pods although none is Ready")
    status = wait_until(lambda: (s := env.sts(ns, "fast").get("status", {})).get("replicas") == 3 and s,
                        what="status.replicas 3")
    assert status.get("readyReplicas", 0) == 0


def test_deleted_pod_is_recreated_with_the_same_name(env: Env) -> None:
    ns = env.namespace()
    env.create(ns, statefulset("db", replicas=2))
    wait_until(lambda: sum(ready(p) for p in env.pods(ns).values()) == 2, timeout=30, what="2 ready pods")
    old_uid = env.pods(ns)["db-1"]["metadata"]["uid"]
    env.http.delete(f"{env.url}/api/v1/namespaces/{ns}/pods/db-1").raise_for_status()
    pod = wait_until(lambda: (p := env.pods(ns).get("db-1")) and p["metadata"]["uid"] != old_uid and ready(p) and p,
                     timeout=30, what="db-1 to come back")
    assert pod["spec"]["hostname"] == "db-1"


def test_rolling_update_in_reverse_order_respects_partition(env: Env) -> None:
    ns = env.namespace()
    env.create(ns, statefulset("app", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}))
    wait_until(lambda: sum(ready(p) for p in env.pods(ns).values()) == 3, timeout=30, what="3 ready pods")
    old_revision = env.pods(ns)["app-0"]["metadata"]["labels"]["controller-revision-hash"]
    env.patch(ns, "app", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.28"}]}}}})

    def updated(pod: dict | None) -> bool:
        return pod is not None and pod["spec"]["containers"][0]["image"] == "nginx:1.28"

    def reverse_order() -> None:
        pods = env.pods(ns)
        if updated(pods.get("app-1")):
            assert updated(pods.get("app-2")) and ready(pods.get("app-2")), "app-1 was updated before app-2"

    wait_until(lambda: (p := env.pods(ns)) and updated(p.get("app-1")) and ready(p.get("app-1")), timeout=40,
               what="app-2 and app-1 to be updated", invariant=reverse_order)
    time.sleep(1.5)
    pods = env.pods(ns)
    assert not updated(pods["app-0"]), "app-0 is below the partition and must keep the old template"
    assert pods["app-0"]["metadata"]["labels"]["controller-revision-hash"] == old_revision
    status = wait_until(lambda: (s := env.sts(ns, "app").get("status", {})).get("updatedReplicas") == 2
                        and s.get("readyReplicas") == 3 and s, what="status after the partial rollout")
    assert status["currentRevision"] == old_revision
    assert status["updateRevision"] == pods["app-2"]["metadata"]["labels"]["controller-revision-hash"]
    assert status["updateRevision"] != old_revision
    assert status["currentReplicas"] == 1

    # Dropping the partition finishes the rollout, and the update revision becomes the current one.
    env.patch(ns, "app", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})
    status = wait_until(lambda: (s := env.sts(ns, "app").get("status", {})).get("updatedReplicas") == 3
                        and s.get("readyReplicas") == 3 and s["currentRevision"] == s["updateRevision"] and s,
                        timeout=30, what="the rollout to complete")
    assert status["currentReplicas"] == 3
