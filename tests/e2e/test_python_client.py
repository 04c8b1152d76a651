"""The official `kubernetes` Python client (37.x, strict pydantic models) against the real API server and etcd.

Every call goes through the typed API classes, so a response missing a required field or carrying a wrong JSON
type fails the test with a deserialisation error. The watch-resume tests at the end speak raw HTTP.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from cluster import APIServer

pytestmark = pytest.mark.e2e

NGINX = "registry.k8s.io/nginx:1.27"


# Helpers


@pytest.fixture()
def api(apiserver: Any) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    cfg.host = apiserver.url
    with client.ApiClient(cfg) as api_client:
        yield api_client


@pytest.fixture()
def ns(api: client.ApiClient) -> str:
    name = f"py-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def make_pod(name: str, labels: dict[str, str] | None = None) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {"app": name}),
        spec=client.V1PodSpec(containers=[client.V1Container(
            name="web", image=NGINX, ports=[client.V1ContainerPort(container_port=80)])]),
    )


def make_deployment(name: str, replicas: int = 1) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image=NGINX)]),
            ),
        ),
    )


def deployment_manifest(name: str, replicas: int, image: str = NGINX) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "web", "image": image}]}},
        },
    }


def http_json(url: str, method: str = "GET", **kwargs: Any) -> dict[str, Any]:
    response = requests.request(method, url, timeout=10, **kwargs)
    assert response.status_code < 300, (response.status_code, response.text)
    return response.json()


def create_configmap(base: str, ns: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": {"k": "v"}}
    return http_json(f"{base}/api/v1/namespaces/{ns}/configmaps", "POST", json=body)


def read_watch(url: str, params: dict[str, Any], until: Any = None, max_seconds: float = 15) -> tuple[int, list]:
    """Open a raw watch and collect its events until it closes, `until(events)` is true, or time runs out."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + max_seconds
    with requests.get(url, params={"watch": "true", **params}, stream=True, timeout=(5, max_seconds)) as response:
        if response.status_code != 200:
            return response.status_code, [response.json()]
        for line in response.iter_lines():
            if line:
                events.append(json.loads(line))
            if (until is not None and until(events)) or time.monotonic() > deadline:
                break
    return 200, events


def namespace_for_raw(base: str) -> str:
    name = f"pyraw-{uuid.uuid4().hex[:8]}"
    http_json(f"{base}/api/v1/namespaces", "POST", json={"metadata": {"name": name}})
    return name


def current_etcd_revision(etcd_url: str) -> int:
    body = http_json(f"{etcd_url}/v3/kv/range", "POST", json={"key": "AA==", "count_only": True})
    return int(body["header"]["revision"])


# Typed CRUD


def test_pod_crud_with_typed_models(api: client.ApiClient, ns: str) -> None:
    v1 = client.CoreV1Api(api)
    created = v1.create_namespaced_pod(ns, make_pod("web"))
    assert isinstance(created, client.V1Pod)
    assert created.metadata.name == "web" and created.metadata.namespace == ns
    assert isinstance(created.metadata.uid, str) and isinstance(created.metadata.resource_version, str)
    assert isinstance(created.metadata.creation_timestamp, datetime.datetime)
    assert created.spec.containers[0].ports[0].container_port == 80
    assert created.status.phase == "Pending"

    pods = v1.list_namespaced_pod(ns)
    assert isinstance(pods, client.V1PodList)
    assert [p.metadata.name for p in pods.items] == ["web"]
    assert all(isinstance(p, client.V1Pod) for p in pods.items)

    patched = v1.patch_namespaced_pod("web", ns, {"metadata": {"labels": {"tier": "front"}}})
    assert patched.metadata.labels == {"app": "web", "tier": "front"}

    patched = v1.patch_namespaced_pod("web", ns, [{"op": "add", "path": "/metadata/annotations",
                                                   "value": {"note": "json-patch"}}])
    assert patched.metadata.annotations == {"note": "json-patch"}

    patched = v1.patch_namespaced_pod("web", ns, {"metadata": {"labels": {"tier": None}}},
                                      _content_type="application/merge-patch+json")
    assert patched.metadata.labels == {"app": "web"}

    current = v1.read_namespaced_pod("web", ns)
    current.metadata.labels["replaced"] = "yes"
    replaced = v1.replace_namespaced_pod("web", ns, current)
    assert replaced.metadata.labels["replaced"] == "yes"
    assert int(replaced.metadata.resource_version) > int(current.metadata.resource_version)

    # The old resourceVersion is now stale: a second replace with it is a Conflict.
    with pytest.raises(ApiException) as excinfo:
        v1.replace_namespaced_pod("web", ns, current)
    assert excinfo.value.status == 409
    assert json.loads(excinfo.value.body)["reason"] == "Conflict"

    deleted = v1.delete_namespaced_pod("web", ns)
    assert isinstance(deleted, client.V1Pod)
    with pytest.raises(ApiException) as excinfo:
        v1.read_namespaced_pod("web", ns)
    assert excinfo.value.status == 404
    assert json.loads(excinfo.value.body)["reason"] == "NotFound"


def test_deployment_crud_with_typed_models(api: client.ApiClient, ns: str) -> None:
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment(ns, make_deployment("web", replicas=2))
    assert isinstance(created, client.V1Deployment)
    assert created.spec.replicas == 2
    assert created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"  # defaulted by the server
    assert isinstance(created.spec.template, client.V1PodTemplateSpec)

    listed = apps.list_namespaced_deployment(ns)
    assert isinstance(listed, client.V1DeploymentList)
    assert [d.metadata.name for d in listed.items] == ["web"]

    patched = apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 3}})
    assert patched.spec.replicas == 3
    assert patched.metadata.generation == 2

    patched = apps.patch_namespaced_deployment(
        "web", ns, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.26"}])
    assert patched.spec.template.spec.containers[0].image == "nginx:1.26"

    patched = apps.patch_namespaced_deployment("web", ns, {"metadata": {"annotations": {"a": "b"}}},
                                               _content_type="application/merge-patch+json")
    assert patched.metadata.annotations == {"a": "b"}
    assert patched.spec.template.spec.containers[0].name == "web"  # a merge patch left the list alone

    current = apps.read_namespaced_deployment("web", ns)
    current.spec.replicas = 4
    replaced = apps.replace_namespaced_deployment("web", ns, current)
    assert replaced.spec.replicas == 4

    scale = apps.read_namespaced_deployment_scale("web", ns)
    assert isinstance(scale, client.V1Scale)
    assert scale.spec.replicas == 4
    assert scale.status.selector == "app=web"
    scale = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 5}})
    assert isinstance(scale, client.V1Scale) and scale.spec.replicas == 5
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 5

    # The client declares this reply as a plain `object`: upstream sends a Status, returning the object is fine.
    reply = apps.delete_namespaced_deployment("web", ns)
    assert isinstance(reply, dict) and reply["kind"] in ("Status", "Deployment")
    assert apps.list_namespaced_deployment(ns).items == []


def test_pod_status_round_trip(api: client.ApiClient, ns: str) -> None:
    v1 = client.CoreV1Api(api)
    pod = v1.create_namespaced_pod(ns, make_pod("runner"))
    started = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    pod.status = client.V1PodStatus(
        phase="Running",
        host_ip="192.168.1.10",
        host_ips=[client.V1HostIP(ip="192.168.1.10")],
        pod_ip="10.244.0.7",
        pod_ips=[client.V1PodIP(ip="10.244.0.7")],
        start_time=started,
        qos_class="BestEffort",
        conditions=[
            client.V1PodCondition(type=kind, status="True", last_transition_time=started)
            for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        container_statuses=[client.V1ContainerStatus(
            name="web",
            image=NGINX,
            image_id="registry.k8s.io/nginx@sha256:" + "a" * 64,
            container_id="containerd://" + "b" * 64,
            ready=True,
            started=True,
            restart_count=0,
            state=client.V1ContainerState(running=client.V1ContainerStateRunning(started_at=started)),
            last_state=client.V1ContainerState(terminated=client.V1ContainerStateTerminated(
                exit_code=137, reason="OOMKilled", started_at=started, finished_at=started)),
        )],
    )
    updated = v1.replace_namespaced_pod_status("runner", ns, pod)
    assert isinstance(updated, client.V1Pod)
    assert updated.status.phase == "Running"

    back = v1.read_namespaced_pod("runner", ns)
    assert back.status.phase == "Running"
    assert back.status.pod_ip == "10.244.0.7"
    assert [ip.ip for ip in back.status.pod_ips] == ["10.244.0.7"]
    assert back.status.start_time == started
    assert {c.type: c.status for c in back.status.conditions} == {
        "Initialized": "True", "Ready": "True", "ContainersReady": "True", "PodScheduled": "True"}
    container = back.status.container_statuses[0]
    assert isinstance(container, client.V1ContainerStatus)
    assert container.image_id.endswith("a" * 64)
    assert container.ready is True and container.restart_count == 0
    assert container.state.running.started_at == started
    assert container.last_state.terminated.exit_code == 137
    # A status write does not touch the spec.
    assert back.spec.containers[0].image == NGINX

    ready = v1.list_namespaced_pod(ns, field_selector="status.phase=Running")
    assert [p.metadata.name for p in ready.items] == ["runner"]


def test_list_paging_and_selectors(api: client.ApiClient, ns: str) -> None:
    v1 = client.CoreV1Api(api)
    for index in range(5):
        v1.create_namespaced_pod(ns, make_pod(f"p{index}", {"app": "pager", "parity": "even" if index % 2 == 0
                                                            else "odd"}))
    names: list[str] = []
    token: str | None = None
    versions = set()
    for _ in range(10):
        page = v1.list_namespaced_pod(ns, limit=2, _continue=token) if token else v1.list_namespaced_pod(ns, limit=2)
        assert isinstance(page, client.V1PodList)
        assert len(page.items) <= 2
        names += [p.metadata.name for p in page.items]
        versions.add(page.metadata.resource_version)
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 5 - len(names)
    assert names == ["p0", "p1", "p2", "p3", "p4"]
    assert len(versions) == 1  # every page is read at the first page's revision

    even = v1.list_namespaced_pod(ns, label_selector="parity=even")
    assert [p.metadata.name for p in even.items] == ["p0", "p2", "p4"]
    odd = v1.list_namespaced_pod(ns, label_selector="app=pager,parity!=even")
    assert [p.metadata.name for p in odd.items] == ["p1", "p3"]
    named = v1.list_namespaced_pod(ns, field_selector="metadata.name=p3")
    assert [p.metadata.name for p in named.items] == ["p3"]
    unscheduled = v1.list_namespaced_pod(ns, field_selector="spec.nodeName=", label_selector="parity in (odd)")
    assert [p.metadata.name for p in unscheduled.items] == ["p1", "p3"]


def test_server_side_apply(api: client.ApiClient, ns: str) -> None:
    apps = client.AppsV1Api(api)
    # `*_with_http_info` answers (data, HTTP status, headers).
    created, code, _ = apps.patch_namespaced_deployment_with_http_info(
        "applied", ns, deployment_manifest("applied", 1),
        _content_type="application/apply-patch+yaml", field_manager="test")
    assert code == 201
    assert isinstance(created, client.V1Deployment)
    assert created.spec.replicas == 1

    updated, code, _ = apps.patch_namespaced_deployment_with_http_info(
        "applied", ns, deployment_manifest("applied", 3, image="nginx:1.26"),
        _content_type="application/apply-patch+yaml", field_manager="test")
    assert code == 200
    assert isinstance(updated, client.V1Deployment)
    assert updated.spec.replicas == 3
    assert updated.spec.template.spec.containers[0].image == "nginx:1.26"
    assert updated.metadata.uid == created.metadata.uid
    assert apps.read_namespaced_deployment("applied", ns).spec.replicas == 3


def test_dynamic_client_discovery(api: client.ApiClient, ns: str) -> None:
    dyn = dynamic.DynamicClient(api)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced is True
    assert deployments.name == "deployments"
    deployments.create(body=deployment_manifest("dyn", 2), namespace=ns)
    listed = deployments.get(namespace=ns)
    assert [item.metadata.name for item in listed.items] == ["dyn"]
    assert deployments.get(name="dyn", namespace=ns).spec.replicas == 2

    pods = dyn.resources.get(api_version="v1", kind="Pod")
    assert pods.namespaced is True and pods.name == "pods"
    assert pods.get(namespace=ns).items == []


def test_watch_sees_changes_made_by_another_thread(api: client.ApiClient, ns: str) -> None:
    v1 = client.CoreV1Api(api)
    writer_errors: list[BaseException] = []

    def writer() -> None:
        try:
            time.sleep(0.5)
            other = client.CoreV1Api(api)
            other.create_namespaced_pod(ns, make_pod("watched"))
            other.patch_namespaced_pod("watched", ns, {"metadata": {"labels": {"step": "two"}}})
            other.delete_namespaced_pod("watched", ns)
        except BaseException as exc:  # reported by the main thread
            writer_errors.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    seen: list[tuple[str, str | None]] = []
    w = watch.Watch()
    thread.start()
    for event in w.stream(v1.list_namespaced_pod, ns, timeout_seconds=5):
        pod = event["object"]
        assert isinstance(pod, client.V1Pod)
        seen.append((event["type"], (pod.metadata.labels or {}).get("step")))
        if event["type"] == "DELETED":
            w.stop()
    thread.join(5)
    assert not writer_errors, writer_errors
    types = [kind for kind, _ in seen]
    assert types[0] == "ADDED" and types[-1] == "DELETED"
    assert ("MODIFIED", "two") in seen


# Watch resume semantics, raw HTTP


def test_watch_from_list_version_gets_only_later_events(apiserver: Any) -> None:
    base = apiserver.url
    ns = namespace_for_raw(base)
    url = f"{base}/api/v1/namespaces/{ns}/configmaps"
    create_configmap(base, ns, "before")
    list_rv = http_json(url)["metadata"]["resourceVersion"]
    create_configmap(base, ns, "after")

    status, events = read_watch(url, {"resourceVersion": list_rv, "timeoutSeconds": 2})
    assert status == 200
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "after")]
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) > int(list_rv)

    # Without a resourceVersion: the current state as synthetic ADDED events.
    status, events = read_watch(url, {"timeoutSeconds": 1})
    assert status == 200
    assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in events) == [
        ("ADDED", "after"), ("ADDED", "before")]


def test_watch_timeout_closes_the_stream(apiserver: Any) -> None:
    ns = namespace_for_raw(apiserver.url)
    started = time.monotonic()
    status, events = read_watch(f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps",
                                {"timeoutSeconds": 1, "resourceVersion": "0"}, max_seconds=10)
    elapsed = time.monotonic() - started
    assert status == 200 and events == []
    assert elapsed < 5, f"the stream stayed open {elapsed:.1f}s"


def test_watch_bookmarks(apiserver: Any) -> None:
    ns = namespace_for_raw(apiserver.url)
    url = f"{apiserver.url}/api/v1/namespaces/{ns}/configmaps"
    list_rv = http_json(url)["metadata"]["resourceVersion"]
    status, events = read_watch(url, {"resourceVersion": list_rv, "allowWatchBookmarks": "true",
                                      "timeoutSeconds": 14},
                                until=lambda evs: any(e["type"] == "BOOKMARK" for e in evs), max_seconds=14)
    assert status == 200
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks, f"no BOOKMARK within 14s: {events}"
    bookmark = bookmarks[0]["object"]
    assert int(bookmark["metadata"]["resourceVersion"]) >= int(list_rv)
    # client-go decodes a BOOKMARK's object like any other, so it must name its kind.
    assert (bookmark["kind"], bookmark["apiVersion"]) == ("ConfigMap", "v1")


def test_watch_label_selector_sees_object_leave(apiserver: Any) -> None:
    base = apiserver.url
    ns = namespace_for_raw(base)
    url = f"{base}/api/v1/namespaces/{ns}/configmaps"
    create_configmap(base, ns, "moving", {"team": "blue"})
    create_configmap(base, ns, "other", {"team": "red"})
    list_rv = http_json(url, params={"labelSelector": "team=blue"})["metadata"]["resourceVersion"]

    def relabel() -> None:
        time.sleep(0.3)
        http_json(f"{url}/moving", "PATCH", data=json.dumps({"metadata": {"labels": {"team": "green"}}}),
                  headers={"Content-Type": "application/merge-patch+json"})
        http_json(f"{url}/other", "PATCH", data=json.dumps({"metadata": {"labels": {"team": "blue"}}}),
                  headers={"Content-Type": "application/merge-patch+json"})

    # A second watcher, without the selector, sees the same changes at the same time as plain modifications:
    # the server encodes each event once per type for all watchers, and must not hand one's line to the other.
    unfiltered: list[tuple[int, list]] = []
    everything = threading.Thread(target=lambda: unfiltered.append(read_watch(
        url, {"resourceVersion": list_rv, "timeoutSeconds": 5}, until=lambda evs: len(evs) >= 2, max_seconds=6)))
    everything.start()
    thread = threading.Thread(target=relabel, daemon=True)
    thread.start()
    status, events = read_watch(url, {"resourceVersion": list_rv, "labelSelector": "team=blue", "timeoutSeconds": 5},
                                until=lambda evs: len(evs) >= 2, max_seconds=6)
    thread.join(5)
    everything.join(8)
    assert status == 200

    def summary(evs: list) -> list[tuple[str, str, str]]:
        return [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["labels"]["team"]) for e in evs]

    assert summary(events) == [("DELETED", "moving", "green"), ("ADDED", "other", "blue")]
    assert unfiltered and unfiltered[0][0] == 200
    assert summary(unfiltered[0][1]) == [("MODIFIED", "moving", "green"), ("MODIFIED", "other", "blue")]
    assert [e["object"]["metadata"]["resourceVersion"] for e in unfiltered[0][1]] == [
        e["object"]["metadata"]["resourceVersion"] for e in events]


def test_watch_resumes_from_before_the_server_started(apiserver: Any, etcd: Any, tmp_path: Path) -> None:
    base = apiserver.url
    ns = namespace_for_raw(base)
    url_path = f"/api/v1/namespaces/{ns}/configmaps"
    list_rv = http_json(base + url_path)["metadata"]["resourceVersion"]
    for index in range(20):
        create_configmap(base, ns, f"cm-{index:02d}")

    # A second API server started now has no memory of those writes: it must fetch them from etcd's history.
    fresh = APIServer(etcd.url, tmp_path, prefix=apiserver.prefix).start()
    try:
        status, events = read_watch(fresh.url + url_path, {"resourceVersion": list_rv, "timeoutSeconds": 3},
                                    until=lambda evs: len(evs) >= 20, max_seconds=8)
    finally:
        fresh.stop()
    assert status == 200
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", f"cm-{index:02d}") for index in range(20)]


def test_watch_from_compacted_version_is_expired(apiserver: Any, etcd: Any, tmp_path: Path) -> None:
    base = apiserver.url
    ns = namespace_for_raw(base)
    url_path = f"/api/v1/namespaces/{ns}/configmaps"
    old_rv = http_json(base + url_path)["metadata"]["resourceVersion"]
    for index in range(3):
        create_configmap(base, ns, f"gone-{index}")
    revision = current_etcd_revision(etcd.url)
    http_json(f"{etcd.url}/v3/kv/compaction", "POST", json={"revision": str(revision), "physical": True})

    # A server started after the compaction can only serve that old version from etcd, which no longer has it.
    fresh = APIServer(etcd.url, tmp_path, prefix=apiserver.prefix).start()
    try:
        status, events = read_watch(fresh.url + url_path, {"resourceVersion": old_rv, "timeoutSeconds": 5},
                                    until=lambda evs: len(evs) >= 1, max_seconds=8)
    finally:
        fresh.stop()
    # Upstream allows both: a plain 410 reply, or a 200 stream whose first event is an ERROR carrying the 410.
    if status == 410:
        expired = events[0]
    else:
        assert status == 200 and events and events[0]["type"] == "ERROR", (status, events)
        expired = events[0]["object"]
    assert expired["kind"] == "Status"
    assert expired["code"] == 410
    assert expired["reason"] == "Expired"

    # The current version still watches fine on the shared server.
    current = http_json(base + url_path)["metadata"]["resourceVersion"]
    status, events = read_watch(base + url_path, {"resourceVersion": current, "timeoutSeconds": 1})
    assert status == 200 and events == []
