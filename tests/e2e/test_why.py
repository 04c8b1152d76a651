"""`kubectl why` against a real cluster: API server, scheduler, controller-manager (ReplicaSet and Deployment
controllers) and a real kubelet on Docker, shared by the module. Two more nodes are registered by hand and never
take ordinary pods (one is tainted, one cordoned), so an unschedulable pod has three different reasons to show.

kubectl finds the plugin as users' kubectl does: an executable `kubectl-why` on PATH (here a two-line script that
runs this checkout's `kubeling why`, standing in for the console script the package installs), given a
kubeconfig through $KUBECONFIG. The same cluster shows the controllers' Events with their events.k8s.io fields
through `kubectl events` (1.32) and `kubectl get events` (1.20), and `kubectl get cs` with both versions.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubelet_harness import (
    Api,
    KubeletProcess,
    container,
    ensure_images,
    free_pod_cidr,
    remove_node_containers,
    running,
)

from cluster import ROOT, APIServer, Component
from support.kubectl import KUBECTL_BINARIES

pytestmark = pytest.mark.e2e

TIMEOUT = 90.0  # the machine is shared: generous bounds, never timed assertions
TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


@dataclasses.dataclass
class Env:
    api: Api
    server: APIServer
    node: str
    home: Path  # $HOME, kubeconfig and PATH entry for kubectl and the plugin

    def kubectl(self, *args: str, version: str = "1.32", check: bool = True, timeout: float = 60) -> str:
        binary = KUBECTL_BINARIES[version]
        if not binary.exists():
            pytest.fail(f"{binary} is missing: run `make deps`")
        env = {"PATH": f"{self.home / 'bin'}:/usr/bin:/bin", "HOME": str(self.home),
               "KUBECONFIG": str(self.home / "kubeconfig")}
        result = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout + ("" if check else result.stderr)


def eventually(check: Any, what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, requests.RequestException) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


def write_plugin(home: Path, server: str) -> None:
    """The kubeconfig kubectl and the plugin read, and `kubectl-why` on PATH."""
    (home / "kubeconfig").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "users": [{"name": "admin", "user": {}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
    }))
    bin_dir = home / "bin"
    bin_dir.mkdir()
    plugin = bin_dir / "kubectl-why"
    plugin.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT / 'agents'} exec {sys.executable} -m kubeling why \"$@\"\n")
    plugin.chmod(0o755)


def fake_node(name: str, **spec: Any) -> dict[str, Any]:
    capacity = {"cpu": "8", "memory": "16Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "spec": spec,
            "status": {"capacity": capacity, "allocatable": capacity,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


@pytest.fixture(scope="module")
def env(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    try:
        ensure_images()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    workdir = tmp_path_factory.mktemp("why")
    suffix = uuid.uuid4().hex[:6]
    node, network = f"why-{suffix}", f"kubeling-w{suffix}"
    server = APIServer(etcd.url, workdir, prefix=f"/why-{suffix}").start()
    parts: list[Any] = [server]
    kubelet = KubeletProcess(server.url, workdir, node, network, pod_cidr=free_pod_cidr())
    try:
        parts.append(Component("scheduler", server.url, workdir).start())
        parts.append(Component("controller-manager", server.url, workdir,
                               ["--controllers=replicaset,deployment"]).start())
        kubelet.start()
        parts.append(kubelet)
        api = Api(server.url)
        for extra in (fake_node(f"{node}-tainted", taints=[TAINT]), fake_node(f"{node}-cordoned", unschedulable=True)):
            api.http.post(api.url("/api/v1/nodes"), json=extra).raise_for_status()
        home = workdir / "home"
        home.mkdir()
        write_plugin(home, server.url)
        yield Env(api, server, node, home)
    finally:
        for part in reversed(parts):
            part.stop()
        remove_node_containers(node)
        subprocess.run(["docker", "network", "rm", network], capture_output=True)


@pytest.fixture(scope="module")
def ns(env: Env) -> str:
    return env.api.namespace()


@pytest.fixture(scope="module")
def web(env: Env, ns: str) -> str:
    """A Deployment of two pods, running on the real node."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                                            container("web", "sleep 3600")]}}}}
    env.api.http.post(env.api.url(f"/apis/apps/v1/namespaces/{ns}/deployments"), json=deployment).raise_for_status()

    def running_pods() -> list[dict]:
        items = env.api.http.get(env.api.url(f"/api/v1/namespaces/{ns}/pods"),
                                 params={"labelSelector": "app=web"}).json()["items"]
        return [p for p in items if running(p)] if len(items) == 2 and all(map(running, items)) else []

    pods = eventually(running_pods, "the Deployment's two pods to run")
    return pods[0]["metadata"]["name"]


def test_why_running_pod_tells_owner_chain_decision_and_kubelet(env: Env, ns: str, web: str) -> None:
    text = env.kubectl("why", f"pod/{web}", "-n", ns)
    lines = text.splitlines()
    assert lines[0] == f"pod/{web} in namespace {ns}: Running"
    assert "owned by ReplicaSet web-" in text and "which is owned by Deployment web" in text
    assert f"Created pod: {web}" in text  # the ReplicaSet's event that made this pod
    assert f"chosen: {env.node}" in text
    assert f"rejected {env.node}-tainted: TaintToleration: node(s) had untolerated taint {{dedicated: gpu}}" in text
    assert f"rejected {env.node}-cordoned: NodeUnschedulable: node(s) were unschedulable" in text
    kubelet = text[text.index("3. What the kubelet did"):text.index("4. Now")]
    assert "Created container web" in kubelet and "Started container web" in kubelet
    assert "Ready=True" in text
    assert "5. What stands in the way" not in text
    # The sections come in the order things happened.
    assert text.index("1. Who created it") < text.index("2. Where the scheduler") < text.index("3. What the kubelet")


def test_why_reads_home_kube_config_when_kubectl_does(env: Env, ns: str, web: str) -> None:
    """No $KUBECONFIG, no flag: kubectl and its plugin both read ~/.kube/config (as root's on a master)."""
    home = env.home / "no-env"
    (home / ".kube").mkdir(parents=True, exist_ok=True)
    (home / ".kube" / "config").write_text((env.home / "kubeconfig").read_text())
    result = subprocess.run([str(KUBECTL_BINARIES["1.32"]), "why", f"pod/{web}", "-n", ns], capture_output=True,
                            text=True, timeout=60, env={"PATH": f"{env.home / 'bin'}:/usr/bin:/bin", "HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"pod/{web} in namespace {ns}: Running")


def test_why_unschedulable_pod_names_each_nodes_reason_and_the_fix(env: Env, ns: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "picky"},
           "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [container("c", "sleep 3600")]}}
    env.api.create(ns, "pods", pod)
    eventually(lambda: "kube-scheduler-simulator.sigs.k8s.io/filter-result" in (
        (env.api.get(ns, "pods", "picky") or {}).get("metadata", {}).get("annotations") or {}),
        "the scheduler's record on the pod")
    text = env.kubectl("why", "pod/picky", "-n", ns)
    assert "no node fits" in text
    stands = text[text.index("5. What stands in the way"):]
    assert f"node {env.node}: NodeAffinity: node(s) didn't match Pod's node affinity/selector" in stands
    assert f"kubectl label nodes {env.node} disk=ssd" in stands
    assert f"node {env.node}-tainted: TaintToleration" in stands and "add a toleration" in stands
    assert f"node {env.node}-cordoned: NodeUnschedulable" in stands
    assert f"kubectl uncordon {env.node}-cordoned" in stands
    story = json.loads(env.kubectl("why", "pod/picky", "-n", ns, "-o", "json"))
    assert {r["node"]: r["plugin"] for r in story["scheduling"]["rejected"]} == {
        env.node: "NodeAffinity", f"{env.node}-tainted": "TaintToleration", f"{env.node}-cordoned": "NodeUnschedulable"}
    assert story["scheduling"]["node"] == "" and story["phase"] == "Pending"


def test_why_names_the_runner_up_when_two_nodes_fit(env: Env, ns: str) -> None:
    """A pod that tolerates the taint fits two nodes: the scheduler scores both, and the story names the chosen
    node and the runner-up with their scores (the scores the record holds, weighted, summed)."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tolerant"},
           "spec": {"tolerations": [{**TAINT, "operator": "Equal"}], "containers": [container("c", "sleep 3600")]}}
    env.api.create(ns, "pods", pod)
    eventually(lambda: ((env.api.get(ns, "pods", "tolerant") or {}).get("spec") or {}).get("nodeName"),
               "the pod bound")
    story = json.loads(env.kubectl("why", "pod/tolerant", "-n", ns, "-o", "json"))
    sched = story["scheduling"]
    fitting = {env.node, f"{env.node}-tainted"}
    assert sched["feasible"] == 2 and {sched["node"], sched["runnerUp"]["node"]} == fitting, sched
    assert sched["score"] == sum(sched["finalScores"].values()) >= sched["runnerUp"]["score"], sched
    assert sched["finalScores"] and set(sched["finalScores"]) == set(sched["runnerUp"]["finalScores"]), sched
    assert [r["node"] for r in sched["rejected"]] == [f"{env.node}-cordoned"]
    text = env.kubectl("why", "pod/tolerant", "-n", ns)
    assert f"chosen: {sched['node']}, score {sched['score']}" in text
    assert f"runner-up: {sched['runnerUp']['node']}, score {sched['runnerUp']['score']}" in text
    assert "2 of 3 nodes passed every filter" in text


def test_why_crash_looping_pod_shows_restarts_and_back_off(env: Env, ns: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crash"},
           "spec": {"terminationGracePeriodSeconds": 0, "containers": [container("c", "echo bye; exit 3")]}}
    env.api.create(ns, "pods", pod)

    def backing_off() -> dict | None:
        found = env.api.get(ns, "pods", "crash") or {}
        statuses = (found.get("status") or {}).get("containerStatuses") or []
        waiting = ((statuses[0].get("state") or {}).get("waiting") or {}) if statuses else {}
        return found if statuses and statuses[0].get("restartCount", 0) >= 1 and \
            waiting.get("reason") == "CrashLoopBackOff" else None

    eventually(backing_off, "the container to restart and back off")
    text = env.kubectl("why", "pod/crash", "-n", ns)
    assert "restart" in text and "exit code 3" in text
    assert "BackOff" in text  # the kubelet's back-off event
    stands = text[text.index("5. What stands in the way"):]
    assert "CrashLoopBackOff" in stands and "kubectl logs --previous" in stands
    story = json.loads(env.kubectl("why", "pod/crash", "-n", ns, "-o", "json"))
    assert story["containers"][0]["restarts"] >= 1
    assert any(e["reason"] == "BackOff" for e in story["kubelet"])


def test_why_pod_failing_its_readiness_probe_shows_the_probe_and_what_to_read(env: Env, ns: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unready"},
           "spec": {"terminationGracePeriodSeconds": 0, "containers": [container(
               "c", "exec sleep 3600", readinessProbe={"exec": {"command": ["sh", "-c", "echo not yet; exit 1"]},
                                                       "periodSeconds": 1})]}}
    env.api.create(ns, "pods", pod)

    def probed() -> bool:
        items = env.api.http.get(env.api.url(f"/api/v1/namespaces/{ns}/events"),
                                 params={"fieldSelector": "involvedObject.name=unready"}).json()["items"]
        return any(e["reason"] == "Unhealthy" for e in items) and \
            ((env.api.get(ns, "pods", "unready") or {}).get("status") or {}).get("phase") == "Running"

    eventually(probed, "the readiness probe to fail while the container runs")
    text = env.kubectl("why", "pod/unready", "-n", ns)
    kubelet = text[text.index("3. What the kubelet did"):text.index("4. Now")]
    assert "Pulled" in kubelet and "Started container c" in kubelet
    assert "Unhealthy" in kubelet and "Readiness probe failed" in kubelet
    assert "Ready=False" in text[text.index("4. Now"):]
    stands = text[text.index("5. What stands in the way"):]
    assert "container c is not ready" in stands and "readiness probe fails" in stands
    story = json.loads(env.kubectl("why", "pod/unready", "-n", ns, "-o", "json"))
    assert any(e["reason"] == "Unhealthy" and e["action"] == "Probe" for e in story["kubelet"]), story["kubelet"]


def test_why_deployment_tells_its_rollout(env: Env, ns: str, web: str) -> None:
    text = env.kubectl("why", "deploy/web", "-n", ns)
    assert text.splitlines()[0].startswith(f"deployment/web in namespace {ns}: 2/2 ready")
    assert "revision 1: ReplicaSet web-" in text
    steps = text[text.index("2. The rollout"):]
    assert "Scaled up replica set web-" in steps and "from 0 to 2" in steps
    assert "[deployment-controller on deployment/web]" in steps
    assert "(desired 2, observed " in steps and "[replicaset-controller on replicaset/web-" in steps
    story = json.loads(env.kubectl("why", "deployment/web", "-n", ns, "-o", "json"))
    assert story["kind"] == "Deployment" and len(story["replicaSets"]) == 1
    assert [s["action"] for s in story["steps"]].count("Create") == 2


def test_events_tell_the_controllers_actions_with_the_new_fields(env: Env, ns: str, web: str) -> None:
    items = env.api.http.get(env.api.url(f"/apis/events.k8s.io/v1/namespaces/{ns}/events")).json()["items"]
    created = [e for e in items if e["reason"] == "SuccessfulCreate" and e["related"]["name"] == web]
    assert len(created) == 1
    event = created[0]
    assert event["reportingController"] == "replicaset-controller" and event["action"] == "Create"
    assert event["reportingInstance"].startswith("replicaset-controller-")
    assert event["regarding"]["kind"] == "ReplicaSet" and event["note"].startswith(f"Created pod: {web} (desired 2")
    scheduled = next(e for e in items if e["reason"] == "Scheduled" and e["regarding"]["name"] == web)
    assert (scheduled["reportingController"], scheduled["action"]) == ("default-scheduler", "Binding")
    assert scheduled["related"] == {"kind": "Node", "apiVersion": "v1", "name": env.node}
    started = next(e for e in items if e["reason"] == "Started" and e["regarding"]["name"] == web)
    assert (started["reportingController"], started["reportingInstance"], started["action"]) == (
        "kubelet", env.node, "Start")
    # kubectl 1.32's `kubectl events` and 1.20's `kubectl get events` both tell the story.
    events = env.kubectl("events", "-n", ns)
    for reason in ("ScalingReplicaSet", "SuccessfulCreate", "Scheduled", "Started"):
        assert reason in events
    assert f"Created pod: {web} (desired 2" in events
    old = env.kubectl("get", "events", "-n", ns, "-o", "wide", version="1.20")
    assert "replicaset-controller" in old and "deployment-controller" in old and f"Created pod: {web}" in old
    new_api = env.kubectl("get", "events.events.k8s.io", "-n", ns)
    assert "SuccessfulCreate" in new_api and "replicaset/web-" in new_api


def test_events_watch_sees_a_scale_as_it_happens(env: Env, ns: str, web: str) -> None:
    binary = KUBECTL_BINARIES["1.32"]
    watch_env = {"PATH": "/usr/bin:/bin", "HOME": str(env.home), "KUBECONFIG": str(env.home / "kubeconfig")}
    with subprocess.Popen([str(binary), "events", "-w", "-n", ns], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=watch_env) as watcher:
        try:
            time.sleep(1)
            env.api.http.patch(env.api.url(f"/apis/apps/v1/namespaces/{ns}/deployments/web"),
                               json={"spec": {"replicas": 3}},
                               headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
            seen = ""
            deadline = time.monotonic() + TIMEOUT
            assert watcher.stdout is not None
            os.set_blocking(watcher.stdout.fileno(), False)
            while "to 3" not in seen or "(desired 3, observed 2)" not in seen:
                assert time.monotonic() < deadline, f"kubectl events -w never showed the scale: {seen}"
                chunk = watcher.stdout.read()  # bytes, or None when nothing is waiting (non-blocking)
                seen += (chunk or b"").decode(errors="replace")
                time.sleep(0.2)
        finally:
            watcher.terminate()


def test_a_scale_down_is_a_delete_event_naming_the_pod(env: Env, ns: str, web: str) -> None:
    env.api.http.patch(env.api.url(f"/apis/apps/v1/namespaces/{ns}/deployments/web"), json={"spec": {"replicas": 1}},
                       headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()

    def deletes() -> list[dict]:
        items = env.api.http.get(env.api.url(f"/apis/events.k8s.io/v1/namespaces/{ns}/events")).json()["items"]
        return [e for e in items if e["reason"] == "SuccessfulDelete" and "(desired 1, observed" in e["note"]]

    found = eventually(deletes, "the ReplicaSet controller's deletes")
    event = found[0]
    assert (event["reportingController"], event["action"], event["regarding"]["kind"]) == (
        "replicaset-controller", "Delete", "ReplicaSet")
    assert event["related"]["kind"] == "Pod" and event["note"].startswith(f"Deleted pod: {event['related']['name']} ")
    scaled = eventually(lambda: [e for e in env.api.http.get(env.api.url(
        f"/apis/events.k8s.io/v1/namespaces/{ns}/events")).json()["items"]
        if e["reason"] == "ScalingReplicaSet" and e["note"].endswith("to 1")], "the Deployment's scale-down")
    assert (scaled[0]["reportingController"], scaled[0]["action"]) == ("deployment-controller", "Scale")
    assert scaled[0]["regarding"]["kind"] == "Deployment" and scaled[0]["related"]["kind"] == "ReplicaSet"


@pytest.mark.parametrize("version", sorted(KUBECTL_BINARIES))
def test_componentstatuses(env: Env, version: str) -> None:
    def healthy() -> str:
        out = env.kubectl("get", "cs", version=version, check=False)
        return out if all(f"{name}" in out for name in ("etcd-0", "scheduler", "controller-manager")) and \
            out.count("Healthy") >= 3 and "Unhealthy" not in out else ""

    out = eventually(healthy, f"kubectl {version} get cs: all healthy")
    assert "leader" in out  # the scheduler's and controller-manager's Leases name their leaders
    assert "v1 ComponentStatus is deprecated in v1.19+" in out
