"""An operator written with kopf (examples/operator/) runs against a real API server and controller-manager.

The lab "write your own controller" in docs/custom-resources.md, checked: the CRD is applied with kubectl;
creating a Greeting fires the create handler, which creates a ConfigMap owned by the Greeting and patches the
Greeting's status; changing the message fires the update handler; deleting the Greeting runs kopf's finalizer,
and the garbage collector deletes the ConfigMap. Two replicas run, peered through kopf's own CRDs: only the one
with the higher priority acts.

Runs on its own API server, with a controller-manager for the garbage collector.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from cluster import ROOT, Component, Stack
from support.kubectl import Kubectl
from support.polling import wait_until

pytestmark = pytest.mark.e2e

OPERATOR = ROOT / "examples" / "operator"
TIMEOUT = 10
# What kopf logs (with --verbose) when a replica of lower priority holds back: it starts paused and stays so.
PAUSED = "Pausing the watch-stream for greetings.v1.kubeling.example"


@pytest.fixture(scope="module")
def operator_server(etcd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("operator")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "operator")
        stack.start(Component("controller-manager", server.url, workdir,
                              ["--controllers=garbagecollector,namespace", "--leader-elect=false"]))
        yield server.url


class Operator:
    """`kopf run examples/operator/operator.py`, as one replica with its own priority."""

    def __init__(self, server: str, workdir: Path, namespace: str, replica: str, priority: int) -> None:
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": server}}],
            "users": [{"name": "test", "user": {}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": namespace}}],
        }))
        self.log_path = workdir / f"operator-{replica}.log"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "OPERATOR_REPLICA": replica}
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--verbose", f"--namespace={namespace}", "--peering=example",
             f"--priority={priority}", str(OPERATOR / "operator.py")],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=workdir)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def operators(operator_server: str, kubectl132: Kubectl, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[str, Kubectl, Operator, Operator]]:
    """The CRDs applied with kubectl, a peering object, and two replicas of the operator (a acts, b waits)."""
    workdir = tmp_path_factory.mktemp("kopf")
    kubectl = Kubectl(kubectl132.binary, operator_server, workdir / "kubectl", kubectl132.version)
    ns = f"greet-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", ns)
    kubectl("apply", "-f", str(OPERATOR / "crd.yaml"), "-f", str(OPERATOR / "peering.yaml"))
    kubectl("wait", "--for=condition=established", "--timeout=60s", "crd/greetings.kubeling.example",
            "crd/kopfpeerings.kopf.dev", "crd/clusterkopfpeerings.kopf.dev")
    kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "example"}}))
    (workdir / "a").mkdir()
    (workdir / "b").mkdir()
    first = Operator(operator_server, workdir / "a", ns, "a", priority=100)
    try:
        wait_until(lambda: 100 in peer_priorities(operator_server, ns), 60, "replica a in the peering object")
        second = Operator(operator_server, workdir / "b", ns, "b", priority=50)
        try:
            wait_until(lambda: PAUSED in second.logs(), 60, "replica b to pause")
            yield ns, kubectl, first, second
        finally:
            second.stop()
    finally:
        first.stop()


def peer_priorities(server: str, ns: str) -> list[int]:
    """The priorities in the peering object's status: one entry per running replica (keyed by an id of its own)."""
    response = requests.get(f"{server}/apis/kopf.dev/v1/namespaces/{ns}/kopfpeerings/example", timeout=TIMEOUT)
    status = response.json().get("status") or {}
    return [entry.get("priority") for entry in status.values() if isinstance(entry, dict)]


def configmap(server: str, ns: str, name: str) -> dict[str, Any] | None:
    response = requests.get(f"{server}/api/v1/namespaces/{ns}/configmaps/{name}", timeout=TIMEOUT)
    return response.json() if response.status_code == 200 else None


def greeting(server: str, ns: str, name: str) -> dict[str, Any] | None:
    response = requests.get(f"{server}/apis/kubeling.example/v1/namespaces/{ns}/greetings/{name}", timeout=TIMEOUT)
    return response.json() if response.status_code == 200 else None


def test_create_update_delete_through_the_operator(operator_server, operators):
    ns, kubectl, first, second = operators
    kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump({
        "apiVersion": "kubeling.example/v1", "kind": "Greeting", "metadata": {"name": "hello"},
        "spec": {"message": "hello, kubeling"}}))

    # Create: the child ConfigMap, owned by the Greeting, and the Greeting's status.
    child = wait_until(lambda: configmap(operator_server, ns, "hello-greeting"), 60, "the child ConfigMap")
    owner = greeting(operator_server, ns, "hello")
    assert child["data"] == {"message": "hello, kubeling", "handled-by": "a"}
    assert child["metadata"]["ownerReferences"] == [{
        "apiVersion": "kubeling.example/v1", "kind": "Greeting", "name": "hello", "uid": owner["metadata"]["uid"],
        "controller": True, "blockOwnerDeletion": True}]
    done = wait_until(lambda: (g := greeting(operator_server, ns, "hello")) and
                      g.get("status", {}).get("create_greeting") and g, 30, "the status patch")
    assert done["status"]["phase"] == "Ready"
    lines = kubectl("get", "greetings", "-n", ns).splitlines()  # the CRD's printer columns
    assert lines[0].split() == ["NAME", "MESSAGE", "PHASE"]
    assert lines[1].split() == ["hello", "hello,", "kubeling", "Ready"]
    assert done["status"]["create_greeting"] == {"configMap": "hello-greeting"}
    assert any(f.startswith("kopf.zalando.org/") for f in done["metadata"]["finalizers"])  # for the delete handler
    assert PAUSED in second.logs() and "Resuming operations" not in second.logs()
    assert "create_greeting" not in second.logs()  # the paused replica never acted

    # Update: the handler on spec.message copies the new message.
    kubectl("patch", "greeting", "hello", "-n", ns, "--type=merge", "-p", '{"spec":{"message":"bonjour"}}')
    wait_until(lambda: (configmap(operator_server, ns, "hello-greeting") or {}).get("data", {}).get("message")
               == "bonjour", 60, "the update handler")
    wait_until(lambda: (greeting(operator_server, ns, "hello") or {}).get("status", {}).get("phase") == "Updated",
               30, "the status after the update")

    # Delete: kopf's finalizer holds the Greeting until the delete handler ran; then the collector takes the child.
    kubectl("delete", "greeting", "hello", "-n", ns, timeout=120)
    assert greeting(operator_server, ns, "hello") is None
    assert "Greeting hello is going" in first.logs()
    wait_until(lambda: configmap(operator_server, ns, "hello-greeting") is None, 60,
               "the garbage collector to delete the child ConfigMap")


def test_a_greeting_without_a_message_is_refused(operators):
    ns, kubectl, _, _ = operators
    result = kubectl.run("apply", "-n", ns, "-f", "-", check=False, input=yaml.safe_dump({
        "apiVersion": "kubeling.example/v1", "kind": "Greeting", "metadata": {"name": "silent"}, "spec": {}}))
    assert result.returncode != 0
    assert 'The Greeting "silent" is invalid: spec.message: Required value' in result.stderr


def test_deleting_a_namespace_deletes_its_custom_resources(operator_server, operators):
    _, kubectl, _, _ = operators
    ns = f"other-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", ns)  # not watched by the operator: no finalizer on what is created here
    kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump({
        "apiVersion": "kubeling.example/v1", "kind": "Greeting", "metadata": {"name": "left-behind"},
        "spec": {"message": "bye"}}))
    kubectl("delete", "namespace", ns, "--wait=false")
    wait_until(lambda: requests.get(f"{operator_server}/api/v1/namespaces/{ns}", timeout=TIMEOUT).status_code == 404,
               60, "the namespace controller to empty and remove the namespace")
    assert greeting(operator_server, ns, "left-behind") is None


def test_foreground_deletion_of_a_custom_resource_waits_for_its_dependents(operator_server, operators):
    _, kubectl, _, _ = operators
    ns = f"fg-{uuid.uuid4().hex[:6]}"  # not watched by the operator: the test plays the controller
    kubectl("create", "namespace", ns)
    url = f"{operator_server}/apis/kubeling.example/v1/namespaces/{ns}/greetings"
    owner = requests.post(url, json={"apiVersion": "kubeling.example/v1", "kind": "Greeting",
                                     "metadata": {"name": "parent"}, "spec": {"message": "hi"}},
                          timeout=TIMEOUT).json()
    ref = {"apiVersion": "kubeling.example/v1", "kind": "Greeting", "name": "parent",
           "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}
    child = requests.post(f"{operator_server}/api/v1/namespaces/{ns}/configmaps", timeout=TIMEOUT, json={
        "metadata": {"name": "child", "ownerReferences": [ref]}, "data": {"a": "b"}})
    assert child.status_code == 201, child.text
    deleted = requests.delete(f"{url}/parent", json={"propagationPolicy": "Foreground"}, timeout=TIMEOUT).json()
    assert "foregroundDeletion" in deleted["metadata"]["finalizers"]  # held until the child is gone
    wait_until(lambda: configmap(operator_server, ns, "child") is None, 60, "the collector to delete the child")
    wait_until(lambda: greeting(operator_server, ns, "parent") is None, 60, "the owner to go after its child")
