"""Deployments and ReplicaSets end to end: kubectl against a real controller-manager (replicaset, deployment, and
the disruption controller for `kubectl drain` under a PodDisruptionBudget) and
a real scheduler, with a kubelet stand-in on three nodes that reports pods Ready after a short delay.

The controllers are what is tested, so kubectl 1.32 drives them; only the test using `rollout undo` and
`rollout history`, which kubectl implements on the client side, runs with kubectl 1.20 as well.

Runs on its own API server, because the scheduler places pods on every node it sees.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from cluster import Component, Stack
from standin import KubeletStandIn, register_node
from support.kubectl import KUBECTL_BINARIES, Kubectl
from support.polling import wait_until

READY_DELAY = 1.0  # seconds before the stand-in reports a new pod Ready: rollouts take several steps


class Plane:
    def __init__(self, url: str, nodes: list[str], manager: Component) -> None:
        self.url, self.nodes, self.manager = url, nodes, manager


@pytest.fixture(scope="module")
def plane(etcd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    workdir = tmp_path_factory.mktemp("deployment")
    nodes = [f"dn-{i}" for i in range(3)]
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "deploy")
        for node in nodes:
            register_node(server.url, node)
        stack.start(KubeletStandIn(server.url, nodes, ready_delay=READY_DELAY))
        stack.start(Component("scheduler", server.url, workdir, ["--leader-elect=false"]))
        manager = stack.start(Component("controller-manager", server.url, workdir,
                                        ["--controllers=replicaset,deployment,disruption", "--leader-elect=false"]))
        yield Plane(server.url, nodes, manager)

@pytest.fixture
def kctl(kubectl132: Kubectl, plane: Plane, tmp_path: Any) -> Kubectl:
    """kubectl 1.32, pointed at this module's API server: these tests are about the controllers."""
    return Kubectl(kubectl132.binary, plane.url, tmp_path, kubectl132.version)


@pytest.fixture(params=sorted(KUBECTL_BINARIES))
def any_kctl(request: pytest.FixtureRequest, plane: Plane, tmp_path: Any) -> Kubectl:
    """kubectl 1.32 and 1.20, for `rollout undo` and `rollout history`, which kubectl implements client-side.

    Parametrized here rather than through the session's `kubectl` fixture: a session-scoped parameter makes
    pytest regroup the whole session by kubectl version, which would split this module and start its control
    plane more than once."""
    binary = KUBECTL_BINARIES[request.param]
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make deps`")
    return Kubectl(binary, plane.url, tmp_path, request.param)


@pytest.fixture
def ns(plane: Plane) -> str:
    name = f"d-{uuid.uuid4().hex[:8]}"
    requests.post(f"{plane.url}/api/v1/namespaces", json={"metadata": {"name": name}}, timeout=10).raise_for_status()
    return name


def manifest(name: str, replicas: int, image: str = "nginx:1.0", strategy: dict | None = None, **spec: Any) -> str:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "strategy": strategy or {"type": "RollingUpdate",
                                          "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 1}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}},
                 **spec},
    }
    return json.dumps(deployment)


def get(plane: Plane, path: str) -> dict:
    response = requests.get(plane.url + path, timeout=10)
    response.raise_for_status()
    return response.json()


def pods(plane: Plane, ns: str, live_only: bool = True) -> list[dict]:
    items = get(plane, f"/api/v1/namespaces/{ns}/pods")["items"]
    return [p for p in items if not (live_only and p["metadata"].get("deletionTimestamp"))]


def replicasets(plane: Plane, ns: str) -> list[dict]:
    return get(plane, f"/apis/apps/v1/namespaces/{ns}/replicasets")["items"]


def deployment(plane: Plane, ns: str, name: str) -> dict:
    return get(plane, f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")


def image_of(pod: dict) -> str:
    return pod["spec"]["containers"][0]["image"]


def is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions") or [])


def rollout(kctl: Kubectl, ns: str, name: str) -> str:
    result = kctl.run("rollout", "status", f"deployment/{name}", "-n", ns, "--timeout=60s", check=False, timeout=70)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'deployment "{name}" successfully rolled out' in result.stdout
    return result.stdout


class PodWatcher:
    """Watches the namespace's pods and runs `check(pods)` after every event, collecting what it returns."""

    def __init__(self, plane: Plane, ns: str, check: Callable[[dict[str, dict]], str | None],
                 resource: str = "pods") -> None:
        self.plane, self.ns, self.check = plane, ns, check
        self.path = (f"/api/v1/namespaces/{ns}/pods" if resource == "pods"
                     else f"/apis/apps/v1/namespaces/{ns}/{resource}")
        self.objects: dict[str, dict] = {}
        self.events = 0
        self.problems: list[str] = []
        self._stop = threading.Event()
        listing = get(plane, self.path)
        for obj in listing["items"]:
            self.objects[obj["metadata"]["name"]] = obj
        self._rv = listing["metadata"]["resourceVersion"]
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PodWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        with contextlib.suppress(requests.RequestException):  # the server goes away at teardown
            self._watch()

    def _watch(self) -> None:
        params = {"watch": "true", "resourceVersion": self._rv, "timeoutSeconds": "90"}
        with requests.get(self.plane.url + self.path, params=params, stream=True, timeout=(5, 95)) as response:
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if not line:
                    continue
                event = json.loads(line)
                obj = event["object"]
                if event["type"] == "DELETED":
                    self.objects.pop(obj["metadata"]["name"], None)
                elif event["type"] in ("ADDED", "MODIFIED"):
                    self.objects[obj["metadata"]["name"]] = obj
                else:
                    continue
                self.events += 1
                if problem := self.check(self.objects):
                    self.problems.append(problem)


def test_create_rolling_update_undo_and_history(plane: Plane, any_kctl: Kubectl, ns: str) -> None:
    any_kctl("create", "-f", "-", "-n", ns, input=manifest("web", 10))
    rollout(any_kctl, ns, "web")
    live = pods(plane, ns)
    assert len(live) == 10
    assert all(p["spec"].get("nodeName") for p in live)
    assert {p["spec"]["nodeName"] for p in live} == set(plane.nodes)  # spread over every node
    [rs] = replicasets(plane, ns)
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "10"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "12"
    ref = rs["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"], ref["blockOwnerDeletion"]) == ("Deployment", "web", True, True)
    pod_ref = live[0]["metadata"]["ownerReferences"][0]
    assert (pod_ref["kind"], pod_ref["name"], pod_ref["controller"]) == ("ReplicaSet", rs["metadata"]["name"], True)
    assert live[0]["metadata"]["generateName"] == f"{rs['metadata']['name']}-"
    status = deployment(plane, ns, "web")["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"], status["availableReplicas"]) == \
        (10, 10, 10, 10)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"

    # An image change rolls out within maxSurge=2 / maxUnavailable=1 at every moment.
    seen_mixed = []

    def bounds(objects: dict[str, dict]) -> str | None:
        live = [p for p in objects.values() if not p["metadata"].get("deletionTimestamp")]
        available = sum(is_ready(p) for p in live)
        if len({image_of(p) for p in live}) > 1:
            seen_mixed.append(True)
        if len(live) > 12:
            return f"{len(live)} pods > replicas + maxSurge"
        if available < 9:
            return f"{available} available < replicas - maxUnavailable"
        return None

    def rs_bounds(objects: dict[str, dict]) -> str | None:
        total = sum(rs["spec"]["replicas"] for rs in objects.values())
        return f"ReplicaSets want {total} pods" if total > 12 else None

    watcher, rs_watcher = PodWatcher(plane, ns, bounds).start(), PodWatcher(plane, ns, rs_bounds, "replicasets").start()
    any_kctl("set", "image", "deployment/web", "app=nginx:2.0", "-n", ns)
    rollout(any_kctl, ns, "web")
    wait_until(lambda: len(pods(plane, ns, live_only=False)) == 10, 10, "old pods to finish terminating")
    watcher.stop()
    rs_watcher.stop()
    assert watcher.problems == []
    assert rs_watcher.problems == []
    assert seen_mixed and watcher.events > 20  # it really rolled, in steps
    assert {image_of(p) for p in pods(plane, ns)} == {"nginx:2.0"}
    web = deployment(plane, ns, "web")
    assert web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    by_revision = {r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r for r in replicasets(plane, ns)}
    assert by_revision["1"]["spec"]["replicas"] == 0 and by_revision["2"]["spec"]["replicas"] == 10

    # Undo: kubectl copies revision 1's template back; that ReplicaSet becomes revision 3.
    out = any_kctl("rollout", "undo", "deployment/web", "-n", ns)
    assert "rolled back" in out
    rollout(any_kctl, ns, "web")
    web = deployment(plane, ns, "web")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.0"
    assert web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    restored = next(r for r in replicasets(plane, ns) if r["metadata"]["uid"] == by_revision["1"]["metadata"]["uid"])
    assert restored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert restored["spec"]["replicas"] == 10
    wait_until(lambda: {image_of(p) for p in pods(plane, ns)} == {"nginx:1.0"}, 15, "the old image back")
    history = any_kctl("rollout", "history", "deployment/web", "-n", ns)
    lines = [line.split() for line in history.splitlines() if line.strip()]
    assert ["REVISION", "CHANGE-CAUSE"] in lines
    assert [row[0] for row in lines if row[0].isdigit()] == ["2", "3"]
    detail = any_kctl("rollout", "history", "deployment/web", "-n", ns, "--revision=2")
    assert "nginx:2.0" in detail


def test_pause_and_resume(plane: Plane, kctl: Kubectl, ns: str) -> None:
    kctl("create", "-f", "-", "-n", ns, input=manifest("paused", 3))
    rollout(kctl, ns, "paused")
    assert "paused" in kctl("rollout", "pause", "deployment/paused", "-n", ns)
    kctl("set", "image", "deployment/paused", "app=nginx:2.0", "-n", ns)

    def observed() -> dict | None:
        d = deployment(plane, ns, "paused")
        return d if d["status"].get("observedGeneration") == d["metadata"]["generation"] else None

    d = wait_until(observed, 10, "the paused spec to be observed")  # status is still kept current
    progressing = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    time.sleep(1.5)
    assert len(replicasets(plane, ns)) == 1  # no rollout while paused
    assert {image_of(p) for p in pods(plane, ns)} == {"nginx:1.0"}
    assert "resumed" in kctl("rollout", "resume", "deployment/paused", "-n", ns)
    rollout(kctl, ns, "paused")
    assert len(replicasets(plane, ns)) == 2
    wait_until(lambda: {image_of(p) for p in pods(plane, ns)} == {"nginx:2.0"}, 10, "the new image")


def test_recreate_never_overlaps_old_and_new_pods(plane: Plane, kctl: Kubectl, ns: str) -> None:
    kctl("create", "-f", "-", "-n", ns, input=manifest("re", 4, strategy={"type": "Recreate"}))
    rollout(kctl, ns, "re")

    def no_overlap(objects: dict[str, dict]) -> str | None:
        images = {image_of(p) for p in objects.values()}  # terminating pods count: they may still run
        return f"old and new pods at once: {sorted(images)}" if len(images) > 1 else None

    watcher = PodWatcher(plane, ns, no_overlap).start()
    kctl("set", "image", "deployment/re", "app=nginx:2.0", "-n", ns)
    rollout(kctl, ns, "re")
    watcher.stop()
    assert watcher.problems == []
    assert {image_of(p) for p in pods(plane, ns)} == {"nginx:2.0"}
    assert len(pods(plane, ns)) == 4


def test_revision_history_limit_keeps_one_old_replicaset(plane: Plane, kctl: Kubectl, ns: str) -> None:
    kctl("create", "-f", "-", "-n", ns, input=manifest("hist", 2, revisionHistoryLimit=1))
    rollout(kctl, ns, "hist")
    for image in ("nginx:2.0", "nginx:3.0"):
        kctl("set", "image", "deployment/hist", f"app={image}", "-n", ns)
        rollout(kctl, ns, "hist")

    def two_left() -> list[dict] | None:
        items = replicasets(plane, ns)
        return items if len(items) == 2 else None

    left = wait_until(two_left, 10, "the oldest ReplicaSet to be deleted")
    images = sorted(r["spec"]["template"]["spec"]["containers"][0]["image"] for r in left)
    assert images == ["nginx:2.0", "nginx:3.0"]
    revisions = sorted(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for r in left)
    assert revisions == ["2", "3"]


def test_replicaset_adopts_orphans_and_releases_relabelled_pods(plane: Plane, kctl: Kubectl, ns: str) -> None:
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "labels": {"app": "frontend"}},
              "spec": {"containers": [{"name": "app", "image": "nginx"}]}}
    kctl("create", "-f", "-", "-n", ns, input=json.dumps(orphan))
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "frontend"},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "frontend"}},
                   "template": {"metadata": {"labels": {"app": "frontend"}},
                                "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}
    kctl("create", "-f", "-", "-n", ns, input=json.dumps(rs))
    uid = get(plane, f"/apis/apps/v1/namespaces/{ns}/replicasets/frontend")["metadata"]["uid"]

    def owned() -> list[dict]:
        return [p for p in pods(plane, ns)
                if any(r.get("uid") == uid and r.get("controller") for r in p["metadata"].get("ownerReferences") or [])]

    wait_until(lambda: len(owned()) == 2 and "orphan" in {p["metadata"]["name"] for p in owned()}, 15,
               "the orphan to be adopted")
    time.sleep(0.5)
    assert len(pods(plane, ns)) == 2  # adopted instead of creating a second new pod

    kctl("label", "pod", "orphan", "app=other", "--overwrite", "-n", ns)
    wait_until(lambda: len(owned()) == 2 and "orphan" not in {p["metadata"]["name"] for p in owned()}, 15,
               "the relabelled pod to be released and replaced")
    released = get(plane, f"/api/v1/namespaces/{ns}/pods/orphan")
    assert not released["metadata"].get("ownerReferences")
    wait_until(lambda: all(is_ready(p) for p in owned()), 15, "the replacement to be ready")

    def settled() -> dict | None:
        status = get(plane, f"/apis/apps/v1/namespaces/{ns}/replicasets/frontend")["status"]
        return status if status.get("availableReplicas") == status.get("readyReplicas") == 2 else None

    status = wait_until(settled, 15, "the ReplicaSet status")
    assert (status["replicas"], status["fullyLabeledReplicas"], status["observedGeneration"]) == (2, 2, 1)
    out = kctl("get", "rs", "frontend", "-n", ns)
    assert out.split("\n")[1].split()[:4] == ["frontend", "2", "2", "2"]


def test_scaling_a_deployment_down_removes_pods(plane: Plane, kctl: Kubectl, ns: str) -> None:
    kctl("create", "-f", "-", "-n", ns, input=manifest("scale", 6))
    rollout(kctl, ns, "scale")
    kctl("scale", "deployment/scale", "--replicas=2", "-n", ns)
    rollout(kctl, ns, "scale")
    wait_until(lambda: len(pods(plane, ns, live_only=False)) == 2, 10, "the extra pods to go")
    [rs] = replicasets(plane, ns)
    assert rs["spec"]["replicas"] == 2
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "2"
    out = kctl("get", "deployment", "scale", "-n", ns)
    assert out.split("\n")[1].split()[:4] == ["scale", "2/2", "2", "2"]


def test_progress_deadline_exceeded(plane: Plane, kctl: Kubectl, ns: str) -> None:
    stuck = json.loads(manifest("stuck", 2, progressDeadlineSeconds=2))
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"no-such-node": "true"}  # pods stay Pending
    kctl("create", "-f", "-", "-n", ns, input=json.dumps(stuck))
    result = kctl.run("rollout", "status", "deployment/stuck", "-n", ns, "--timeout=30s", check=False, timeout=40)
    assert result.returncode != 0
    assert 'deployment "stuck" exceeded its progress deadline' in result.stderr
    conditions = {c["type"]: c for c in deployment(plane, ns, "stuck")["status"]["conditions"]}
    assert (conditions["Progressing"]["status"], conditions["Progressing"]["reason"]) == \
        ("False", "ProgressDeadlineExceeded")
    assert conditions["Progressing"]["message"].endswith("has timed out progressing.")
    assert (conditions["Available"]["status"], conditions["Available"]["reason"]) == \
        ("False", "MinimumReplicasUnavailable")


def test_drain_waits_for_the_disruption_budget(plane: Plane, kctl: Kubectl, ns: str, tmp_path: Any) -> None:
    """As upstream: with 2 replicas and `minAvailable: 2` no pod may go, so `kubectl drain` retries its evictions
    (429 from the eviction subresource) until a third replica is ready elsewhere, then evicts and finishes."""
    kctl("create", "-f", "-", "-n", ns, input=manifest("guarded", 2))
    rollout(kctl, ns, "guarded")
    kctl("create", "poddisruptionbudget", "guarded", "--selector=app=guarded", "--min-available=2", "-n", ns)

    def budget_met() -> dict | None:
        status = get(plane, f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/guarded").get("status") or {}
        return status if status.get("currentHealthy") == 2 and "disruptionsAllowed" in status else None

    status = wait_until(budget_met, 20, "the budget's status")
    assert (status["desiredHealthy"], status["disruptionsAllowed"], status["expectedPods"]) == (2, 0, 2)
    table = kctl("get", "pdb", "guarded", "-n", ns)
    assert table.split("\n")[1].split()[:4] == ["guarded", "2", "N/A", "0"]
    node = pods(plane, ns)[0]["spec"]["nodeName"]
    on_node = {p["metadata"]["name"] for p in pods(plane, ns) if p["spec"]["nodeName"] == node}
    log = tmp_path / "drain.log"
    with log.open("w") as out:
        drain = subprocess.Popen(kctl.command("drain", node, "--pod-selector=app=guarded", "--ignore-daemonsets",
                                              "--timeout=120s"), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "disruption budget" in log.read_text(), 30, "drain to be refused by the budget")
        assert drain.poll() is None, log.read_text()
        assert on_node <= {p["metadata"]["name"] for p in pods(plane, ns)}, "a guarded pod went too early"
        kctl("scale", "deployment/guarded", "--replicas=3", "-n", ns)
        assert drain.wait(timeout=90) == 0, log.read_text()
        assert f"node/{node} drained" in log.read_text()
        assert not on_node & {p["metadata"]["name"] for p in pods(plane, ns)}
        assert all(p["spec"]["nodeName"] != node for p in pods(plane, ns))
    finally:
        if drain.poll() is None:
            drain.kill()
        kctl("uncordon", node)
