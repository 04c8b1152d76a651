"""The real kubectl (1.32 and 1.20) works against kubeling's API server backed by a real etcd.

Every test drives the unmodified kubectl binary and checks what a user sees on the terminal: the table columns
that `get` prints (which only appear when the server builds Tables itself), the JSON/YAML it dumps, the
success lines of `create`/`apply`/`patch`/`label`/`scale`/`delete`, the `Error from server (...)` messages, and
that watches and the delete-wait return when the right event arrives. Together they prove the server speaks the
discovery, Table, watch, patch (strategic/merge/json/apply) and namespace-lifecycle dialects kubectl relies on.

No controllers run: the tests write pod status and finalize namespaces themselves, through plain HTTP.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from support.kubectl import Kubectl

pytestmark = pytest.mark.e2e

TIMEOUT = 10  # seconds for a single HTTP request made by the test itself
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# Helpers


def unique(prefix: str, kubectl) -> str:
    return f"{prefix}-{kubectl.version.replace('.', '')}-{uuid.uuid4().hex[:8]}"


def create_namespace(apiserver, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    response = requests.post(f"{apiserver.url}/api/v1/namespaces", json=body, timeout=TIMEOUT)
    assert response.status_code == 201, response.text


@pytest.fixture
def ns(kubectl, apiserver) -> str:
    """A fresh namespace for one test and one kubectl version."""
    name = unique("t", kubectl)
    create_namespace(apiserver, name)
    return name


def table(output: str) -> tuple[list[str], list[dict[str, str]]]:
    """Split kubectl's aligned table into its header names and one dict per row.

    kubectl's tabwriter puts at least three spaces between columns and left-aligns every cell under its header,
    so each header's start offset is where that column's cells start.
    """
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "kubectl printed no table"
    header = lines[0]
    spans = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [name for _, name in spans]
    rows = []
    for line in lines[1:]:
        cells = {}
        for i, (start, name) in enumerate(spans):
            end = spans[i + 1][0] if i + 1 < len(spans) else len(line)
            cells[name] = line[start:end].strip()
        rows.append(cells)
    return names, rows


def row(rows: list[dict[str, str]], name: str, column: str = "NAME") -> dict[str, str]:
    matches = [r for r in rows if r[column] == name]
    assert len(matches) == 1, f"expected one row {column}={name}, got {rows}"
    return matches[0]


def names_of(output: str) -> set[str]:
    if not output.strip():
        return set()
    return {r["NAME"] for r in table(output)[1]}


def apply_text(kubectl, text: str, *args: str) -> str:
    return kubectl(*args, "-f", "-", input=text)


def pod(name: str, labels: dict[str, str] | None = None, node: str | None = None,
        containers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": c, "image": image} for c, image in (containers or [("nginx", "nginx:1.25")])],
    }
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def deployment(name: str, replicas: int = 2, labels: dict[str, str] | None = None,
               containers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": c, "image": image}
                                        for c, image in (containers or [("nginx", "nginx:1.25")])]},
            },
        },
    }


def service(name: str, kind: str = "ClusterIP") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"type": kind, "selector": {"app": name},
                 "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]},
    }


def configmap(name: str, labels: dict[str, str] | None = None, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": data if data is not None else {"k": "v"}}


def create(kubectl, ns: str, *objects: dict[str, Any]) -> None:
    for obj in objects:
        kubectl("create", "-n", ns, "-f", "-", input=json.dumps(obj))


def set_pod_status(apiserver, ns: str, name: str, status: dict[str, Any]) -> None:
    """What a kubelet would do: merge-patch the pod's status subresource."""
    response = requests.patch(f"{apiserver.url}/api/v1/namespaces/{ns}/pods/{name}/status",
                              data=json.dumps({"status": status}),
                              headers={"Content-Type": "application/merge-patch+json"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text


def jsonpath(kubectl, ns: str, target: str, path: str) -> str:
    return kubectl("get", target, "-n", ns, "-o", f"jsonpath={path}")


def popen(kubectl, *args: str) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(kubectl.cache_dir), "KUBECONFIG": "/dev/null"}
    return subprocess.Popen(kubectl.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class LineReader:
    """Collects a process's stdout lines on a thread so the test can wait for one with a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no matching line within {timeout}s; saw {self.seen}")


def finalize_namespace(apiserver, name: str) -> None:
    """What the namespace controller does once the namespace is empty: clear spec.finalizers."""
    url = f"{apiserver.url}/api/v1/namespaces/{name}"
    current = requests.get(url, timeout=TIMEOUT)
    assert current.status_code == 200, current.text
    body = current.json()
    body["spec"]["finalizers"] = []
    response = requests.put(f"{url}/finalize", json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text


def wait_until(check, timeout: float = 10.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


# get: columns


def test_get_pods_columns(kubectl, ns):
    create(kubectl, ns, pod("single"), pod("double", containers=[("a", "nginx:1.25"), ("b", "busybox:1.36")]))
    header, rows = table(kubectl("get", "pods", "-n", ns))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert {r["NAME"] for r in rows} == {"single", "double"}
    single = row(rows, "single")
    assert (single["READY"], single["STATUS"], single["RESTARTS"]) == ("0/1", "Pending", "0")
    assert re.fullmatch(r"\d+s|\d+m\d*s?", single["AGE"]), single
    assert row(rows, "double")["READY"] == "0/2"


def test_get_pods_wide(kubectl, ns, apiserver):
    create(kubectl, ns, pod("web", node="node-a"), pod("idle"))
    set_pod_status(apiserver, ns, "web", {"phase": "Running", "podIP": "10.244.1.7",
                                          "podIPs": [{"ip": "10.244.1.7"}]})
    header, rows = table(kubectl("get", "pods", "-n", ns, "-o", "wide"))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                      "READINESS GATES"]
    web = row(rows, "web")
    assert (web["STATUS"], web["IP"], web["NODE"]) == ("Running", "10.244.1.7", "node-a")
    idle = row(rows, "idle")
    assert (idle["STATUS"], idle["IP"], idle["NODE"]) == ("Pending", "<none>", "<none>")


def test_get_deployments_columns_and_wide(kubectl, ns):
    create(kubectl, ns, deployment("web", replicas=2, containers=[("nginx", "nginx:1.25"), ("log", "busybox:1.36")]))
    header, rows = table(kubectl("get", "deployments", "-n", ns))
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    web = row(rows, "web")
    assert (web["READY"], web["UP-TO-DATE"], web["AVAILABLE"]) == ("0/2", "0", "0")

    header, rows = table(kubectl("get", "deploy", "web", "-n", ns, "-o", "wide"))
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    web = row(rows, "web")
    assert web["CONTAINERS"] == "nginx,log"
    assert web["IMAGES"] == "nginx:1.25,busybox:1.36"
    assert web["SELECTOR"] == "app=web"


def test_get_priorityclasses_and_podtemplates_columns(kubectl, ns):
    header, rows = table(kubectl("get", "pc"))
    assert header == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    critical = row(rows, "system-node-critical")
    assert (critical["VALUE"], critical["GLOBAL-DEFAULT"]) == ("2000001000", "false")
    kubectl("create", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "tpl"},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}))
    header, rows = table(kubectl("get", "podtemplates", "-n", ns))
    assert header == ["NAME", "CONTAINERS", "IMAGES", "POD LABELS"]
    assert row(rows, "tpl")["POD LABELS"] == "app=web"


def test_get_services_columns(kubectl, ns):
    create(kubectl, ns, service("web"), service("edge", "NodePort"))
    header, rows = table(kubectl("get", "services", "-n", ns))
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    web = row(rows, "web")
    assert web["TYPE"] == "ClusterIP"
    assert re.fullmatch(r"10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+", web["CLUSTER-IP"]), web
    assert (web["EXTERNAL-IP"], web["PORT(S)"]) == ("<none>", "80/TCP")
    edge = row(rows, "edge")
    assert edge["TYPE"] == "NodePort"
    assert re.fullmatch(r"80:3\d{4}/TCP", edge["PORT(S)"]), edge
    assert edge["CLUSTER-IP"] != web["CLUSTER-IP"]

    header, rows = table(kubectl("get", "svc", "web", "-n", ns, "-o", "wide"))
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert row(rows, "web")["SELECTOR"] == "app=web"


def test_get_namespaces_columns(kubectl, ns):
    header, rows = table(kubectl("get", "namespaces"))
    assert header == ["NAME", "STATUS", "AGE"]
    assert row(rows, ns)["STATUS"] == "Active"
    assert row(rows, "default")["STATUS"] == "Active"
    assert row(rows, "kube-system")["STATUS"] == "Active"


def test_get_configmaps_columns(kubectl, ns):
    create(kubectl, ns, configmap("two", data={"a": "1", "b": "2"}), configmap("none", data={}))
    header, rows = table(kubectl("get", "configmaps", "-n", ns))
    assert header == ["NAME", "DATA", "AGE"]
    assert row(rows, "two")["DATA"] == "2"
    assert row(rows, "none")["DATA"] == "0"


def test_get_nodes_columns(kubectl, apiserver, tmp_path: Path):
    name = unique("node", kubectl)
    manifest = tmp_path / "node.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.5.10"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1.0",
                         "containerRuntimeVersion": "containerd://1.7.0", "architecture": "amd64",
                         "operatingSystem": "linux"},
        },
    }))
    try:
        assert kubectl("create", "-f", str(manifest)).strip() == f"node/{name} created"
        header, rows = table(kubectl("get", "nodes", name))
        assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        node = row(rows, name)
        assert (node["STATUS"], node["ROLES"], node["VERSION"]) == ("Ready", "control-plane", "v1.32.0")

        header, rows = table(kubectl("get", "node", name, "-o", "wide"))
        assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                          "KERNEL-VERSION", "CONTAINER-RUNTIME"]
        node = row(rows, name)
        assert (node["INTERNAL-IP"], node["EXTERNAL-IP"]) == ("192.168.5.10", "<none>")
        assert (node["OS-IMAGE"], node["KERNEL-VERSION"]) == ("Debian GNU/Linux 12", "6.1.0")
        assert node["CONTAINER-RUNTIME"] == "containerd://1.7.0"
    finally:
        requests.delete(f"{apiserver.url}/api/v1/nodes/{name}", timeout=TIMEOUT)


# get: output formats and selectors


def _check_metadata(obj: dict[str, Any], ns: str, name: str) -> None:
    meta = obj["metadata"]
    assert (meta["name"], meta["namespace"]) == (name, ns)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", meta["uid"])
    assert isinstance(meta["resourceVersion"], str) and meta["resourceVersion"].isdigit()
    assert RFC3339.match(meta["creationTimestamp"])
    assert meta["generation"] == 1


def test_get_output_json_and_yaml(kubectl, ns):
    create(kubectl, ns, deployment("web"))
    as_json = json.loads(kubectl("get", "deployment", "web", "-n", ns, "-o", "json"))
    assert (as_json["apiVersion"], as_json["kind"]) == ("apps/v1", "Deployment")
    _check_metadata(as_json, ns, "web")
    assert as_json["spec"]["replicas"] == 2

    as_yaml = yaml.safe_load(kubectl("get", "deployment", "web", "-n", ns, "-o", "yaml"))
    _check_metadata(as_yaml, ns, "web")
    assert as_yaml["metadata"]["uid"] == as_json["metadata"]["uid"]

    listed = json.loads(kubectl("get", "deployments", "-n", ns, "-o", "json"))
    assert listed["kind"] == "List"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["web"]
    assert listed["items"][0]["kind"] == "Deployment"


def test_get_label_selectors(kubectl, ns):
    create(kubectl, ns,
           configmap("prod-web", {"env": "prod", "tier": "web"}),
           configmap("dev-db", {"env": "dev", "tier": "db"}),
           configmap("staging", {"env": "staging"}),
           configmap("plain"))

    def select(selector: str) -> set[str]:
        return names_of(kubectl("get", "configmaps", "-n", ns, "-l", selector))

    assert select("env=prod") == {"prod-web"}
    assert select("env!=prod") == {"dev-db", "staging", "plain"}
    assert select("env in (prod,dev)") == {"prod-web", "dev-db"}
    assert select("env notin (prod,dev)") == {"staging", "plain"}
    assert select("tier") == {"prod-web", "dev-db"}
    assert select("!tier") == {"staging", "plain"}
    assert select("env,tier=db") == {"dev-db"}
    result = kubectl.run("get", "configmaps", "-n", ns, "-l", "env=none")
    assert result.stdout == ""
    assert f"No resources found in {ns} namespace." in result.stderr


def test_get_field_selectors(kubectl, ns, apiserver):
    create(kubectl, ns, pod("runner", node="node-x"), pod("waiter"), pod("other", node="node-y"))
    set_pod_status(apiserver, ns, "runner", {"phase": "Running"})

    def select(selector: str) -> set[str]:
        return names_of(kubectl("get", "pods", "-n", ns, "--field-selector", selector))

    assert select("metadata.name=waiter") == {"waiter"}
    assert select("status.phase=Running") == {"runner"}
    assert select("status.phase!=Running") == {"waiter", "other"}
    assert select("spec.nodeName=node-x") == {"runner"}
    assert select("spec.nodeName=") == {"waiter"}
    assert select("spec.nodeName!=node-x,status.phase=Pending") == {"waiter", "other"}

    bad = kubectl.run("get", "pods", "-n", ns, "--field-selector", "spec.bogus=1", check=False)
    assert bad.returncode != 0
    assert "field label not supported: spec.bogus" in bad.stderr


def test_get_all_namespaces(kubectl, ns, apiserver):
    other = unique("t2", kubectl)
    create_namespace(apiserver, other)
    mark = uuid.uuid4().hex[:10]
    create(kubectl, ns, configmap("first", {"mark": mark}))
    create(kubectl, other, configmap("second", {"mark": mark}))
    header, rows = table(kubectl("get", "configmaps", "-A", "-l", f"mark={mark}"))
    assert header == ["NAMESPACE", "NAME", "DATA", "AGE"]
    assert sorted((r["NAMESPACE"], r["NAME"]) for r in rows) == sorted([(ns, "first"), (other, "second")])


def test_get_watch_prints_new_and_changed_rows(kubectl, ns, apiserver):
    create(kubectl, ns, pod("before"))
    proc = popen(kubectl, "get", "pods", "-w", "-n", ns, "--request-timeout=60s")
    try:
        reader = LineReader(proc)
        header = reader.wait_for(lambda line: line.startswith("NAME"))
        assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        reader.wait_for(lambda line: line.split()[:3] == ["before", "0/1", "Pending"])

        create(kubectl, ns, pod("after"))
        reader.wait_for(lambda line: line.split()[:3] == ["after", "0/1", "Pending"])

        set_pod_status(apiserver, ns, "before", {"phase": "Running"})
        reader.wait_for(lambda line: line.split()[:3] == ["before", "0/1", "Running"])
        assert proc.poll() is None, "kubectl get -w exited while the watch should still be open"
    finally:
        stop(proc)


# create / apply


MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  color: blue
"""


def test_create_from_manifest_and_duplicate(kubectl, ns, tmp_path: Path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST)
    out = kubectl("create", "-n", ns, "-f", str(manifest))
    assert out.splitlines() == ["deployment.apps/web created", "service/web created", "configmap/web-config created"]
    assert jsonpath(kubectl, ns, "deployment/web", "{.spec.template.spec.containers[0].image}") == "nginx:1.25"
    assert jsonpath(kubectl, ns, "service/web", "{.spec.ports[0].port}") == "80"
    assert jsonpath(kubectl, ns, "configmap/web-config", "{.data.color}") == "blue"

    again = kubectl.run("create", "-n", ns, "-f", str(manifest), check=False)
    assert again.returncode != 0
    assert 'Error from server (AlreadyExists): error when creating' in again.stderr
    assert 'deployments.apps "web" already exists' in again.stderr
    assert 'services "web" already exists' in again.stderr
    assert 'configmaps "web-config" already exists' in again.stderr


def test_apply_twice_then_unchanged(kubectl, ns, tmp_path: Path):
    manifest = tmp_path / "web.json"
    manifest.write_text(json.dumps(deployment("web", replicas=2)))
    assert kubectl("apply", "-n", ns, "-f", str(manifest)).strip() == "deployment.apps/web created"
    annotation = jsonpath(kubectl, ns, "deployment/web",
                          r"{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}")
    assert json.loads(annotation)["spec"]["replicas"] == 2

    manifest.write_text(json.dumps(deployment("web", replicas=3, labels={"app": "web", "tier": "frontend"})))
    assert kubectl("apply", "-n", ns, "-f", str(manifest)).strip() == "deployment.apps/web configured"
    assert jsonpath(kubectl, ns, "deployment/web", "{.spec.replicas}") == "3"
    assert jsonpath(kubectl, ns, "deployment/web", "{.metadata.labels.tier}") == "frontend"
    assert jsonpath(kubectl, ns, "deployment/web", "{.metadata.generation}") == "2"

    assert kubectl("apply", "-n", ns, "-f", str(manifest)).strip() == "deployment.apps/web unchanged"
    assert jsonpath(kubectl, ns, "deployment/web", "{.metadata.generation}") == "2"


def test_apply_server_side(kubectl, ns):
    first = json.dumps(configmap("ssa", data={"a": "1"}))
    assert apply_text(kubectl, first, "apply", "--server-side", "-n", ns).strip() == "configmap/ssa serverside-applied"
    assert jsonpath(kubectl, ns, "configmap/ssa", "{.data.a}") == "1"

    second = json.dumps(configmap("ssa", labels={"team": "blue"}, data={"a": "2", "b": "3"}))
    assert apply_text(kubectl, second, "apply", "--server-side", "-n", ns).strip() == "configmap/ssa serverside-applied"
    data = json.loads(jsonpath(kubectl, ns, "configmap/ssa", "{.data}"))
    assert data == {"a": "2", "b": "3"}
    assert jsonpath(kubectl, ns, "configmap/ssa", "{.metadata.labels.team}") == "blue"


# patch / label / annotate / scale


def test_patch_strategic_keeps_other_container(kubectl, ns):
    create(kubectl, ns, deployment("web", containers=[("nginx", "nginx:1.25"), ("log", "busybox:1.36")]))
    change = {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}
    out = kubectl("patch", "deployment", "web", "-n", ns, "-p", json.dumps(change))
    assert out.strip() == "deployment.apps/web patched"
    containers = json.loads(kubectl("get", "deployment", "web", "-n", ns, "-o", "json"))["spec"]["template"]["spec"][
        "containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("nginx", "nginx:1.27"), ("log", "busybox:1.36")]

    explicit = kubectl("patch", "deployment", "web", "-n", ns, "--type=strategic", "-p", json.dumps(change))
    assert explicit.strip() == "deployment.apps/web patched (no change)"


def test_patch_merge_replaces_lists(kubectl, ns):
    create(kubectl, ns, deployment("web", containers=[("nginx", "nginx:1.25"), ("log", "busybox:1.36")]))
    out = kubectl("patch", "deployment", "web", "-n", ns, "--type=merge",
                  "-p", json.dumps({"metadata": {"labels": {"color": "red"}}, "spec": {"replicas": 4}}))
    assert out.strip() == "deployment.apps/web patched"
    assert jsonpath(kubectl, ns, "deployment/web", "{.spec.replicas}") == "4"
    assert jsonpath(kubectl, ns, "deployment/web", "{.metadata.labels.color}") == "red"

    # A JSON merge patch has no list merge keys: the containers list is replaced wholesale.
    kubectl("patch", "deployment", "web", "-n", ns, "--type=merge", "-p", json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "redis:7"}]}}}}))
    assert jsonpath(kubectl, ns, "deployment/web", "{.spec.template.spec.containers[*].name}") == "only"


def test_patch_json(kubectl, ns):
    create(kubectl, ns, deployment("web", containers=[("nginx", "nginx:1.25"), ("log", "busybox:1.36")]))
    ops = [{"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "busybox:1.37"},
           {"op": "add", "path": "/metadata/labels/patched", "value": "yes"},
           {"op": "test", "path": "/spec/replicas", "value": 2}]
    out = kubectl("patch", "deployment", "web", "-n", ns, "--type=json", "-p", json.dumps(ops))
    assert out.strip() == "deployment.apps/web patched"
    assert jsonpath(kubectl, ns, "deployment/web", "{.spec.template.spec.containers[*].image}") == \
        "nginx:1.25 busybox:1.37"
    assert jsonpath(kubectl, ns, "deployment/web", "{.metadata.labels.patched}") == "yes"

    # A failing `test` operation rejects the whole patch with 422 Invalid, which kubectl reports as below.
    failed = kubectl.run("patch", "deployment", "web", "-n", ns, "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/replicas", "value": 7}, {"op": "test", "path": "/spec/replicas",
                                                                   "value": 9}]), check=False)
    assert failed.returncode != 0
    assert failed.stderr.startswith("The request is invalid"), failed.stderr
    assert jsonpath(kubectl, ns, "deployment/web", "{.spec.replicas}") == "2"


def test_label_and_annotate(kubectl, ns):
    create(kubectl, ns, configmap("cfg"))
    assert kubectl("label", "configmap", "cfg", "-n", ns, "team=blue", "env=dev").strip() == "configmap/cfg labeled"
    assert names_of(kubectl("get", "cm", "-n", ns, "-l", "team=blue")) == {"cfg"}
    header, rows = table(kubectl("get", "cm", "cfg", "-n", ns, "--show-labels"))
    assert header == ["NAME", "DATA", "AGE", "LABELS"]
    assert row(rows, "cfg")["LABELS"] == "env=dev,team=blue"

    clash = kubectl.run("label", "configmap", "cfg", "-n", ns, "team=red", check=False)
    assert clash.returncode != 0
    assert "'team' already has a value (blue), and --overwrite is false" in clash.stderr
    kubectl("label", "configmap", "cfg", "-n", ns, "team=red", "--overwrite")
    assert jsonpath(kubectl, ns, "configmap/cfg", "{.metadata.labels.team}") == "red"

    # kubectl 1.20 still said "labeled" for a removal; the word comes from the client, not the server.
    removed = "labeled" if kubectl.version == "1.20" else "unlabeled"
    assert kubectl("label", "configmap", "cfg", "-n", ns, "team-").strip() == f"configmap/cfg {removed}"
    labels = json.loads(kubectl("get", "cm", "cfg", "-n", ns, "-o", "json"))["metadata"]["labels"]
    assert labels == {"env": "dev"}

    out = kubectl("annotate", "configmap", "cfg", "-n", ns, "owner=alice", "note=hello world")
    assert out.strip() == "configmap/cfg annotated"
    annotations = json.loads(kubectl("get", "cm", "cfg", "-n", ns, "-o", "json"))["metadata"]["annotations"]
    assert annotations["owner"] == "alice" and annotations["note"] == "hello world"
    assert kubectl("annotate", "configmap", "cfg", "-n", ns, "owner-").strip() == "configmap/cfg annotated"
    annotations = json.loads(kubectl("get", "cm", "cfg", "-n", ns, "-o", "json"))["metadata"].get("annotations", {})
    assert "owner" not in annotations and annotations.get("note") == "hello world"


def test_scale_deployment(kubectl, ns):
    create(kubectl, ns, deployment("web", replicas=2))
    assert kubectl("scale", "deployment", "web", "-n", ns, "--replicas=5").strip() == "deployment.apps/web scaled"
    assert jsonpath(kubectl, ns, "deployment/web", "{.spec.replicas}") == "5"
    assert jsonpath(kubectl, ns, "deployment/web", "{.metadata.generation}") == "2"
    _, rows = table(kubectl("get", "deployment", "web", "-n", ns))
    assert row(rows, "web")["READY"] == "0/5"

    stale = kubectl.run("scale", "deployment", "web", "-n", ns, "--replicas=1", "--current-replicas=3", check=False)
    assert stale.returncode != 0
    assert jsonpath(kubectl, ns, "deployment/web", "{.spec.replicas}") == "5"


# delete / describe / get all / api-resources


def test_delete(kubectl, ns, apiserver):
    create(kubectl, ns, deployment("web"), configmap("cfg"))
    started = time.monotonic()
    assert kubectl("delete", "deployment", "web", "-n", ns, timeout=30).strip() == 'deployment.apps "web" deleted'
    assert time.monotonic() - started < 20
    gone = kubectl.run("get", "deployment", "web", "-n", ns, check=False)
    assert gone.returncode != 0
    assert 'Error from server (NotFound): deployments.apps "web" not found' in gone.stderr
    response = requests.get(f"{apiserver.url}/apis/apps/v1/namespaces/{ns}/deployments/web", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json()["reason"] == "NotFound"

    assert kubectl("delete", "configmap/cfg", "-n", ns).strip() == 'configmap "cfg" deleted'
    missing = kubectl.run("delete", "configmap", "cfg", "-n", ns, check=False)
    assert missing.returncode != 0
    assert 'Error from server (NotFound): configmaps "cfg" not found' in missing.stderr


def test_delete_waits_for_finalizer(kubectl, ns, apiserver):
    held = configmap("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    create(kubectl, ns, held)
    proc = popen(kubectl, "delete", "configmap", "held", "-n", ns)
    try:
        url = f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps/held"
        wait_until(lambda: requests.get(url, timeout=TIMEOUT).json()["metadata"].get("deletionTimestamp"))
        time.sleep(1)
        assert proc.poll() is None, "kubectl delete returned before the object was gone"
        patch = {"metadata": {"finalizers": None}}
        response = requests.patch(url, data=json.dumps(patch), timeout=TIMEOUT,
                                  headers={"Content-Type": "application/merge-patch+json"})
        assert response.status_code == 200, response.text
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert out.strip() == 'configmap "held" deleted'
    finally:
        stop(proc)


def _field(output: str, key: str) -> str:
    """The value of the first `Key:   value` line of `kubectl describe` output."""
    match = re.search(rf"^{re.escape(key)}:[ \t]*(.*)$", output, re.MULTILINE)
    assert match, f"no {key!r} line in:\n{output}"
    return match.group(1).strip()


def test_describe_deployment(kubectl, ns):
    create(kubectl, ns, deployment("web", replicas=3))
    out = kubectl("describe", "deployment", "web", "-n", ns)
    assert _field(out, "Name") == "web"
    assert _field(out, "Namespace") == ns
    assert _field(out, "Selector") == "app=web"
    assert _field(out, "Replicas").startswith("3 desired | 0 updated | 0 total | 0 available")
    assert _field(out, "StrategyType") == "RollingUpdate"
    assert re.search(r"^\s+Image:\s+nginx:1\.25$", out, re.MULTILINE)


def test_describe_pod(kubectl, ns, apiserver):
    create(kubectl, ns, pod("web", labels={"app": "web"}, node="node-d"))
    set_pod_status(apiserver, ns, "web", {"phase": "Running", "hostIP": "192.168.5.20", "podIP": "10.244.0.9",
                                          "podIPs": [{"ip": "10.244.0.9"}]})
    out = kubectl("describe", "pod", "web", "-n", ns)
    assert _field(out, "Name") == "web"
    assert _field(out, "Namespace") == ns
    assert _field(out, "Node") == "node-d/192.168.5.20"
    assert _field(out, "Labels") == "app=web"
    assert _field(out, "Status") == "Running"
    assert _field(out, "IP") == "10.244.0.9"
    assert re.search(r"^\s+Image:\s+nginx:1\.25$", out, re.MULTILINE)


def test_get_all(kubectl, ns):
    create(kubectl, ns, deployment("web"), service("web"), pod("solo"), configmap("not-in-all"))
    out = kubectl("get", "all", "-n", ns)
    first_cells = [line.split()[0] for line in out.splitlines() if line.strip() and not line.startswith("NAME")]
    assert "pod/solo" in first_cells
    assert "service/web" in first_cells
    assert "deployment.apps/web" in first_cells
    assert not any(cell.startswith("configmap") for cell in first_cells)
    headers = [line.split() for line in out.splitlines() if line.startswith("NAME")]
    assert ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"] in headers
    assert ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] in headers


def test_discovery_takes_two_requests_with_aggregated_discovery(kubectl, tmp_path):
    """kubectl 1.32 learns the whole API from /api and /apis (apidiscovery.k8s.io/v2); 1.20 walks every group
    version. A fresh cache directory, so discovery really happens."""
    fresh = Kubectl(kubectl.binary, kubectl.server, tmp_path, kubectl.version)
    result = fresh.run("api-resources", "-v=6")
    gets = re.findall(r"GET \S+?(/apis?[^?\s]*)", result.stderr)
    assert "deployments" in result.stdout
    if kubectl.version == "1.20":
        assert "/apis/apps/v1" in gets
    else:
        assert set(gets) <= {"/api", "/apis"}, gets


def test_api_resources(kubectl):
    header, rows = table(kubectl("api-resources"))
    assert header == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    expected = {
        "pods": ("po", "v1", "true", "Pod"),
        "services": ("svc", "v1", "true", "Service"),
        "deployments": ("deploy", "apps/v1", "true", "Deployment"),
        "namespaces": ("ns", "v1", "false", "Namespace"),
        "configmaps": ("cm", "v1", "true", "ConfigMap"),
        "nodes": ("no", "v1", "false", "Node"),
    }
    for name, (short, version, namespaced, kind) in expected.items():
        found = row(rows, name)
        assert (found["SHORTNAMES"], found["APIVERSION"], found["NAMESPACED"], found["KIND"]) == \
            (short, version, namespaced, kind), found

    _, apps = table(kubectl("api-resources", "--api-group=apps"))
    assert {r["NAME"] for r in apps} >= {"deployments", "replicasets"}
    assert {r["APIVERSION"] for r in apps} == {"apps/v1"}

    # Short names resolve through discovery.
    out = kubectl("get", "deploy,svc,cm,po", "-n", "default")
    assert "service/kubernetes" in out.split()


# namespaces


def test_create_namespace_imperatively(kubectl):
    """kubectl 1.32 sends this typed create as protobuf, 1.20 as JSON."""
    name = unique("t-ns", kubectl)
    assert kubectl("create", "namespace", name).strip() == f"namespace/{name} created"
    _, rows = table(kubectl("get", "namespace", name))
    assert row(rows, name)["STATUS"] == "Active"
    again = kubectl.run("create", "namespace", name, check=False)
    assert again.returncode != 0
    assert f'Error from server (AlreadyExists): namespaces "{name}" already exists' in again.stderr


def test_delete_namespace_without_wait(kubectl, tmp_path: Path, apiserver):
    name = unique("t-del", kubectl)
    manifest = tmp_path / "ns.yaml"
    manifest.write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    assert kubectl("create", "-f", str(manifest)).strip() == f"namespace/{name} created"
    assert jsonpath(kubectl, "default", f"namespace/{name}", "{.spec.finalizers}") == '["kubernetes"]'

    assert kubectl("delete", "namespace", name, "--wait=false").strip() == f'namespace "{name}" deleted'
    header, rows = table(kubectl("get", "namespace", name))
    assert header == ["NAME", "STATUS", "AGE"]
    assert row(rows, name)["STATUS"] == "Terminating"

    refused = kubectl.run("create", "-n", name, "-f", "-", input=json.dumps(configmap("late")), check=False)
    assert refused.returncode != 0
    assert "Error from server (Forbidden)" in refused.stderr
    assert f"unable to create new content in namespace {name} because it is being terminated" in refused.stderr

    finalize_namespace(apiserver, name)
    gone = kubectl.run("get", "namespace", name, check=False)
    assert gone.returncode != 0
    assert f'Error from server (NotFound): namespaces "{name}" not found' in gone.stderr


def test_delete_namespace_waits_until_finalized(kubectl, apiserver):
    name = unique("t-wait", kubectl)
    kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": name}}))
    proc = popen(kubectl, "delete", "namespace", name)
    try:
        url = f"{apiserver.url}/api/v1/namespaces/{name}"
        wait_until(lambda: requests.get(url, timeout=TIMEOUT).json()["status"].get("phase") == "Terminating")
        time.sleep(1)
        assert proc.poll() is None, "kubectl delete namespace returned before the namespace was finalized"
        finalize_namespace(apiserver, name)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out.strip() == f'namespace "{name}" deleted'
        assert requests.get(url, timeout=TIMEOUT).status_code == 404
    finally:
        stop(proc)


def test_delete_default_namespace_is_forbidden(kubectl):
    result = kubectl.run("delete", "namespace", "default", "--wait=false", check=False)
    assert result.returncode != 0
    assert 'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted' \
        in result.stderr
    assert row(table(kubectl("get", "namespace", "default"))[1], "default")["STATUS"] == "Active"


def test_create_and_apply_validate_against_the_server(kubectl, ns, tmp_path: Path):
    # kubectl validates before it sends (it reads /openapi/v2 or /openapi/v3 first): with our answers it goes on
    # to send, and the server's validation speaks for it. Nothing bad is stored.
    bad = deployment("typo", replicas=2)
    bad["spec"]["replicas"] = "three"
    manifest = tmp_path / "bad.json"
    manifest.write_text(json.dumps(bad))
    for verb in ("create", "apply"):
        result = kubectl.run(verb, "-n", ns, "-f", str(manifest), check=False)
        assert result.returncode != 0
        assert "Error from server (BadRequest)" in result.stderr, result.stderr
        assert "replicas" in result.stderr, result.stderr
    negative = deployment("negative", replicas=-1)
    manifest.write_text(json.dumps(negative))
    result = kubectl.run("apply", "-n", ns, "-f", str(manifest), check=False)
    assert result.returncode != 0
    assert result.stderr.strip() == ('The Deployment "negative" is invalid: spec.replicas: Invalid value: -1: '
                                     "must be greater than or equal to 0")
    assert kubectl("get", "deployments", "-n", ns, "-o", "name").strip() == ""
