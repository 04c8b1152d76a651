"""Persistent storage on a provisioned cluster, as a new user meets it (issue 16): `kubectl get storageclass`
shows the default `local-path` class the control_plane role applies, a claim that names no class binds through it
once its pod is scheduled, the next pod of the claim reads what the first wrote, and deleting the claim removes the
volume and its directory on the node. Every worker has the NFS client the kubelet mounts `nfs` volumes with.

Runs in its own namespace; the file name sorts before test_smoke.py, whose last test stops a node."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conftest import Cluster, eventually

IMAGE = "kubeling/busybox:1"
NAMESPACE = f"storage-{uuid.uuid4().hex[:6]}"
LOCAL_PATH_DIR = "/var/lib/kubeling/local-path"  # the class's default nodePath (roles/control_plane)


@pytest.fixture(scope="module", autouse=True)
def namespace(cluster: Cluster):
    cluster.kubectl("create", "namespace", NAMESPACE)
    yield NAMESPACE
    cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def claim(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}}}


def pod(name: str, claim_name: str, script: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": IMAGE, "command": ["sh", "-c", script],
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]}}


def finished(cluster: Cluster, name: str) -> dict[str, Any]:
    try:
        return eventually(lambda: (p := cluster.json("get", "pod", name, "-n", NAMESPACE))["status"].get("phase")
                          in ("Succeeded", "Failed") and p, f"pod {name} to finish", timeout=180)
    except AssertionError as exc:  # say where it stopped: the pod, its claims, the namespace's events, and what
        # the controller managers (the PV controller and the local-path provisioner) last said
        described = cluster.kubectl("describe", "pod,pvc", "-n", NAMESPACE, check=False)
        events = cluster.kubectl("get", "events", "-n", NAMESPACE, "--sort-by=.lastTimestamp", check=False)
        journal = cluster.journal("masters", "kubeling-controller-manager")
        raise AssertionError(f"{exc}\n{described.stdout[-3000:]}{described.stderr}\n{events.stdout[-2000:]}\n"
                             f"{journal[-6000:]}") from None


def test_kubectl_get_storageclass_shows_the_default_local_path_class(cluster: Cluster) -> None:
    out = cluster.kubectl("get", "storageclass").stdout.splitlines()
    assert out[0].split()[:5] == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
                                  "ALLOWVOLUMEEXPANSION"], out
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert rows["local-path"][:5] == ["local-path", "(default)", "kubeling.io/local-path", "Delete",
                                      "WaitForFirstConsumer"], out


def test_a_claim_without_a_class_keeps_its_data_for_the_next_pod_and_goes_with_its_directory(
        cluster: Cluster) -> None:
    cluster.apply(claim("data"))
    # WaitForFirstConsumer: nothing is provisioned before a pod uses the claim.
    assert cluster.json("get", "pvc", "data", "-n", NAMESPACE)["status"].get("phase") == "Pending"

    cluster.apply(pod("writer", "data", "echo kept > /data/note"))
    assert finished(cluster, "writer")["status"]["phase"] == "Succeeded"
    bound = cluster.json("get", "pvc", "data", "-n", NAMESPACE)
    assert bound["spec"]["storageClassName"] == "local-path"
    assert bound["status"]["phase"] == "Bound"
    volume = bound["spec"]["volumeName"]
    node = cluster.json("get", "pod", "writer", "-n", NAMESPACE)["spec"]["nodeName"]
    directory = f"{LOCAL_PATH_DIR}/{volume}"
    assert cluster.on_node(node, "cat", f"{directory}/note").stdout == "kept\n"

    cluster.kubectl("delete", "pod", "writer", "-n", NAMESPACE, "--wait=true", timeout=120)
    cluster.apply(pod("reader", "data", "cat /data/note"))
    reader = finished(cluster, "reader")
    assert reader["status"]["phase"] == "Succeeded" and reader["spec"]["nodeName"] == node
    assert cluster.kubectl("logs", "reader", "-n", NAMESPACE).stdout == "kept\n"

    # The claim's reclaim policy is the class's, Delete: the volume and its directory go with the claim.
    cluster.kubectl("delete", "pod", "reader", "-n", NAMESPACE, "--wait=true", timeout=120)
    cluster.kubectl("delete", "pvc", "data", "-n", NAMESPACE, "--wait=true", timeout=120)
    eventually(lambda: "NotFound" in cluster.kubectl("get", "pv", volume, check=False).stderr,
               f"volume {volume} to be deleted", timeout=180)
    eventually(lambda: cluster.on_node(node, "test", "-e", directory).returncode == 1,
               f"{directory} to be removed on {node}", timeout=120)


def test_every_worker_has_the_nfs_client(cluster: Cluster) -> None:
    for worker in cluster.workers:
        found = cluster.on_node(worker, "dpkg-query", "--show", "--showformat=${db:Status-Status}", "nfs-common")
        assert found.stdout == "installed", f"{worker}: {found.stdout} {found.stderr}"
        assert cluster.on_node(worker, "test", "-x", "/sbin/mount.nfs").returncode == 0, worker
