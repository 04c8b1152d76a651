"""Namespace deletion: `kubectl delete namespace` returns once the namespace's content and the namespace are gone.
Also: every namespace gets a `default` ServiceAccount.

Runs on its own API server with the namespace and service account controllers and a kubelet stand-in (pods on a
node go Terminating until their kubelet confirms).
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
from support.kubectl import Kubectl
from support.polling import wait_until

NODE = "ns-node"


@pytest.fixture(scope="module")
def ns_server(etcd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("nsdelete")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "nsdelete")
        register_node(server.url, NODE)
        stack.start(KubeletStandIn(server.url, [NODE]))
        stack.start(Component("controller-manager", server.url, workdir,
                              ["--controllers=namespace,serviceaccount", "--leader-elect=false"]))
        yield server.url

@pytest.fixture
def ns_kubectl(kubectl132: Kubectl, ns_server: str, tmp_path: Any) -> Kubectl:
    """kubectl 1.32 only: these tests are about the namespace and service-account controllers."""
    return Kubectl(kubectl132.binary, ns_server, tmp_path, kubectl132.version)


def create(server: str, path: str, obj: dict) -> None:
    requests.post(f"{server}{path}", json=obj, timeout=10).raise_for_status()


def test_default_service_account_in_every_namespace(ns_server: str, ns_kubectl: Kubectl) -> None:
    ns = f"sa-{ns_kubectl.version.replace('.', '')}-{uuid.uuid4().hex[:6]}"
    ns_kubectl("create", "namespace", ns)
    url = f"{ns_server}/api/v1/namespaces/{ns}/serviceaccounts/default"
    wait_until(lambda: requests.get(url, timeout=10).status_code == 200, 10, "the default ServiceAccount")
    requests.delete(url, timeout=10).raise_for_status()
    wait_until(lambda: requests.get(url, timeout=10).status_code == 200, 10, "the default ServiceAccount again")
    out = ns_kubectl("get", "serviceaccounts", "-n", ns)
    assert out.split("\n")[1].split()[0] == "default"


def test_kubectl_delete_namespace_waits_for_content(ns_server: str, ns_kubectl: Kubectl) -> None:
    ns = f"del-{ns_kubectl.version.replace('.', '')}-{uuid.uuid4().hex[:6]}"
    ns_kubectl("create", "namespace", ns)
    base = f"/api/v1/namespaces/{ns}"
    for i in range(3):
        create(ns_server, f"{base}/configmaps", {"metadata": {"name": f"cm-{i}"}, "data": {"k": "v"}})
    create(ns_server, f"{base}/services", {"metadata": {"name": "web"},
                                           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    for i in range(2):
        create(ns_server, f"{base}/pods", {"metadata": {"name": f"pod-{i}", "labels": {"app": "web"}},
                                           "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "nginx"}]}})
    create(ns_server, f"{base}/pods", {"metadata": {"name": "pending"},
                                       "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    wait_until(lambda: all(p["status"].get("phase") == "Running" for p in requests.get(
        f"{ns_server}{base}/pods", params={"fieldSelector": f"spec.nodeName={NODE}"}, timeout=10).json()["items"]),
        10, "the bound pods to run")

    started = time.monotonic()
    result = ns_kubectl.run("delete", "namespace", ns, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f'namespace "{ns}" deleted'
    assert time.monotonic() - started < 30

    assert requests.get(f"{ns_server}/api/v1/namespaces/{ns}", timeout=10).status_code == 404
    for resource in ("configmaps", "services", "pods", "serviceaccounts", "endpoints"):
        left = requests.get(f"{ns_server}/api/v1/{resource}", params={"fieldSelector": f"metadata.namespace={ns}"},
                            timeout=10).json()["items"]
        assert left == [], resource
    out = ns_kubectl.run("get", "namespace", ns, check=False)
    assert out.returncode == 1
    assert f'namespaces "{ns}" not found' in out.stderr


def test_terminating_namespace_reports_remaining_content(ns_server: str) -> None:
    """While a finalizer holds content, the namespace stays Terminating and its conditions say why."""
    ns = f"held-{uuid.uuid4().hex[:6]}"
    create(ns_server, "/api/v1/namespaces", {"metadata": {"name": ns}})
    cm_url = f"{ns_server}/api/v1/namespaces/{ns}/configmaps/held"
    create(ns_server, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "held",
                                                                           "finalizers": ["example.com/hold"]}})
    requests.delete(f"{ns_server}/api/v1/namespaces/{ns}", timeout=10).raise_for_status()

    def remaining() -> dict | None:
        namespace = requests.get(f"{ns_server}/api/v1/namespaces/{ns}", timeout=10).json()
        conditions = {c["type"]: c for c in namespace.get("status", {}).get("conditions") or []}
        found = conditions.get("NamespaceFinalizersRemaining")
        return conditions if found and found["status"] == "True" else None

    conditions = wait_until(remaining, 10, "the NamespaceFinalizersRemaining condition")
    assert conditions["NamespaceContentRemaining"]["message"] == (
        "Some resources are remaining: configmaps has 1 resource instances")
    assert conditions["NamespaceFinalizersRemaining"]["message"] == (
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
    namespace = requests.get(f"{ns_server}/api/v1/namespaces/{ns}", timeout=10).json()
    assert namespace["status"]["phase"] == "Terminating"

    requests.patch(cm_url, json={"metadata": {"finalizers": None}},
                   headers={"Content-Type": "application/merge-patch+json"}, timeout=10).raise_for_status()
    wait_until(lambda: requests.get(f"{ns_server}/api/v1/namespaces/{ns}", timeout=10).status_code == 404, 15,
               "the namespace to go once its content is gone")
