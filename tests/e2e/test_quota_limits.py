"""ResourceQuota and LimitRange with kubectl 1.32 and 1.20, against a real API server and controller-manager (its
resource quota controller): creates charged until a quota is spent, refused with upstream's message, given back
when objects go; pods defaulted and bounded by a LimitRange; upstream's table columns.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cluster import Component, Stack
from support.kubectl import KUBECTL_BINARIES, Kubectl
from support.polling import wait_until


@pytest.fixture(scope="module")
def server(etcd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("quota")
    with Stack() as stack:
        api = stack.apiserver(etcd.url, workdir, "quota")
        stack.start(Component("controller-manager", api.url, workdir,
                              ["--controllers=resourcequota", "--leader-elect=false"]))
        yield api.url


@pytest.fixture(params=sorted(KUBECTL_BINARIES))
def kctl(request: pytest.FixtureRequest, server: str, tmp_path: Any) -> Kubectl:
    binary = KUBECTL_BINARIES[request.param]
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make deps`")
    return Kubectl(binary, server, tmp_path, request.param)


@pytest.fixture
def ns(server: str) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    requests.post(f"{server}/api/v1/namespaces", json={"metadata": {"name": name}}, timeout=10).raise_for_status()
    return name


def used(server: str, ns: str) -> dict:
    status = requests.get(f"{server}/api/v1/namespaces/{ns}/resourcequotas/q", timeout=10).json().get("status")
    return (status or {}).get("used") or {}


def test_a_quota_charges_refuses_and_gives_back(server: str, kctl: Kubectl, ns: str) -> None:
    kctl("create", "quota", "q", "--hard=pods=2,configmaps=3", "-n", ns)
    wait_until(lambda: used(server, ns).get("pods") == "0", 20, "the controller to count the namespace")
    for name in ("a", "b"):
        kctl("run", name, "--image=busybox", "--restart=Never", "-n", ns)
    result = kctl.run("run", "c", "--image=busybox", "--restart=Never", "-n", ns, check=False)
    assert result.returncode != 0
    assert ('pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2'
            in result.stderr), result.stderr
    out = kctl("get", "quota", "q", "-n", ns)
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert "configmaps: 0/3, pods: 2/2" in row  # this controller-manager publishes no kube-root-ca.crt
    kctl("delete", "pod", "a", "-n", ns, "--wait=false")
    wait_until(lambda: used(server, ns).get("pods") == "1", 20, "the quota to be given back")
    kctl("run", "c", "--image=busybox", "--restart=Never", "-n", ns)


def test_a_limit_range_defaults_and_bounds_pods(server: str, kctl: Kubectl, ns: str) -> None:
    limits = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"}, "spec": {"limits": [
        {"type": "Container", "max": {"memory": "256Mi"}, "defaultRequest": {"memory": "64Mi"}}]}}
    kctl("create", "-n", ns, "-f", "-", input=json.dumps(limits))
    kctl("run", "plain", "--image=busybox", "--restart=Never", "-n", ns)
    resources = json.loads(kctl("get", "pod", "plain", "-n", ns, "-o", "json"))["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"memory": "256Mi"}, "requests": {"memory": "64Mi"}}
    big = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "resources": {"limits": {"memory": "1Gi"}}}]}}
    result = kctl.run("create", "-n", ns, "-f", "-", input=json.dumps(big), check=False)
    assert result.returncode != 0
    assert 'pods "big" is forbidden: maximum memory usage per Container is 256Mi, but limit is 1Gi' in result.stderr
    header = kctl("get", "limits", "-n", ns).splitlines()[0]
    assert header.split() == ["NAME", "CREATED", "AT"]
