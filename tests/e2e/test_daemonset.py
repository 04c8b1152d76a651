"""DaemonSet controller end to end: a real API server (own etcd prefix), a real controller-manager running only the
daemonset controller, nodes registered by the test and a kubelet stand-in that marks pods Running and Ready.

Every test labels its own nodes and points its DaemonSet's nodeSelector at that label, so tests don't see each
other's nodes.
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

AUTO_TOLERATIONS = {
    ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule"),
}


class Env:
    def __init__(self, url: str, kubelet: KubeletStandIn, manager: Component) -> None:
        self.url, self.kubelet, self.manager = url, kubelet, manager
        self.http = requests.Session()

    def nodes(self, tag: str, count: int, **kwargs: Any) -> list[str]:
        names = [f"{tag}-n{i}" for i in range(count)]
        for name in names:
            self.add_node(name, tag, **kwargs)
        return names

    def add_node(self, name: str, tag: str, **kwargs: Any) -> None:
        register_node(self.url, name, labels={"test": tag, **kwargs.pop("labels", {})}, **kwargs)
        self.kubelet.nodes.add(name)

    def namespace(self) -> str:
        name = f"ds-{uuid.uuid4().hex[:8]}"
        self.http.post(f"{self.url}/api/v1/namespaces",
                       json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).raise_for_status()
        return name

    def pods(self, ns: str) -> list[dict]:
        return self.http.get(f"{self.url}/api/v1/namespaces/{ns}/pods").json()["items"]

    def daemonset(self, ns: str, name: str) -> dict:
        return self.http.get(f"{self.url}/apis/apps/v1/namespaces/{ns}/daemonsets/{name}").json()

    def patch(self, path: str, body: dict) -> dict:
        response = self.http.patch(f"{self.url}{path}", json=body,
                                   headers={"Content-Type": "application/merge-patch+json"})
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def env(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("daemonset")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "ds")
        kubelet = stack.start(KubeletStandIn(server.url, []))
        manager = stack.start(Component("controller-manager", server.url, workdir,
                                        ["--controllers=daemonset", "--leader-elect=false"]))
        yield Env(server.url, kubelet, manager)

def daemonset(name: str, tag: str, image: str = "nginx:1.27", **spec: Any) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"nodeSelector": {"test": tag},
                                       "containers": [{"name": "c", "image": image}]}}, **spec},
    }


def create(env: Env, ns: str, ds: dict) -> dict:
    response = env.http.post(f"{env.url}/apis/apps/v1/namespaces/{ns}/daemonsets", json=ds)
    response.raise_for_status()
    return response.json()


def live_pods_by_node(env: Env, ns: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for pod in env.pods(ns):
        if not pod["metadata"].get("deletionTimestamp"):
            out.setdefault(pod["spec"].get("nodeName", ""), []).append(pod)
    return out


def test_one_pod_per_eligible_node(env: Env) -> None:
    tag = f"a{uuid.uuid4().hex[:6]}"
    nodes = env.nodes(tag, 3)
    env.add_node(f"{tag}-tainted", tag, taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    env.add_node(f"{tag}-other", f"{tag}x")  # not selected by the nodeSelector
    ns = env.namespace()
    ds = create(env, ns, daemonset("agent", tag))

    by_node = wait_until(lambda: (p := live_pods_by_node(env, ns)) and len(p) == 3 and p, what="3 daemon pods")
    assert sorted(by_node) == nodes
    for node, pods in by_node.items():
        assert len(pods) == 1
        pod = pods[0]
        assert pod["metadata"]["name"].startswith("agent-")
        assert pod["metadata"]["labels"]["app"] == "agent"
        assert pod["metadata"]["labels"]["controller-revision-hash"]
        assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
        ref = pod["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("DaemonSet", "agent",
                                                                             ds["metadata"]["uid"], True)
        affinity = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert affinity == {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}
        tolerations = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"] if t.get("operator") == "Exists"}
        assert tolerations >= AUTO_TOLERATIONS

    status = wait_until(lambda: (s := env.daemonset(ns, "agent").get("status", {})).get("numberReady") == 3 and s,
                        what="numberReady 3")
    assert status["desiredNumberScheduled"] == 3
    assert status["currentNumberScheduled"] == 3
    assert status["numberMisscheduled"] == 0
    assert status["numberAvailable"] == 3
    assert status["updatedNumberScheduled"] == 3
    assert status["observedGeneration"] == 1


def test_follows_node_changes(env: Env) -> None:
    tag = f"b{uuid.uuid4().hex[:6]}"
    first, = env.nodes(tag, 1)
    ns = env.namespace()
    create(env, ns, daemonset("logs", tag))
    wait_until(lambda: list(live_pods_by_node(env, ns)) == [first], what="a pod on the first node")

    # A new matching node gets a pod.
    second = f"{tag}-late"
    env.add_node(second, tag)
    wait_until(lambda: sorted(live_pods_by_node(env, ns)) == sorted([first, second]), what="a pod on the new node")

    # A NoSchedule taint keeps new pods away but lets the running one stay (it counts as misscheduled).
    env.patch(f"/api/v1/nodes/{second}", {"spec": {"taints": [{"key": "maint", "effect": "NoSchedule"}]}})
    status = wait_until(lambda: (s := env.daemonset(ns, "logs").get("status", {})).get("numberMisscheduled") == 1
                        and s, what="numberMisscheduled 1")
    assert status["desiredNumberScheduled"] == 1
    assert sorted(live_pods_by_node(env, ns)) == sorted([first, second])

    # A NoExecute taint the pod doesn't tolerate evicts it.
    env.patch(f"/api/v1/nodes/{second}", {"spec": {"taints": [{"key": "maint", "effect": "NoExecute"}]}})
    wait_until(lambda: list(live_pods_by_node(env, ns)) == [first], what="the pod on the NoExecute node to go")

    # A node that stops matching the nodeSelector loses its pod; one that starts matching gains one.
    env.patch(f"/api/v1/nodes/{first}", {"metadata": {"labels": {"test": "elsewhere"}}})
    wait_until(lambda: not live_pods_by_node(env, ns), what="the pod on the relabelled node to go")
    env.patch(f"/api/v1/nodes/{first}", {"metadata": {"labels": {"test": tag}}})
    wait_until(lambda: list(live_pods_by_node(env, ns)) == [first], what="a pod again after relabelling back")
    status = wait_until(lambda: (s := env.daemonset(ns, "logs").get("status", {})).get("numberReady") == 1 and s,
                        what="status after the changes")
    assert status["numberMisscheduled"] == 0


def test_deleted_pod_is_replaced(env: Env) -> None:
    tag = f"c{uuid.uuid4().hex[:6]}"
    node, = env.nodes(tag, 1)
    ns = env.namespace()
    create(env, ns, daemonset("proxy", tag))
    pod = wait_until(lambda: live_pods_by_node(env, ns).get(node), what="the daemon pod")[0]
    env.http.delete(f"{env.url}/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}").raise_for_status()
    replacement = wait_until(lambda: [p for p in live_pods_by_node(env, ns).get(node, [])
                                      if p["metadata"]["uid"] != pod["metadata"]["uid"]], what="a replacement pod")
    assert len(replacement) == 1


def test_rolling_update_respects_max_unavailable(env: Env) -> None:
    tag = f"d{uuid.uuid4().hex[:6]}"
    nodes = env.nodes(tag, 3)
    ns = env.namespace()
    create(env, ns, daemonset("exporter", tag, updateStrategy={"type": "RollingUpdate",
                                                               "rollingUpdate": {"maxUnavailable": 1}}))
    wait_until(lambda: env.daemonset(ns, "exporter").get("status", {}).get("numberAvailable") == 3,
               what="3 available pods")
    old_hash = env.pods(ns)[0]["metadata"]["labels"]["controller-revision-hash"]

    # With the first node's kubelet stopped, the pod there can't finish terminating: the rollout must stall there.
    env.kubelet.paused.add(nodes[0])
    try:
        env.patch(f"/apis/apps/v1/namespaces/{ns}/daemonsets/exporter",
                  {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.28"}]}}}})
        wait_until(lambda: any(p["metadata"].get("deletionTimestamp") for p in env.pods(ns)),
                   what="the first old pod to be deleted")
        time.sleep(2)
        pods = env.pods(ns)
        terminating = [p for p in pods if p["metadata"].get("deletionTimestamp")]
        assert len(terminating) == 1, "only maxUnavailable=1 old pod may be replaced at a time"
        assert terminating[0]["spec"]["nodeName"] == nodes[0]
        others = [p for p in pods if p["spec"]["nodeName"] != nodes[0]]
        assert {p["metadata"]["labels"]["controller-revision-hash"] for p in others} == {old_hash}
    finally:
        env.kubelet.paused.discard(nodes[0])

    def rolled_out() -> bool:
        by_node = live_pods_by_node(env, ns)
        return sorted(by_node) == nodes and all(
            len(p) == 1 and p[0]["spec"]["containers"][0]["image"] == "nginx:1.28" for p in by_node.values())

    wait_until(rolled_out, timeout=30, what="every node to run the new template")
    status = wait_until(lambda: (s := env.daemonset(ns, "exporter").get("status", {})).get("updatedNumberScheduled")
                        == 3 and s.get("numberAvailable") == 3 and s, what="status after the rollout")
    assert status["observedGeneration"] == 2
    new_hashes = {p["metadata"]["labels"]["controller-revision-hash"] for p in env.pods(ns)
                  if not p["metadata"].get("deletionTimestamp")}
    assert len(new_hashes) == 1 and old_hash not in new_hashes
