"""The kubelet's side of persistent volumes, without Docker: claims resolved to host directories, the pod kept
waiting while its claim is unbound, local-path paths checked, NFS mounted once and unmounted before the pod's
directory is removed, and which deleted volumes a node cleans up."""

from pathlib import Path

import pytest

from kubeling.api import storage
from kubeling.kubelet.localpath import cleanup_action
from kubeling.kubelet.mount import Mounter, nfs_command
from kubeling.kubelet.volumes import VolumeError, VolumeManager


class FakeMounter(Mounter):
    def __init__(self):
        super().__init__()
        self.mounted: list[Path] = []
        self.calls: list[tuple] = []

    def mount_nfs(self, server, export, target, read_only=False):
        self.calls.append(("mount", server, export, str(target), read_only))
        target.mkdir(parents=True, exist_ok=True)
        self.mounted.append(target)

    def unmount(self, target):
        self.calls.append(("umount", str(target)))
        self.mounted.remove(target)

    def mounts_under(self, directory):
        return [p for p in self.mounted if p == directory or directory in p.parents]


def claim(name="data", volume="pv1", phase="Bound"):
    return {"metadata": {"name": name, "namespace": "ns", "uid": "c1"},
            "spec": {"volumeName": volume} if volume else {}, "status": {"phase": phase}}


def local_pv(path, name="pv1", provisioned=True, **spec):
    annotations = {storage.PROVISIONED_BY: storage.LOCAL_PATH_PROVISIONER} if provisioned else {}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": {"local": {"path": path}, **spec}}


def pod(*volumes):
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "spec": {"volumes": list(volumes)}}


def claim_volume(read_only=False):
    return {"name": "data", "persistentVolumeClaim": {"claimName": "data", "readOnly": read_only}}


def manager(tmp_path, claims=(), pvs=(), mounter=None):
    by_name = {c["metadata"]["name"]: c for c in claims}
    by_pv = {v["metadata"]["name"]: v for v in pvs}
    return VolumeManager(str(tmp_path / "root"), lambda ns, n: None, lambda ns, n: None,
                         claim=lambda ns, n: by_name.get(n), volume=by_pv.get,
                         local_path_dir=str(tmp_path / "local-path"), mounter=mounter or FakeMounter())


def test_a_bound_local_path_claim_gets_its_directory_made_and_mounted(tmp_path):
    path = tmp_path / "local-path" / "pv1"
    volumes = manager(tmp_path, [claim()], [local_pv(str(path))])
    assert volumes.setup(pod(claim_volume())) == {"data": str(path)}
    assert path.is_dir() and (path.stat().st_mode & 0o777) == 0o777
    assert not volumes.read_only("u1", "data")


def test_the_claims_read_only_is_honoured(tmp_path):
    volumes = manager(tmp_path, [claim()], [local_pv(str(tmp_path / "local-path" / "pv1"))])
    volumes.setup(pod(claim_volume(read_only=True)))
    assert volumes.read_only("u1", "data")


def test_a_missing_or_unbound_claim_keeps_the_pod_waiting(tmp_path):
    with pytest.raises(VolumeError, match='persistentvolumeclaim "data" not found'):
        manager(tmp_path).setup(pod(claim_volume()))
    with pytest.raises(VolumeError, match=r'PVC ns/data has non-bound phase \("Pending"\)'):
        manager(tmp_path, [claim(volume=None, phase="Pending")]).setup(pod(claim_volume()))


def test_a_local_path_volume_outside_the_directory_is_refused(tmp_path):
    for escaping in ("/etc", str(tmp_path / "local-path" / ".." / "elsewhere"), str(tmp_path / "local-path")):
        volumes = manager(tmp_path, [claim()], [local_pv(escaping)])
        with pytest.raises(VolumeError, match=r"is not inside .*refusing to mount it"):
            volumes.setup(pod(claim_volume()))
    assert not (tmp_path / "elsewhere").exists()


def test_a_static_local_volume_must_exist_and_host_path_volumes_are_created_as_asked(tmp_path):
    missing = manager(tmp_path, [claim()], [local_pv(str(tmp_path / "nope"), provisioned=False)])
    with pytest.raises(VolumeError, match="does not exist"):
        missing.setup(pod(claim_volume()))
    wanted = tmp_path / "made"
    host = {"metadata": {"name": "pv1"}, "spec": {"hostPath": {"path": str(wanted), "type": "DirectoryOrCreate"}}}
    assert manager(tmp_path, [claim()], [host]).setup(pod(claim_volume())) == {"data": str(wanted)}
    assert wanted.is_dir()


def test_nfs_is_mounted_once_under_the_pod_and_unmounted_before_the_pod_directory_goes(tmp_path):
    mounter = FakeMounter()
    nfs_pv = {"metadata": {"name": "pv1"}, "spec": {"nfs": {"server": "10.0.0.5", "path": "/srv", "readOnly": True}}}
    volumes = manager(tmp_path, [claim()], [nfs_pv], mounter=mounter)
    inline = {"name": "shared", "nfs": {"server": "10.0.0.5", "path": "/export"}}
    paths = volumes.setup(pod(claim_volume(), inline))
    volumes.setup(pod(claim_volume(), inline))  # a resync mounts nothing more
    target = tmp_path / "root" / "pods" / "u1" / "volumes" / "kubernetes.io~nfs"
    assert paths == {"data": str(target / "data"), "shared": str(target / "shared")}
    assert [c for c in mounter.calls if c[0] == "mount"] == [
        ("mount", "10.0.0.5", "/srv", str(target / "data"), True),
        ("mount", "10.0.0.5", "/export", str(target / "shared"), False)]
    assert volumes.read_only("u1", "data") and not volumes.read_only("u1", "shared")
    volumes.cleanup("u1")
    assert mounter.mounted == [] and not (tmp_path / "root" / "pods" / "u1").exists()


def test_a_pod_directory_with_a_mount_that_will_not_go_is_kept(tmp_path):
    class Stuck(FakeMounter):
        def unmount(self, target):
            from kubeling.kubelet.mount import MountError
            raise MountError("umount: target is busy")

    mounter = Stuck()
    volumes = manager(tmp_path, mounter=mounter)
    volumes.setup(pod({"name": "shared", "nfs": {"server": "s", "path": "/export"}}))
    (Path(mounter.mounted[0]) / "precious").write_text("data on the share")
    volumes.cleanup("u1")
    assert (Path(mounter.mounted[0]) / "precious").exists()


def test_the_nfs_mount_command():
    assert nfs_command("10.0.0.5", "/srv", "/t") == ["mount", "-t", "nfs", "10.0.0.5:/srv", "/t"]
    assert nfs_command("fd00::5", "/srv", "/t", read_only=True) == ["mount", "-t", "nfs", "-o", "ro",
                                                                    "[fd00::5]:/srv", "/t"]


def test_mounts_under_reads_mountinfo(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text("36 35 98:0 / /mnt/pods/u1/volumes/x rw - nfs s:/e rw\n"
                    "37 35 98:0 / /mnt/pods/u1 rw - tmpfs t rw\n38 35 98:0 / /mnt/pods/u10 rw - tmpfs t rw\n")
    assert Mounter(str(info)).mounts_under(Path("/mnt/pods/u1")) == [Path("/mnt/pods/u1/volumes/x"),
                                                                      Path("/mnt/pods/u1")]


def deleted_volume(policy="Delete", node="n1", path="/var/lib/kubeling/local-path/pvc-1"):
    return {"metadata": {"name": "pvc-1", "deletionTimestamp": "now", "finalizers": [storage.LOCAL_PATH_FINALIZER],
                         "annotations": {storage.PROVISIONED_BY: storage.LOCAL_PATH_PROVISIONER}},
            "spec": {"persistentVolumeReclaimPolicy": policy, "local": {"path": path},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}


def test_which_deleted_volumes_a_node_cleans_up():
    base = storage.LOCAL_PATH_DIR
    assert cleanup_action(deleted_volume(), "n1", base) == "delete"
    assert cleanup_action(deleted_volume(policy="Retain"), "n1", base) == "release"
    assert cleanup_action(deleted_volume(), "n2", base) is None
    assert cleanup_action(deleted_volume(path="/etc"), "n1", base) == "release"  # never rm -rf outside its dir
    alive = deleted_volume()
    del alive["metadata"]["deletionTimestamp"]
    assert cleanup_action(alive, "n1", base) is None


def test_a_kubelet_may_update_only_the_local_path_volumes_of_its_own_node():
    from kubeling.api.rbac import Attributes, UserInfo
    from kubeling.apiserver.authz import NodeAuthorizer

    class OneVolume:
        def try_get(self, rtype, namespace, name):
            volumes = {"pvc-1": deleted_volume(node="n1"), "static": {"metadata": {"name": "static"}, "spec": {}}}
            return volumes.get(name)

    authorizer = NodeAuthorizer(OneVolume())

    def allowed(node, name, verb="patch"):
        user = UserInfo(f"system:node:{node}", ("system:nodes", "system:authenticated"))
        attrs = Attributes(verb=verb, resource_request=True, api_version="v1", resource="persistentvolumes",
                           name=name)
        return authorizer.authorize(user, attrs).allowed

    assert allowed("n1", "pvc-1") is True
    assert allowed("n1", "pvc-1", verb="update") is True
    assert not allowed("n2", "pvc-1")
    assert not allowed("n1", "static")
    assert not allowed("n1", "pvc-1", verb="delete")
