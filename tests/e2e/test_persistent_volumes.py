"""Persistent volumes end to end, without kubelets: a real API server (own etcd prefix, since volumes and classes
are cluster-wide) and a controller-manager running the binder, the protection controllers and the StatefulSet
controller; real kubectl 1.32 and 1.20 for what users see.

What is checked: `kubectl get pv/pvc/sc` columns and the `(default)` marker; static binding (class, access modes,
the smallest volume that fits, selector); pre-bound claims (volumeName) and volumes (claimRef); Retain leaves a
Released volume, Delete removes it; the pvc-protection finalizer keeps a claim in use Terminating until its pod is
deleted; StatefulSet claims are created and survive pod deletion and scale-down; and bad input is refused with a
422 naming the field, writing nothing (an unknown class is not refused: the claim waits, with upstream's event).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cluster import Component, Stack
from support.kubectl import KUBECTL_BINARIES, Kubectl
from support.polling import wait_until

pytestmark = pytest.mark.e2e

PV_HEADER = ["NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY", "STATUS", "CLAIM", "STORAGECLASS",
             "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"]
PVC_HEADER = ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS",
              "AGE"]
SC_HEADER = ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"]


class Env:
    """The module's cluster: plain HTTP to the API server, and kubectl of both versions."""

    def __init__(self, url: str, kubectls: dict[str, Kubectl]) -> None:
        self.url, self.kubectls = url, kubectls
        self.http = requests.Session()

    def path(self, plural: str, namespace: str | None = None, name: str = "") -> str:
        group = "/apis/storage.k8s.io/v1" if plural == "storageclasses" else "/api/v1"
        ns = f"/namespaces/{namespace}" if namespace else ""
        return f"{self.url}{group}{ns}/{plural}" + (f"/{name}" if name else "")

    def namespace(self) -> str:
        name = f"pv-{uuid.uuid4().hex[:8]}"
        self.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def create(self, plural: str, body: dict, namespace: str | None = None) -> dict:
        response = self.http.post(self.path(plural, namespace), json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, plural: str, name: str, namespace: str | None = None) -> dict | None:
        response = self.http.get(self.path(plural, namespace, name))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def delete(self, plural: str, name: str, namespace: str | None = None, **options: Any) -> None:
        self.http.delete(self.path(plural, namespace, name), json=options or None).raise_for_status()

    def events(self, namespace: str, name: str) -> list[tuple[str, str, str]]:
        items = self.http.get(f"{self.url}/api/v1/namespaces/{namespace}/events").json()["items"]
        return [(e["type"], e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name]

    def phase(self, plural: str, name: str, namespace: str | None = None) -> str | None:
        obj = self.get(plural, name, namespace)
        return None if obj is None else obj.get("status", {}).get("phase")


def volume(name: str, size: str = "1Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), sc: str = "manual",
           policy: str | None = None, labels: dict | None = None, **spec: Any) -> dict:
    body: dict = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": sc,
                  "hostPath": {"path": f"/tmp/kubeling-pv/{name}"}, **spec}
    if policy:
        body["persistentVolumeReclaimPolicy"] = policy
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "labels": labels or {}},
            "spec": body}


def claim(name: str, size: str = "1Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), sc: str | None = "manual",
          **spec: Any) -> dict:
    body: dict = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, **spec}
    if sc is not None:
        body["storageClassName"] = sc
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": body}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def env(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("persistent-volumes")
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "pv")
        stack.start(Component("controller-manager", server.url, workdir, [
            "--controllers=persistentvolume-binder,pvc-protection,pv-protection,statefulset", "--leader-elect=false"]))
        kubectls = {version: Kubectl(binary, server.url, Path(workdir / f"kubectl-{version}"), version)
                    for version, binary in KUBECTL_BINARIES.items() if binary.exists()}
        for kubectl in kubectls.values():
            kubectl.cache_dir.mkdir(exist_ok=True)
        yield Env(server.url, kubectls)


def bound(env: Env, claim_name: str, namespace: str) -> dict:
    """Wait for the claim to be Bound, and return it."""
    return wait_until(lambda: (c := env.get("persistentvolumeclaims", claim_name, namespace))
                      and c.get("status", {}).get("phase") == "Bound" and c, timeout=30, what=f"{claim_name} Bound")


def rows(output: str) -> dict[str, list[str]]:
    lines = output.strip().splitlines()
    return {line.split()[0]: line.split() for line in lines[1:]}


@pytest.mark.parametrize("version", sorted(KUBECTL_BINARIES))
def test_kubectl_get_columns_and_default_marker(env: Env, version: str) -> None:
    if version not in env.kubectls:
        pytest.fail(f"kubectl {version} is missing: run `make deps`")
    kubectl = env.kubectls[version]
    ns = env.namespace()
    default_sc, other_sc = unique("fast"), unique("slow")
    env.create("storageclasses", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                  "metadata": {"name": default_sc, "annotations": {
                                      "storageclass.kubernetes.io/is-default-class": "true"}},
                                  "provisioner": "example.com/none", "volumeBindingMode": "WaitForFirstConsumer"})
    env.create("storageclasses", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                  "metadata": {"name": other_sc}, "provisioner": "example.com/other",
                                  "reclaimPolicy": "Retain", "allowVolumeExpansion": True})
    try:
        out = kubectl("get", "sc")
        assert out.splitlines()[0].split() == SC_HEADER
        found = rows(out)
        assert found[default_sc][:6] == [default_sc, "(default)", "example.com/none", "Delete",
                                         "WaitForFirstConsumer", "false"]
        assert found[other_sc][:5] == [other_sc, "example.com/other", "Retain", "Immediate", "true"]

        pv_name, claim_name = unique("pv"), "data"
        env.create("persistentvolumes", volume(pv_name, "2Gi", ("ReadWriteOnce", "ReadOnlyMany"), sc=other_sc))
        env.create("persistentvolumeclaims", claim(claim_name, "1Gi", sc=other_sc), ns)
        bound(env, claim_name, ns)
        pv_row = rows(kubectl("get", "pv"))[pv_name]
        assert kubectl("get", "pv").splitlines()[0].split() == PV_HEADER
        assert pv_row[:7] == [pv_name, "2Gi", "RWO,ROX", "Retain", "Bound", f"{ns}/{claim_name}", other_sc]
        assert pv_row[7] == "<unset>"
        out = kubectl("get", "pvc", "-n", ns)
        assert out.splitlines()[0].split() == PVC_HEADER
        assert rows(out)[claim_name][:7] == [claim_name, "Bound", pv_name, "2Gi", "RWO,ROX", other_sc, "<unset>"]
        # Short names, and the default class for a claim that names none (the DefaultStorageClass admission).
        kubectl("create", "-n", ns, "-f", "-", input=json.dumps(claim("no-class", sc=None)))
        assert rows(kubectl("get", "pvc", "-n", ns))["no-class"][:2] == ["no-class", "Pending"]
        assert env.get("persistentvolumeclaims", "no-class", ns)["spec"]["storageClassName"] == default_sc
    finally:
        for name in (default_sc, other_sc):
            env.delete("storageclasses", name)


def test_static_binding_takes_the_smallest_volume_that_fits(env: Env) -> None:
    ns, sc = env.namespace(), unique("static")
    small, middle, large = unique("small"), unique("middle"), unique("large")
    rwx, labelled = unique("rwx"), unique("labelled")
    env.create("persistentvolumes", volume(small, "1Gi", sc=sc))
    env.create("persistentvolumes", volume(middle, "5Gi", sc=sc))
    env.create("persistentvolumes", volume(large, "10Gi", sc=sc))
    env.create("persistentvolumes", volume(rwx, "3Gi", ("ReadWriteMany",), sc=sc))
    env.create("persistentvolumes", volume(labelled, "20Gi", sc=sc, labels={"disk": "ssd"}))
    env.create("persistentvolumeclaims", claim("three", "3Gi", sc=sc), ns)
    found = bound(env, "three", ns)
    assert found["spec"]["volumeName"] == middle  # 1Gi too small, 3Gi RWX lacks RWO, 10Gi bigger than 5Gi
    annotations = found["metadata"]["annotations"]
    assert annotations["pv.kubernetes.io/bind-completed"] == "yes"
    assert annotations["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert found["status"]["capacity"] == {"storage": "5Gi"}
    assert found["status"]["accessModes"] == ["ReadWriteOnce"]
    assert found["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    pv = wait_until(lambda: (v := env.get("persistentvolumes", middle))["status"]["phase"] == "Bound" and v,
                    what="the volume Bound")
    ref = pv["spec"]["claimRef"]
    assert (ref["kind"], ref["namespace"], ref["name"], ref["uid"]) == (
        "PersistentVolumeClaim", ns, "three", found["metadata"]["uid"])
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert pv["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    # Access modes: a RWX claim gets the RWX volume; a selector: only the labelled volume.
    env.create("persistentvolumeclaims", claim("shared", "1Gi", ("ReadWriteMany",), sc=sc), ns)
    assert bound(env, "shared", ns)["spec"]["volumeName"] == rwx
    env.create("persistentvolumeclaims", claim("ssd", "1Gi", sc=sc, selector={"matchLabels": {"disk": "ssd"}}), ns)
    assert bound(env, "ssd", ns)["spec"]["volumeName"] == labelled
    # No volume is big enough: Pending (the class has no provisioner to ask: upstream's event for that).
    env.create("persistentvolumeclaims", claim("huge", "100Gi", sc=""), ns)
    wait_until(lambda: ("Normal", "FailedBinding",
                        "no persistent volumes available for this claim and no storage class is set")
               in env.events(ns, "huge"), what="the FailedBinding event")
    assert env.phase("persistentvolumeclaims", "huge", ns) == "Pending"
    assert env.phase("persistentvolumes", small) == "Available"


def test_pre_bound_claim_and_pre_bound_volume(env: Env) -> None:
    ns, sc = env.namespace(), unique("prebound")
    chosen, bigger, reserved = unique("chosen"), unique("bigger"), unique("reserved")
    env.create("persistentvolumes", volume(chosen, "8Gi", sc=sc))
    env.create("persistentvolumes", volume(bigger, "1Gi", sc=sc))
    # A claim naming its volume gets that one, though a smaller one fits.
    env.create("persistentvolumeclaims", claim("named", "1Gi", sc=sc, volumeName=chosen), ns)
    found = bound(env, "named", ns)
    assert found["spec"]["volumeName"] == chosen
    assert "pv.kubernetes.io/bound-by-controller" not in found["metadata"].get("annotations", {})
    # A volume reserved for a claim (claimRef without uid) goes to it, and to no other claim.
    env.create("persistentvolumes", volume(reserved, "1Gi", sc=sc,
                                           claimRef={"kind": "PersistentVolumeClaim", "namespace": ns,
                                                     "name": "later"}))
    wait_until(lambda: env.phase("persistentvolumes", reserved) == "Available", what="the reserved volume Available")
    env.create("persistentvolumeclaims", claim("other", "1Gi", sc=sc), ns)
    assert bound(env, "other", ns)["spec"]["volumeName"] == bigger
    env.create("persistentvolumeclaims", claim("later", "1Gi", sc=sc), ns)
    later = bound(env, "later", ns)
    assert later["spec"]["volumeName"] == reserved
    pv = env.get("persistentvolumes", reserved)
    assert pv["spec"]["claimRef"]["uid"] == later["metadata"]["uid"]
    assert "pv.kubernetes.io/bound-by-controller" not in pv["metadata"].get("annotations", {})
    # A claim naming a volume too small for it waits, with upstream's event.
    small = unique("tiny")
    env.create("persistentvolumes", volume(small, "1Mi", sc=sc))
    env.create("persistentvolumeclaims", claim("mismatch", "1Gi", sc=sc, volumeName=small), ns)
    wait_until(lambda: ("Warning", "VolumeMismatch", f'Cannot bind to requested volume "{small}": requested PV is '
                        "too small") in env.events(ns, "mismatch"), what="the VolumeMismatch event")
    assert env.phase("persistentvolumeclaims", "mismatch", ns) == "Pending"


def test_retain_releases_and_delete_removes(env: Env) -> None:
    ns, sc = env.namespace(), unique("reclaim")
    kept, removed = unique("kept"), unique("removed")
    env.create("persistentvolumes", volume(kept, "1Gi", sc=sc, policy="Retain"))
    env.create("persistentvolumeclaims", claim("keep", "1Gi", sc=sc), ns)
    assert bound(env, "keep", ns)["spec"]["volumeName"] == kept
    env.delete("persistentvolumeclaims", "keep", ns)
    wait_until(lambda: env.phase("persistentvolumes", kept) == "Released", timeout=30, what="the volume Released")
    pv = env.get("persistentvolumes", kept)
    assert pv["spec"]["claimRef"]["name"] == "keep"  # still names its old claim: not bound to a new one
    env.create("persistentvolumeclaims", claim("keep", "1Gi", sc=sc), ns)
    wait_until(lambda: ("Normal", "FailedBinding") in [e[:2] for e in env.events(ns, "keep")] or
               env.phase("persistentvolumeclaims", "keep", ns) == "Pending", what="the new claim Pending")
    assert env.phase("persistentvolumes", kept) == "Released"

    other_sc = unique("reclaim")  # the new `keep` claim would take a volume of its class
    env.create("persistentvolumes", volume(removed, "1Gi", sc=other_sc, policy="Delete"))
    env.create("persistentvolumeclaims", claim("drop", "1Gi", sc=other_sc), ns)
    assert bound(env, "drop", ns)["spec"]["volumeName"] == removed
    env.delete("persistentvolumeclaims", "drop", ns)
    wait_until(lambda: env.get("persistentvolumes", removed) is None, timeout=30, what="the Delete volume gone")


def test_claim_in_use_stays_terminating_until_its_pod_is_deleted(env: Env) -> None:
    kubectl = env.kubectls["1.32"]
    ns, sc = env.namespace(), unique("protect")
    pv_name = unique("protected")
    env.create("persistentvolumes", volume(pv_name, "1Gi", sc=sc))
    env.create("persistentvolumeclaims", claim("in-use", "1Gi", sc=sc), ns)
    bound(env, "in-use", ns)
    # A scheduled pod using the claim (no kubelet runs here: the node name is enough for protection).
    env.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user"},
                        "spec": {"nodeName": "nowhere", "containers": [{"name": "c", "image": "busybox"}],
                                 "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "in-use"}}]}},
               ns)
    kubectl("delete", "pvc", "in-use", "-n", ns, "--wait=false")
    wait_until(lambda: rows(kubectl("get", "pvc", "-n", ns))["in-use"][1] == "Terminating",
               what="the claim Terminating")
    found = env.get("persistentvolumeclaims", "in-use", ns)
    assert found["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    assert env.phase("persistentvolumes", pv_name) == "Bound"
    kubectl("delete", "pod", "user", "-n", ns, "--grace-period=0", "--force")
    wait_until(lambda: env.get("persistentvolumeclaims", "in-use", ns) is None, timeout=30, what="the claim gone")
    wait_until(lambda: env.phase("persistentvolumes", pv_name) == "Released", timeout=30, what="the volume Released")
    # A volume in use is protected too: deleting a Bound volume leaves it Terminating.
    other = unique("bound-pv")
    env.create("persistentvolumes", volume(other, "1Gi", sc=sc))
    env.create("persistentvolumeclaims", claim("holder", "1Gi", sc=sc), ns)
    assert bound(env, "holder", ns)["spec"]["volumeName"] == other
    env.delete("persistentvolumes", other)
    assert env.get("persistentvolumes", other)["metadata"]["deletionTimestamp"]
    env.delete("persistentvolumeclaims", "holder", ns)  # unused: it goes, the volume is released and goes too
    wait_until(lambda: env.get("persistentvolumes", other) is None, timeout=30, what="the protected volume gone")


def test_statefulset_claims_survive_pod_deletion_and_scale_down(env: Env) -> None:
    ns = env.namespace()
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"replicas": 3, "serviceName": "db", "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "c", "image": "busybox",
                                                          "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "storage"}},
                                              "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                                                       "resources": {"requests": {"storage": "1Gi"}}}}]}}
    response = env.http.post(f"{env.url}/apis/apps/v1/namespaces/{ns}/statefulsets", json=sts)
    assert response.status_code == 201, response.text
    names = [f"data-db-{i}" for i in range(3)]
    wait_until(lambda: all(env.get("persistentvolumeclaims", n, ns) for n in names), timeout=30,
               what="the three claims")
    first = env.get("persistentvolumeclaims", "data-db-0", ns)
    assert first["metadata"]["labels"] == {"tier": "storage", "app": "db"}
    assert first["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    assert "ownerReferences" not in first["metadata"]  # Retain: the set does not own its claims
    pod = wait_until(lambda: env.get("pods", "db-0", ns), what="pod db-0")
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}} in pod["spec"]["volumes"]
    uid = first["metadata"]["uid"]
    env.delete("pods", "db-0", ns, gracePeriodSeconds=0)
    wait_until(lambda: (p := env.get("pods", "db-0", ns)) and p["metadata"]["uid"] != pod["metadata"]["uid"],
               timeout=30, what="db-0 recreated")
    assert env.get("persistentvolumeclaims", "data-db-0", ns)["metadata"]["uid"] == uid
    env.http.patch(f"{env.url}/apis/apps/v1/namespaces/{ns}/statefulsets/db", json={"spec": {"replicas": 1}},
                   headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    wait_until(lambda: env.get("pods", "db-2", ns) is None and env.get("pods", "db-1", ns) is None, timeout=30,
               what="the scale-down")
    assert all(env.get("persistentvolumeclaims", n, ns) for n in names)


@pytest.mark.parametrize(("plural", "body", "field"), [
    ("persistentvolumeclaims", claim("bad-mode", modes=("ReadWriteSometimes",)), "spec.accessModes"),
    ("persistentvolumeclaims", claim("bad-size", size="lots"), "spec.resources[storage]"),
    ("persistentvolumeclaims", claim("no-size", resources={}), "spec.resources[storage]"),
    ("persistentvolumes", volume("two-sources", nfs={"server": "10.0.0.1", "path": "/export"}), "spec.nfs"),
    ("persistentvolumes", volume("no-modes", modes=()), "spec.accessModes"),
    ("persistentvolumes", volume("bad-capacity", size="-1Gi"), "spec.capacity[storage]"),
    ("persistentvolumes", volume("escape", hostPath={"path": "/srv/../etc"}), "spec.hostPath.path"),
    ("storageclasses", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "bad-sc"},
                        "provisioner": "x", "volumeBindingMode": "Later"}, "volumeBindingMode"),
])
def test_bad_input_is_refused_and_nothing_written(env: Env, plural: str, body: dict, field: str) -> None:
    ns = env.namespace() if plural == "persistentvolumeclaims" else None
    response = env.http.post(env.path(plural, ns), json=body)
    assert response.status_code == 422, response.text
    status = response.json()
    assert status["reason"] == "Invalid"
    assert field in [cause["field"] for cause in status["details"]["causes"]], status
    assert env.get(plural, body["metadata"]["name"], ns) is None


def test_immutable_fields_are_refused(env: Env) -> None:
    ns, sc = env.namespace(), unique("immutable")
    pv_name = unique("fixed")
    env.create("persistentvolumes", volume(pv_name, "1Gi", sc=sc))
    env.create("persistentvolumeclaims", claim("fixed", "1Gi", sc=sc), ns)
    bound(env, "fixed", ns)
    env.create("storageclasses", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                  "metadata": {"name": sc}, "provisioner": "example.com/a"})
    try:
        cases = [
            ("persistentvolumes", None, pv_name, {"spec": {"hostPath": {"path": "/elsewhere"}}},
             "spec.persistentvolumesource"),
            ("persistentvolumeclaims", ns, "fixed", {"spec": {"accessModes": ["ReadWriteMany"]}}, "spec"),
            ("persistentvolumeclaims", ns, "fixed", {"spec": {"resources": {"requests": {"storage": "512Mi"}}}},
             "spec.resources.requests.storage"),
            ("storageclasses", None, sc, {"provisioner": "example.com/b"}, "provisioner"),
            ("storageclasses", None, sc, {"reclaimPolicy": "Retain"}, "reclaimPolicy"),
        ]
        for plural, namespace, name, patch, field in cases:
            before = env.get(plural, name, namespace)
            response = env.http.patch(env.path(plural, namespace, name), json=patch,
                                      headers={"Content-Type": "application/merge-patch+json"})
            assert response.status_code == 422, (patch, response.text)
            assert field in [c["field"] for c in response.json()["details"]["causes"]], response.text
            after = env.get(plural, name, namespace)
            assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        # Growing a claim needs a class that allows expansion: upstream's admission answers 403.
        response = env.http.patch(env.path("persistentvolumeclaims", ns, "fixed"),
                                  json={"spec": {"resources": {"requests": {"storage": "2Gi"}}}},
                                  headers={"Content-Type": "application/merge-patch+json"})
        assert response.status_code == 403, response.text
        assert "only dynamically provisioned pvc can be resized" in response.json()["message"]
    finally:
        env.delete("storageclasses", sc)


def test_unknown_class_waits_with_the_upstream_event(env: Env) -> None:
    ns = env.namespace()
    env.create("persistentvolumeclaims", claim("lost", sc="no-such-class"), ns)
    wait_until(lambda: ("Warning", "ProvisioningFailed", 'storageclass.storage.k8s.io "no-such-class" not found')
               in env.events(ns, "lost"), what="the ProvisioningFailed event")
    assert env.phase("persistentvolumeclaims", "lost", ns) == "Pending"


def test_provisioner_is_asked_and_its_pre_bound_volume_bound(env: Env) -> None:
    """The hand-off to a provisioner (pvnode's local-path does this for real): an Immediate class's claim is
    annotated with the class's provisioner; a volume created pre-bound to the claim gets bound."""
    ns, sc = env.namespace(), unique("dynamic")
    env.create("storageclasses", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                  "metadata": {"name": sc}, "provisioner": "example.com/maker"})
    wfc = unique("later")
    env.create("storageclasses", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                  "metadata": {"name": wfc}, "provisioner": "example.com/maker",
                                  "volumeBindingMode": "WaitForFirstConsumer"})
    try:
        made = env.create("persistentvolumeclaims", claim("made", sc=sc), ns)
        annotated = wait_until(lambda: (c := env.get("persistentvolumeclaims", "made", ns))["metadata"].get(
            "annotations", {}).get("volume.kubernetes.io/storage-provisioner") and c, what="the provisioner asked")
        assert annotated["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-provisioner"] == \
            "example.com/maker"
        assert any(e[1] == "ExternalProvisioning" for e in env.events(ns, "made"))
        pv_name = f"pvc-{made['metadata']['uid']}"
        env.create("persistentvolumes", volume(pv_name, "1Gi", sc=sc, policy="Delete", claimRef={
            "kind": "PersistentVolumeClaim", "namespace": ns, "name": "made", "uid": made["metadata"]["uid"]}))
        assert bound(env, "made", ns)["spec"]["volumeName"] == pv_name
        # WaitForFirstConsumer: nothing happens until the scheduler names a node.
        env.create("persistentvolumeclaims", claim("waits", sc=wfc), ns)
        wait_until(lambda: ("Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before "
                            "binding") in env.events(ns, "waits"), what="the WaitForFirstConsumer event")
        assert "volume.kubernetes.io/storage-provisioner" not in env.get(
            "persistentvolumeclaims", "waits", ns)["metadata"].get("annotations", {})
        env.http.patch(env.path("persistentvolumeclaims", ns, "waits"),
                       json={"metadata": {"annotations": {"volume.kubernetes.io/selected-node": "node-1"}}},
                       headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
        wait_until(lambda: env.get("persistentvolumeclaims", "waits", ns)["metadata"]["annotations"].get(
            "volume.kubernetes.io/storage-provisioner") == "example.com/maker", what="the provisioner asked")
    finally:
        for name in (sc, wfc):
            env.delete("storageclasses", name)
