"""Persistent volumes on real nodes: two real kubelets on Docker (tests/e2e/kubelet_harness.py), the real
scheduler and controller-manager, one cluster for the whole module, and the default `local-path` StorageClass
as the control_plane role applies it (its `nodePath` pointed at this test's directory; the kubelets'
`--local-path-dir` says the same).

What a user sees: a claim binds through the default class when its pod is scheduled, data outlives pods,
StatefulSet pods come back to their claims, Delete and Retain volumes end as promised, a claim in use is
protected, and a pod goes where its volume is (or says why it cannot). Files are read on the host: both kubelets
run here, so a local-path volume's directory is a directory of this machine.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubelet_harness import (
    BUSYBOX,
    KubeletProcess,
    ensure_images,
    free_pod_cidr,
    remove_node_containers,
)

from cluster import ROOT, Component, Stack

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
DEADLINE = 120.0  # seconds for anything to converge on this busy machine
CLASS_MANIFEST = ROOT / "roles" / "control_plane" / "files" / "local-path-storageclass.yaml"


def eventually(check, what: str, timeout: float = DEADLINE, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


class Env:
    def __init__(self, server: str, nodes: list[str], local_dir: Path, workdir: Path) -> None:
        self.server, self.nodes, self.local_dir, self.workdir = server, nodes, local_dir, workdir
        self.http = requests.Session()

    def url(self, path: str) -> str:
        return self.server + path

    def create(self, path: str, obj: Obj) -> Obj:
        response = self.http.post(self.url(path), json=obj)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, path: str) -> Obj | None:
        response = self.http.get(self.url(path))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def delete(self, path: str, grace: int | None = None) -> None:
        body = {} if grace is None else {"gracePeriodSeconds": grace}
        response = self.http.delete(self.url(path), json=body)
        assert response.status_code in (200, 202, 404), response.text

    def patch(self, path: str, patch: Obj) -> Obj:
        response = self.http.patch(self.url(path), json=patch,
                                   headers={"Content-Type": "application/merge-patch+json"})
        response.raise_for_status()
        return response.json()

    def namespace(self) -> str:
        name = f"vol-{uuid.uuid4().hex[:6]}"
        self.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def claim(self, ns: str, name: str) -> Obj | None:
        return self.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}")

    def pod(self, ns: str, name: str) -> Obj | None:
        return self.get(f"/api/v1/namespaces/{ns}/pods/{name}")

    def volume(self, name: str) -> Obj | None:
        return self.get(f"/api/v1/persistentvolumes/{name}")

    def events(self, ns: str, name: str) -> list[Obj]:
        found = self.get(f"/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3D{name}") or {}
        return found.get("items") or []

    def wait_running(self, ns: str, name: str) -> Obj:
        return eventually(lambda: (p := self.pod(ns, name)) and (p.get("status") or {}).get("phase") == "Running"
                          and p, f"pod {ns}/{name} Running")

    def wait_bound(self, ns: str, name: str) -> Obj:
        return eventually(lambda: (c := self.claim(ns, name)) and (c.get("status") or {}).get("phase") == "Bound"
                          and c, f"claim {ns}/{name} Bound")

    def delete_pod(self, ns: str, name: str) -> None:
        self.delete(f"/api/v1/namespaces/{ns}/pods/{name}", grace=0)
        eventually(lambda: self.pod(ns, name) is None, f"pod {ns}/{name} gone")

    def volume_dir(self, claim: Obj) -> Path:
        pv = self.volume(claim["spec"]["volumeName"])
        assert pv is not None
        return Path(pv["spec"]["local"]["path"])


def claim_obj(name: str, size: str = "64Mi", class_name: str | None = None, **spec: Any) -> Obj:
    body: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, **spec}
    if class_name is not None:
        body["storageClassName"] = class_name
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": body}


def pod_obj(name: str, claim: str, script: str, restart: str = "Always", read_only: bool = False,
            **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script],
                                     "volumeMounts": [{"name": "data", "mountPath": "/data",
                                                       "readOnly": read_only}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}], **spec}}


def local_path_class(path: Path, name: str = "local-path", reclaim: str = "Delete", default: bool = True) -> Obj:
    """The class as roles/control_plane applies it, with this test's nodePath."""
    import yaml

    manifest = yaml.safe_load(CLASS_MANIFEST.read_text())
    manifest["metadata"]["name"] = name
    manifest["reclaimPolicy"] = reclaim
    manifest["parameters"] = {"nodePath": str(path)}
    if not default:
        manifest["metadata"]["annotations"] = {}
    return manifest


@pytest.fixture(scope="module")
def env(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    try:
        ensure_images()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    workdir = tmp_path_factory.mktemp("volumes")
    local_dir = workdir / "local-path"
    suffix = uuid.uuid4().hex[:6]
    nodes = [f"vol-a-{suffix}", f"vol-b-{suffix}"]
    networks = [f"kubeling-va{suffix}", f"kubeling-vb{suffix}"]
    kubelets: list[KubeletProcess] = []
    with Stack() as stack:
        server = stack.apiserver(etcd.url, workdir, "volumes")
        try:
            for node, network in zip(nodes, networks, strict=True):
                node_dir = workdir / node
                node_dir.mkdir()
                kubelet = KubeletProcess(server.url, node_dir, node, network, pod_cidr=free_pod_cidr(),
                                         extra=["--local-path-dir", str(local_dir)])
                kubelets.append(kubelet)
                kubelet.start()  # one at a time: the next one's pod range must not overlap this one's network
            stack.start(Component("scheduler", server.url, workdir, ["--leader-elect=false"]))
            stack.start(Component("controller-manager", server.url, workdir, ["--leader-elect=false"]))
            env = Env(server.url, nodes, local_dir, workdir)
            env.create("/apis/storage.k8s.io/v1/storageclasses", local_path_class(local_dir))
            env.create("/apis/storage.k8s.io/v1/storageclasses",
                       local_path_class(local_dir, "local-path-retain", "Retain", default=False))
            eventually(lambda: all((n := env.get(f"/api/v1/nodes/{name}")) and n.get("status", {}).get("nodeInfo")
                                   for name in nodes), "both nodes registered")
            yield env
        finally:
            for kubelet in kubelets:
                kubelet.stop()
            for node in nodes:
                remove_node_containers(node)
            for network in networks:
                subprocess.run(["docker", "network", "rm", network], capture_output=True)


def test_a_claim_without_a_class_binds_through_local_path_when_its_pod_is_scheduled(env: Env) -> None:
    ns = env.namespace()
    created = env.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim_obj("data"))
    assert created["spec"]["storageClassName"] == "local-path"  # the default class, given at admission
    time.sleep(1)
    assert env.claim(ns, "data")["status"]["phase"] == "Pending"  # WaitForFirstConsumer: no pod, no volume
    env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj("writer", "data", "echo hello > /data/greeting; sleep 3600"))
    pod = env.wait_running(ns, "writer")
    claim = env.wait_bound(ns, "data")
    assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == pod["spec"]["nodeName"]
    pv = env.volume(claim["spec"]["volumeName"])
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "kubeling.io/local-path"
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == \
        [pod["spec"]["nodeName"]]
    greeting = env.volume_dir(claim) / "greeting"
    eventually(lambda: greeting.exists() and greeting.read_text() == "hello\n", "the pod's file on the node")


def test_data_written_by_one_pod_is_read_by_the_next_pod_of_the_claim(env: Env) -> None:
    ns = env.namespace()
    env.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim_obj("data"))
    env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj("first", "data", "echo kept > /data/note; sleep 3600"))
    env.wait_running(ns, "first")
    claim = env.wait_bound(ns, "data")
    eventually(lambda: (env.volume_dir(claim) / "note").exists(), "the first pod's file")
    env.delete_pod(ns, "first")
    env.create(f"/api/v1/namespaces/{ns}/pods",
               pod_obj("second", "data", "grep -q kept /data/note", restart="Never", read_only=True))
    done = eventually(lambda: (p := env.pod(ns, "second")) and p.get("status", {}).get("phase") in
                      ("Succeeded", "Failed") and p, "the second pod to finish")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    # readOnly on the mount is honoured: writing fails.
    env.create(f"/api/v1/namespaces/{ns}/pods",
               pod_obj("reader", "data", "touch /data/nope", restart="Never", read_only=True))
    refused = eventually(lambda: (p := env.pod(ns, "reader")) and p.get("status", {}).get("phase") in
                         ("Succeeded", "Failed") and p, "the read-only pod to finish")
    assert refused["status"]["phase"] == "Failed"
    assert not (env.volume_dir(claim) / "nope").exists()


def test_a_statefulset_keeps_its_claims_and_data_across_deletion_and_scaling(env: Env) -> None:
    ns = env.namespace()
    script = "echo $(hostname) >> /data/starts; sleep 3600"
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script],
                                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                    "volumeClaimTemplates": [claim_obj("data")]}}
    path = f"/apis/apps/v1/namespaces/{ns}/statefulsets/db"
    env.create(f"/apis/apps/v1/namespaces/{ns}/statefulsets", sts)
    for ordinal in (0, 1):
        env.wait_running(ns, f"db-{ordinal}")
    claims = {o: env.wait_bound(ns, f"data-db-{o}") for o in (0, 1)}
    starts = {o: env.volume_dir(c) / "starts" for o, c in claims.items()}
    for ordinal, file in starts.items():
        eventually(lambda f=file, o=ordinal: f.exists() and f.read_text() == f"db-{o}\n", f"db-{ordinal} wrote")

    old_uid = env.pod(ns, "db-0")["metadata"]["uid"]
    env.delete(f"/api/v1/namespaces/{ns}/pods/db-0", grace=0)
    eventually(lambda: (p := env.pod(ns, "db-0")) and p["metadata"]["uid"] != old_uid
               and p.get("status", {}).get("phase") == "Running", "db-0 back")
    eventually(lambda: starts[0].read_text() == "db-0\ndb-0\n", "db-0 came back to its data")

    env.patch(path, {"spec": {"replicas": 0}})
    for ordinal in (0, 1):
        eventually(lambda o=ordinal: env.pod(ns, f"db-{o}") is None, f"db-{ordinal} scaled away")
    assert all(env.claim(ns, f"data-db-{o}") is not None for o in (0, 1))  # claims outlive the scale-down
    env.patch(path, {"spec": {"replicas": 2}})
    for ordinal in (0, 1):
        env.wait_running(ns, f"db-{ordinal}")
    eventually(lambda: starts[1].read_text() == "db-1\ndb-1\n", "db-1 came back to its data after scaling")
    for ordinal in (0, 1):
        assert env.claim(ns, f"data-db-{ordinal}")["spec"]["volumeName"] == claims[ordinal]["spec"]["volumeName"]
    env.patch(path, {"spec": {"replicas": 0}})


def test_deleting_a_delete_claim_removes_the_volume_and_its_directory(env: Env) -> None:
    ns = env.namespace()
    env.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim_obj("scratch"))
    env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj("user", "scratch", "echo x > /data/x; sleep 3600"))
    env.wait_running(ns, "user")
    claim = env.wait_bound(ns, "scratch")
    directory = env.volume_dir(claim)
    eventually(lambda: (directory / "x").exists(), "the pod's file")
    env.delete_pod(ns, "user")
    env.delete(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/scratch")
    eventually(lambda: env.volume(claim["spec"]["volumeName"]) is None, "the volume deleted")
    assert not directory.exists()


def test_a_retain_volume_keeps_its_data(env: Env) -> None:
    ns = env.namespace()
    env.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim_obj("keep", class_name="local-path-retain"))
    env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj("user", "keep", "echo precious > /data/p; sleep 3600"))
    env.wait_running(ns, "user")
    claim = env.wait_bound(ns, "keep")
    directory = env.volume_dir(claim)
    eventually(lambda: (directory / "p").exists(), "the pod's file")
    env.delete_pod(ns, "user")
    env.delete(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/keep")
    eventually(lambda: (v := env.volume(claim["spec"]["volumeName"])) and v["status"]["phase"] == "Released",
               "the volume Released")
    time.sleep(2)
    assert env.volume(claim["spec"]["volumeName"])["status"]["phase"] == "Released"
    assert (directory / "p").read_text() == "precious\n"


def test_a_claim_in_use_survives_delete_until_its_pod_goes(env: Env) -> None:
    ns = env.namespace()
    env.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim_obj("busy"))
    env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj("user", "busy", "sleep 3600"))
    env.wait_running(ns, "user")
    env.wait_bound(ns, "busy")
    env.delete(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/busy")
    time.sleep(2)
    claim = env.claim(ns, "busy")
    assert claim is not None and claim["metadata"].get("deletionTimestamp")
    assert env.pod(ns, "user")["status"]["phase"] == "Running"
    env.delete_pod(ns, "user")
    eventually(lambda: env.claim(ns, "busy") is None, "the claim gone once its pod is")


def static_local_volume(name: str, path: Path, node: str, size: str = "64Mi") -> Obj:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                     "local": {"path": str(path)},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}


def test_a_pod_goes_to_the_node_of_its_volume_or_says_why_it_cannot(env: Env) -> None:
    ns = env.namespace()
    for target in env.nodes:
        directory = env.workdir / f"static-{ns}-{target}"
        directory.mkdir()
        pv = f"{ns}-{target}"
        env.create("/api/v1/persistentvolumes", static_local_volume(pv, directory, target))
        claim = f"on-{target}"
        env.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
                   claim_obj(claim, class_name="", volumeName=pv))
        env.wait_bound(ns, claim)
        env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj(f"to-{target}", claim, "echo here > /data/f; sleep 3600"))
        pod = env.wait_running(ns, f"to-{target}")
        assert pod["spec"]["nodeName"] == target
        eventually(lambda d=directory: (d / "f").exists(), "the file in the static volume")

    env.create("/api/v1/persistentvolumes", static_local_volume(f"{ns}-nowhere", env.workdir, "no-such-node"))
    env.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
               claim_obj("nowhere", class_name="", volumeName=f"{ns}-nowhere"))
    env.wait_bound(ns, "nowhere")
    env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj("stuck", "nowhere", "sleep 3600"))
    env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj("orphan", "missing", "sleep 3600"))

    def reason(name: str) -> str:
        pod = env.pod(ns, name) or {}
        conditions = (pod.get("status") or {}).get("conditions") or []
        return next((c.get("message", "") for c in conditions if c.get("type") == "PodScheduled"), "")

    eventually(lambda: "2 node(s) had volume node affinity conflict" in reason("stuck"), "stuck's reason")
    eventually(lambda: 'persistentvolumeclaim "missing" not found' in reason("orphan"), "orphan's reason")
    assert reason("orphan").startswith("0/2 nodes are available: ")
    assert not env.pod(ns, "stuck")["spec"].get("nodeName")



def test_a_local_path_volume_outside_the_provisioners_directory_is_not_mounted(env: Env) -> None:
    ns = env.namespace()
    outside = env.workdir / f"outside-{ns}"
    outside.mkdir()
    pv = static_local_volume(f"{ns}-escape", outside, env.nodes[0])
    pv["metadata"]["annotations"] = {"pv.kubernetes.io/provisioned-by": "kubeling.io/local-path"}
    env.create("/api/v1/persistentvolumes", pv)
    env.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
               claim_obj("escape", class_name="", volumeName=f"{ns}-escape"))
    env.wait_bound(ns, "escape")
    env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj("nosy", "escape", "echo x > /data/x; sleep 3600"))
    eventually(lambda: any(e.get("reason") == "FailedMount" and "refusing to mount it" in e.get("message", "")
                           for e in env.events(ns, "nosy")), "the FailedMount event")
    pod = env.pod(ns, "nosy")
    assert pod["status"]["phase"] == "Pending"
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ContainerCreating"
    assert list(outside.iterdir()) == []

# NFS: the export is served by a test node container (images/node, with nfs-kernel-server) running the kernel's
# NFS server; both kubelets mount it with the kernel's NFS client. Both need NFS in the kernel, which not every
# test machine has (a kernel built without modules has neither): then the test is skipped, saying what is missing.


def nfs_missing() -> str:
    """Why NFS cannot be tested here, or "" when it can."""
    import shutil

    kernel = Path("/proc/filesystems").read_text()
    for fs in ("nfs", "nfsd"):
        if f"\t{fs}\n" not in kernel:
            probe = subprocess.run(["modprobe", fs], capture_output=True, text=True) if shutil.which("modprobe") \
                else None
            if probe is None or probe.returncode != 0 or f"\t{fs}\n" not in Path("/proc/filesystems").read_text():
                return (f"kernel {os.uname().release} has no {fs} (not in /proc/filesystems; modprobe {fs}: "
                        f"{'not installed' if probe is None else (probe.stderr.strip() or probe.returncode)})")
    if not shutil.which("mount.nfs"):
        return "mount.nfs is missing (nfs-common: make deps)"
    from test_two_nodes import NODE_IMAGE

    if subprocess.run(["docker", "run", "--rm", "--entrypoint", "/bin/sh", NODE_IMAGE, "-c",
                       "command -v exportfs"], capture_output=True).returncode != 0:
        return f"{NODE_IMAGE} has no nfs-kernel-server: rebuild it (images/node/build.sh)"
    return ""


@pytest.fixture(scope="module")
def nfs_server(env: Env) -> Iterator[str]:
    """A node container exporting /srv/nfs read-write; yields its address."""
    missing = nfs_missing()
    if missing:
        pytest.skip(f"NFS cannot run on this machine: {missing}")
    from test_two_nodes import NODE_FLAGS, NODE_IMAGE

    name = f"kubeling-nfs-{uuid.uuid4().hex[:6]}"
    subprocess.run(["docker", "run", "-d", "--name", name, "--hostname", name, *NODE_FLAGS,
                    "--label", "io.kubeling.test=volumes-nfs", NODE_IMAGE], check=True, capture_output=True)
    try:
        def run(*cmd: str) -> subprocess.CompletedProcess:
            return subprocess.run(["docker", "exec", name, *cmd], capture_output=True, text=True, timeout=60)

        eventually(lambda: run("systemctl", "is-system-running").stdout.strip() in ("running", "degraded"),
                   "the NFS node's systemd", timeout=60)
        run("mkdir", "-p", "/srv/nfs")
        run("chmod", "777", "/srv/nfs")
        run("sh", "-c", "echo '/srv/nfs *(rw,sync,no_subtree_check,no_root_squash,insecure)' > /etc/exports")
        started = run("systemctl", "restart", "nfs-server")
        assert started.returncode == 0, started.stderr
        ip = subprocess.run(["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}"
                             "{{end}}", name], capture_output=True, text=True, check=True).stdout.strip()
        yield ip
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


def test_an_nfs_volume_is_shared_by_pods_on_two_kubelets(env: Env, nfs_server: str) -> None:
    ns = env.namespace()
    env.create("/api/v1/persistentvolumes", {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"{ns}-nfs"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                 "nfs": {"server": nfs_server, "path": "/srv/nfs"}}})
    env.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
               {**claim_obj("shared", class_name="", volumeName=f"{ns}-nfs"),
                "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}},
                         "storageClassName": "", "volumeName": f"{ns}-nfs"}})
    env.wait_bound(ns, "shared")
    writer, reader = env.nodes
    env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj("writer", "shared", f"echo from-{ns} > /data/{ns}; sleep 3600",
                                                        nodeName=writer))
    env.wait_running(ns, "writer")
    env.create(f"/api/v1/namespaces/{ns}/pods", pod_obj("reader", "shared", f"sleep 2; grep -q from-{ns} /data/{ns}",
                                                        restart="OnFailure", nodeName=reader))
    done = eventually(lambda: (p := env.pod(ns, "reader")) and p.get("status", {}).get("phase") == "Succeeded"
                      and p, "the pod on the other node to read the file")
    assert done["spec"]["nodeName"] == reader
    # An inline nfs volume sees the same export.
    inline = pod_obj("inline", "unused", f"grep -q from-{ns} /data/{ns}", restart="OnFailure", nodeName=reader)
    inline["spec"]["volumes"] = [{"name": "data", "nfs": {"server": nfs_server, "path": "/srv/nfs"}}]
    env.create(f"/api/v1/namespaces/{ns}/pods", inline)
    eventually(lambda: (p := env.pod(ns, "inline")) and p.get("status", {}).get("phase") == "Succeeded",
               "the inline nfs pod to read the file")
