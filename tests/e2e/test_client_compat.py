"""Every client works unchanged (issue 20): the client libraries people already use, installed from PyPI (npm for
the JavaScript one), each driven through its public API against one real cluster of this module: an API server,
a scheduler, a controller-manager, and a kubelet stand-in that reports pods Ready.

- the official Python client: a create, read and list of every kind we serve through its typed API (its models
  refuse objects that lack required fields, such as a workload's zero status counts), events.k8s.io/v1 Events
  included, and a read of the read-only componentstatuses;
- kubernetes_asyncio (the same models, asyncio), lightkube (incl. its apply), kr8s (its start-up, objects, watch
  and scale), the JavaScript client @kubernetes/client-node (list, patch, watch, informer);
- Ansible's kubernetes.core modules: k8s, k8s_info, k8s_scale, and k8s with `apply: true` and `wait: true`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cluster import Component, Stack
from standin import KubeletStandIn, register_node

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = Path(__file__).resolve().parent / "clients"
NPM_DIR = ROOT / ".cache" / "npm-clients"
# 1.x: the 2.x line needs Node 22, newer than Debian's.
NODE_CLIENT = "@kubernetes/client-node@1.4.0"
TIMEOUT = 10


class Plane:
    def __init__(self, url: str, kubeconfig: Path) -> None:
        self.url, self.kubeconfig = url, kubeconfig

    def namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        requests.post(f"{self.url}/api/v1/namespaces", json={"metadata": {"name": name}},
                      timeout=TIMEOUT).raise_for_status()
        return name


@pytest.fixture(scope="module")
def plane(etcd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    workdir = tmp_path_factory.mktemp("clients")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "clients")
        register_node(server.url, "client-node")
        stack.start(KubeletStandIn(server.url, ["client-node"], ready_delay=0.5))
        stack.start(Component("scheduler", server.url, workdir, ["--leader-elect=false"]))
        stack.start(Component("controller-manager", server.url, workdir,
                              ["--controllers=replicaset,deployment,garbagecollector", "--leader-elect=false"]))
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "kubeling",
            # The JavaScript client refuses a plain-HTTP server unless told to skip TLS verification.
            "clusters": [{"name": "kubeling", "cluster": {"server": server.url, "insecure-skip-tls-verify": True}}],
            "users": [{"name": "admin", "user": {}}],
            "contexts": [{"name": "kubeling", "context": {"cluster": "kubeling", "user": "admin"}}],
        }))
        yield Plane(server.url, kubeconfig)


# --- the official Python client: every kind we serve ---------------------------------------------------------

LABELS = {"app": "compat"}
TEMPLATE = {"metadata": {"labels": LABELS}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
WORKLOAD = {"selector": {"matchLabels": LABELS}, "template": TEMPLATE}

# kind → (API class, snake-case name in the client's method names, body)
KINDS: dict[str, tuple[str, str, dict]] = {
    "Pod": ("CoreV1Api", "pod", {"spec": TEMPLATE["spec"]}),
    "Service": ("CoreV1Api", "service", {"spec": {"selector": LABELS, "ports": [{"port": 80}]}}),
    "Endpoints": ("CoreV1Api", "endpoints", {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [
        {"port": 80}]}]}),
    "ConfigMap": ("CoreV1Api", "config_map", {"data": {"k": "v"}}),
    "Secret": ("CoreV1Api", "secret", {"stringData": {"k": "v"}}),
    "Event": ("CoreV1Api", "event", {"involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Tested",
                                     "message": "m", "type": "Normal"}),
    "ServiceAccount": ("CoreV1Api", "service_account", {}),
    "PersistentVolumeClaim": ("CoreV1Api", "persistent_volume_claim", {"spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": ""}}),
    "PodTemplate": ("CoreV1Api", "pod_template", {"template": TEMPLATE}),
    "ReplicationController": ("CoreV1Api", "replication_controller", {"spec": {"replicas": 0,
                                                                                "selector": LABELS,
                                                                                "template": TEMPLATE}}),
    "ResourceQuota": ("CoreV1Api", "resource_quota", {"spec": {"hard": {"count/widgets": "5"}}}),
    "LimitRange": ("CoreV1Api", "limit_range", {"spec": {"limits": [{"type": "Container",
                                                                     "max": {"memory": "1Gi"}}]}}),
    "Lease": ("CoordinationV1Api", "lease", {"spec": {"holderIdentity": "me"}}),
    "EndpointSlice": ("DiscoveryV1Api", "endpoint_slice", {"addressType": "IPv4", "endpoints": [
        {"addresses": ["10.0.0.1"]}]}),
    "Deployment": ("AppsV1Api", "deployment", {"spec": {"replicas": 0, **WORKLOAD}}),
    "ReplicaSet": ("AppsV1Api", "replica_set", {"spec": {"replicas": 0, **WORKLOAD}}),
    "DaemonSet": ("AppsV1Api", "daemon_set", {"spec": WORKLOAD}),
    "StatefulSet": ("AppsV1Api", "stateful_set", {"spec": {"replicas": 0, "serviceName": "s", **WORKLOAD}}),
    "Job": ("BatchV1Api", "job", {"spec": {"suspend": True, "template": {
        **TEMPLATE, "spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}}}),
    "CronJob": ("BatchV1Api", "cron_job", {"spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {
        "template": {**TEMPLATE, "spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}}}}}),
    "PodDisruptionBudget": ("PolicyV1Api", "pod_disruption_budget", {"spec": {"minAvailable": 1,
                                                                               "selector": {"matchLabels": LABELS}}}),
    "Role": ("RbacAuthorizationV1Api", "role", {"rules": [{"apiGroups": [""], "resources": ["pods"],
                                                          "verbs": ["get"]}]}),
    "RoleBinding": ("RbacAuthorizationV1Api", "role_binding", {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"}]}),
}
CLUSTER_KINDS: dict[str, tuple[str, str, dict]] = {
    "Namespace": ("CoreV1Api", "namespace", {}),
    "Node": ("CoreV1Api", "node", {}),
    "PersistentVolume": ("CoreV1Api", "persistent_volume", {"spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/pv"}}}),
    "StorageClass": ("StorageV1Api", "storage_class", {"provisioner": "example.com/none"}),
    "PriorityClass": ("SchedulingV1Api", "priority_class", {"value": 10}),
    "CustomResourceDefinition": ("ApiextensionsV1Api", "custom_resource_definition", {"spec": {
        "group": "compat.example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}),
    "ClusterRole": ("RbacAuthorizationV1Api", "cluster_role", {"rules": []}),
    "ClusterRoleBinding": ("RbacAuthorizationV1Api", "cluster_role_binding", {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"}]}),
}
NAMES = {"CustomResourceDefinition": "widgets.compat.example.com"}  # a CRD is named after its plural and group
READ_ONLY = {"ComponentStatus": ("CoreV1Api", "component_status")}  # answered by the server, never created


def test_every_served_kind_fits_the_official_clients_models(plane: Plane) -> None:
    """Create, read and list each kind through the typed API: the client turns every answer into its models and
    raises on anything they do not accept."""
    from kubeling.api.resources import RESOURCES

    kubernetes = pytest.importorskip("kubernetes")
    api_client = kubernetes.config.new_client_from_config(str(plane.kubeconfig))
    ns = plane.namespace("typed")
    served = {r.kind for r in RESOURCES if not r.create_only}
    missing = served - set(KINDS) - set(CLUSTER_KINDS) - set(READ_ONLY)
    assert not missing, f"no typed-client case for {missing}"
    for kind, (api_name, snake, spec) in {**KINDS, **CLUSTER_KINDS}.items():
        if kind not in served:
            continue
        api = getattr(kubernetes.client, api_name)(api_client)
        name = NAMES.get(kind, f"typed-{kind.lower()}")
        body = json.loads(json.dumps({"metadata": {"name": name}, **spec}))
        if kind == "Event":
            body["involvedObject"]["namespace"] = ns  # an event is about an object of its own namespace
        if kind in KINDS:
            created = getattr(api, f"create_namespaced_{snake}")(ns, body)
            read = getattr(api, f"read_namespaced_{snake}")(name, ns)
            listed = getattr(api, f"list_namespaced_{snake}")(ns)
        else:
            created = getattr(api, f"create_{snake}")(body)
            read = getattr(api, f"read_{snake}")(name)
            listed = getattr(api, f"list_{snake}")()
        assert created.metadata.name == read.metadata.name == name, kind
        assert name in [item.metadata.name for item in listed.items], kind
    for kind, (api_name, snake) in READ_ONLY.items():
        api = getattr(kubernetes.client, api_name)(api_client)
        listed = getattr(api, f"list_{snake}")()
        assert listed.items, kind
        assert getattr(api, f"read_{snake}")(listed.items[0].metadata.name).metadata.name, kind
    # events.k8s.io/v1 Events: the same kind name as core's, a model of their own (eventTime is required).
    assert {r.group for r in RESOURCES if r.kind == "Event"} == {"", "events.k8s.io"}
    events = kubernetes.client.EventsV1Api(api_client)
    created = events.create_namespaced_event(ns, {
        "metadata": {"name": "typed-new-event"}, "eventTime": "2026-01-01T00:00:00.000000Z", "type": "Normal",
        "reportingController": "example.com/compat", "reportingInstance": "compat-1", "action": "Test",
        "reason": "Tested", "note": "typed", "regarding": {"kind": "Pod", "name": "p", "namespace": ns}})
    read = events.read_namespaced_event("typed-new-event", ns)
    assert (created.note, read.note, read.regarding.name) == ("typed", "typed", "p")
    # One object in both APIs. (Not listed through the new API here: core's typed-event has no eventTime, which
    # upstream sends as null too, and this client's model refuses a null eventTime.)
    core = kubernetes.client.CoreV1Api(api_client).read_namespaced_event("typed-new-event", ns)
    assert (core.message, core.involved_object.name) == ("typed", "p")
    apps = kubernetes.client.AppsV1Api(api_client)
    status = apps.read_namespaced_daemon_set_status("typed-daemonset", ns).status
    assert (status.current_number_scheduled, status.number_misscheduled) == (0, 0)
    scale = apps.patch_namespaced_deployment_scale("typed-deployment", ns, {"spec": {"replicas": 0}})
    assert scale.spec.replicas == 0


# --- kubernetes_asyncio, lightkube, kr8s ---------------------------------------------------------------------


def test_kubernetes_asyncio(plane: Plane) -> None:
    kas = pytest.importorskip("kubernetes_asyncio")
    ns = plane.namespace("kas")

    async def drive() -> list[tuple[str, str]]:
        await kas.config.load_kube_config(config_file=str(plane.kubeconfig))
        async with kas.client.ApiClient() as api:
            core, apps = kas.client.CoreV1Api(api), kas.client.AppsV1Api(api)
            listing = await core.list_namespaced_config_map(ns)
            created = await apps.create_namespaced_stateful_set(ns, {
                "metadata": {"name": "kas-sts"}, "spec": {"replicas": 0, "serviceName": "s", **WORKLOAD}})
            assert created.status.replicas == 0
            await core.create_namespaced_config_map(ns, {"metadata": {"name": "kas-cm"}, "data": {"v": "1"}})
            await core.patch_namespaced_config_map("kas-cm", ns, {"data": {"v": "2"}})
            seen = []
            watch = kas.watch.Watch()
            async for event in watch.stream(core.list_namespaced_config_map, ns, timeout_seconds=5,
                                            resource_version=listing.metadata.resource_version):
                seen.append((event["type"], event["object"].data["v"]))
                if len(seen) == 2:
                    watch.stop()
            return seen

    assert asyncio.run(drive()) == [("ADDED", "1"), ("MODIFIED", "2")]


def test_lightkube(plane: Plane) -> None:
    lightkube = pytest.importorskip("lightkube")
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.apps_v1 import DaemonSet
    from lightkube.resources.core_v1 import ConfigMap

    client = lightkube.Client(lightkube.KubeConfig.from_file(str(plane.kubeconfig)))
    ns = plane.namespace("lk")
    client.create(ConfigMap(metadata=ObjectMeta(name="lk-cm", namespace=ns), data={"v": "1"}))
    client.patch(ConfigMap, "lk-cm", {"data": {"v": "2"}}, namespace=ns)
    assert client.get(ConfigMap, "lk-cm", namespace=ns).data == {"v": "2"}
    applied = client.apply(ConfigMap(metadata=ObjectMeta(name="lk-applied", namespace=ns), data={"x": "y"}),
                           field_manager="lightkube-test")
    assert applied.data == {"x": "y"}
    daemon = client.create(DaemonSet.from_dict({"apiVersion": "apps/v1", "kind": "DaemonSet",
                                                "metadata": {"name": "lk-ds", "namespace": ns}, "spec": WORKLOAD}))
    assert daemon.status.numberReady == 0
    assert sorted(c.metadata.name for c in client.list(ConfigMap, namespace=ns)) == ["lk-applied", "lk-cm"]
    for event, obj in client.watch(ConfigMap, namespace=ns):
        assert event == "ADDED" and obj.metadata.name in ("lk-applied", "lk-cm")
        break


def test_kr8s(plane: Plane) -> None:
    kr8s = pytest.importorskip("kr8s")
    from kr8s.objects import ConfigMap, Deployment

    api = kr8s.api(kubeconfig=str(plane.kubeconfig))  # its start-up asks for /version/ and discovery
    assert api.version()["minor"] == "32"
    ns = plane.namespace("kr8s")
    ConfigMap({"metadata": {"name": "kr8s-cm", "namespace": ns}, "data": {"v": "1"}}, api=api).create()
    deployment = Deployment({"metadata": {"name": "kr8s-web", "namespace": ns},
                             "spec": {"replicas": 1, **WORKLOAD}}, api=api)
    deployment.create()
    deployment.scale(2)
    assert Deployment.get("kr8s-web", namespace=ns, api=api).raw["spec"]["replicas"] == 2
    assert [o.name for o in api.get("configmaps", namespace=ns)] == ["kr8s-cm"]
    for event, obj in api.watch("configmaps", namespace=ns):
        assert (event, obj.name) == ("ADDED", "kr8s-cm")
        break


# --- the JavaScript client -------------------------------------------------------------------------------------


def ensure_node_client() -> Path:
    """@kubernetes/client-node installed from npm into .cache (once per machine)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are missing: run `make deps`")
    if not (NPM_DIR / "node_modules" / "@kubernetes" / "client-node").exists():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        (NPM_DIR / "package.json").write_text('{"name": "kubeling-client-tests", "private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", NODE_CLIENT], cwd=NPM_DIR, check=True,
                       capture_output=True, timeout=600)
    script = NPM_DIR / "node_client.mjs"  # next to node_modules, where Node resolves its imports
    shutil.copyfile(CLIENTS / "node_client.mjs", script)
    return script


def test_javascript_client(plane: Plane) -> None:
    script = ensure_node_client()
    ns = plane.namespace("js")
    result = subprocess.run(["node", str(script), str(plane.kubeconfig), ns], capture_output=True, text=True,
                            timeout=120, cwd=NPM_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = {line["step"]: line["value"] for line in map(json.loads, result.stdout.splitlines())}
    assert steps["list"] == ["js-a"]
    assert steps["patch"] == {"v": "2"}
    assert steps["daemonset-status"]["numberReady"] == 0
    assert steps["watch"] == [["MODIFIED", "js-a"], ["ADDED", "js-b"]]
    assert steps["informer"] == ["js-a", "js-b", "js-c"]


# --- Ansible's kubernetes.core -----------------------------------------------------------------------------------


def test_ansible_kubernetes_core(plane: Plane) -> None:
    playbook = Path(sys.executable).parent / "ansible-playbook"
    if not playbook.exists():
        pytest.fail("ansible-playbook is missing: run `make deps` (the provision extra)")
    ns = plane.namespace("ansible")
    env = {**os.environ, "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_LOCALHOST_WARNING": "false",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false"}
    result = subprocess.run([str(playbook), str(CLIENTS / "ansible_k8s.yml"), "-e", f"kubeconfig={plane.kubeconfig}",
                             "-e", f"ns={ns}"], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "failed=0" in result.stdout


# --- the wire itself ---------------------------------------------------------------------------------------------


def test_status_lines_and_status_bodies_on_the_wire(plane: Plane) -> None:
    """What clients show their users: Go's reason phrase in the status line, and the Status as upstream encodes it
    (compact, in metav1.Status's field order)."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(plane.url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/api/v1/namespaces/default/configmaps", body=json.dumps({"metadata": {"name": "dup"}}),
                     headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.request("POST", "/api/v1/namespaces/default/configmaps", body=json.dumps({"metadata": {"name": "dup"}}),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    assert (response.status, response.reason) == (409, "Conflict")
    assert body == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps '
                    '\\"dup\\" already exists","reason":"AlreadyExists","details":{"name":"dup","kind":"configmaps"},'
                    '"code":409}\n')
