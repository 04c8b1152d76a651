"""Persistent volumes without a cluster: which volume a claim gets, what the binder and the protection controllers
write on hand-fed caches (upstream: pkg/controller/volume/persistentvolume/index_test.go, binder_test.go,
pvcprotection/pvc_protection_controller_test.go), the admission and validation rules, and the table cells."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubeling.api import printers, storage
from kubeling.api.resources import lookup
from kubeling.api.validation import validate
from kubeling.apiserver.strategies.core.persistentvolume import PersistentVolumeClaimStrategy
from kubeling.controllers.persistentvolume import (
    PersistentVolumeController,
    PVCProtectionController,
    PVProtectionController,
)
from kubeling.controllers.persistentvolume.index import find_matching_volume, mismatch
from kubeling.controllers.persistentvolume.protection import pod_uses_claim
from kubeling.controllers.statefulset import new_claims, new_pod
from support.builders import pod
from support.fakeclient import controller_fixture

PV = lookup("", "persistentvolumes")
PVC = lookup("", "persistentvolumeclaims")
SC = lookup("storage.k8s.io", "storageclasses")

Obj = dict[str, Any]


def pv(name: str, size: str = "1Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), sc: str = "manual",
       phase: str = "Available", labels: dict | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": sc,
                     "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/srv/{name}"}, **spec},
            "status": {"phase": phase}}


def pvc(name: str = "data", size: str = "1Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), sc: str | None = "manual",
        namespace: str = "default", annotations: dict | None = None, **spec: Any) -> Obj:
    body: Obj = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, **spec}
    if sc is not None:
        body["storageClassName"] = sc
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
            "spec": body, "status": {"phase": "Pending"}}


def storage_class(name: str, provisioner: str = "example.com/p", mode: str = "Immediate", **extra: Any) -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name, **extra},
            "provisioner": provisioner, "reclaimPolicy": "Delete", "volumeBindingMode": mode}


def claim_ref(claim: Obj, uid: bool = True) -> Obj:
    ref = {"kind": "PersistentVolumeClaim", "namespace": claim["metadata"]["namespace"],
           "name": claim["metadata"]["name"]}
    if uid:
        ref["uid"] = claim["metadata"]["uid"]
    return ref


# Which volume a claim gets


def test_the_smallest_volume_with_the_fewest_modes_that_fits_is_chosen() -> None:
    volumes = [pv("small", "1Gi"), pv("big", "10Gi"), pv("mid", "5Gi"),
               pv("mid-rwx", "5Gi", ("ReadWriteOnce", "ReadWriteMany")), pv("exact-rwx", "3Gi", ("ReadWriteMany",))]
    assert find_matching_volume(pvc(size="3Gi"), volumes)["metadata"]["name"] == "mid"
    assert find_matching_volume(pvc(size="3Gi", modes=("ReadWriteMany",)), volumes)["metadata"]["name"] == "exact-rwx"
    assert find_matching_volume(pvc(size="20Gi"), volumes) is None


def test_class_selector_phase_and_reservations_rule_volumes_out() -> None:
    claim = pvc(size="1Gi", selector={"matchLabels": {"disk": "ssd"}})
    claim["metadata"]["uid"] = "u1"
    volumes = [pv("other-class", sc="fast", labels={"disk": "ssd"}), pv("no-label"),
               pv("pending", phase="Pending", labels={"disk": "ssd"}),
               pv("reserved", labels={"disk": "ssd"}, claimRef={"namespace": "default", "name": "someone"})]
    assert find_matching_volume(claim, volumes) is None
    volumes.append(pv("ssd", labels={"disk": "ssd"}))
    assert find_matching_volume(claim, volumes)["metadata"]["name"] == "ssd"


def test_a_volume_reserved_for_the_claim_wins_even_when_binding_waits_for_a_node() -> None:
    claim = pvc()
    claim["metadata"]["uid"] = "u1"
    reserved = pv("reserved", "50Gi", phase="Pending", claimRef=claim_ref(claim, uid=False))
    volumes = [pv("fits"), reserved]
    assert find_matching_volume(claim, volumes)["metadata"]["name"] == "reserved"
    assert find_matching_volume(claim, [pv("fits")], delay_binding=True) is None
    assert find_matching_volume(claim, volumes, delay_binding=True)["metadata"]["name"] == "reserved"


def test_why_a_named_volume_does_not_fit() -> None:
    assert mismatch(pv("v", "1Mi"), pvc(size="1Gi")) == "requested PV is too small"
    assert mismatch(pv("v", sc="fast"), pvc()) == "storageClassName does not match"
    assert mismatch(pv("v", volumeMode="Block"), pvc()) == "incompatible volumeMode"
    assert mismatch(pv("v", modes=("ReadOnlyMany",)), pvc()) == "incompatible accessMode"
    assert mismatch(pv("v"), pvc()) is None


# The binder


def binder() -> Any:
    return controller_fixture(PersistentVolumeController)


def test_binder_binds_both_sides_with_upstream_annotations() -> None:
    f = binder()
    (_, claim) = f.add(pv("vol"), pvc("data"))
    f.sync("claim:default/data")
    bound_pv = f.stored(PV, None, "vol")
    assert bound_pv["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert bound_pv["metadata"]["annotations"] == {storage.BOUND_BY_CONTROLLER: "yes"}
    assert bound_pv["status"]["phase"] == "Bound"
    bound_claim = f.stored(PVC, "default", "data")
    assert bound_claim["spec"]["volumeName"] == "vol"
    assert bound_claim["metadata"]["annotations"] == {storage.BOUND_BY_CONTROLLER: "yes",
                                                      storage.BIND_COMPLETED: "yes"}
    assert bound_claim["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                                     "capacity": {"storage": "1Gi"}}
    # A second sync of the bound claim changes nothing.
    f.add(bound_pv, bound_claim)
    f.client.clear()
    f.sync("claim:default/data")
    f.sync("volume:vol")
    assert f.actions() == []


def test_binder_events_for_claims_it_cannot_bind() -> None:
    f = binder()
    f.add(pvc("no-class", sc=""), pvc("unknown", sc="nope"), pvc("later", sc="wait"),
          storage_class("wait", mode="WaitForFirstConsumer"))
    for name in ("no-class", "unknown", "later"):
        f.sync(f"claim:default/{name}")
    assert f.recorder.events == [
        ("Normal", "FailedBinding", "no persistent volumes available for this claim and no storage class is set"),
        ("Warning", "ProvisioningFailed", 'storageclass.storage.k8s.io "nope" not found'),
        ("Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding"),
    ]
    assert [a for a in f.actions() if a.subresource != "status"] == []


def test_binder_asks_the_class_provisioner_once_a_node_is_chosen() -> None:
    f = binder()
    f.add(storage_class("wait", provisioner="kubeling.io/local-path", mode="WaitForFirstConsumer"),
          pvc("data", sc="wait", annotations={storage.SELECTED_NODE: "node-1"}))
    f.sync("claim:default/data")
    annotations = f.stored(PVC, "default", "data")["metadata"]["annotations"]
    assert annotations[storage.STORAGE_PROVISIONER] == annotations[storage.BETA_STORAGE_PROVISIONER] == \
        "kubeling.io/local-path"
    assert f.recorder.reasons() == ["ExternalProvisioning"]


def test_a_volume_whose_claim_is_gone_is_released_and_reclaimed() -> None:
    f = binder()
    gone = {"metadata": {"namespace": "default", "name": "old", "uid": "gone-uid"}}
    f.add(pv("kept", phase="Bound", claimRef=claim_ref(gone)),
          pv("dropped", phase="Bound", claimRef=claim_ref(gone), persistentVolumeReclaimPolicy="Delete"),
          pv("recycled", phase="Bound", claimRef=claim_ref(gone), persistentVolumeReclaimPolicy="Recycle"))
    for name in ("kept", "dropped", "recycled"):
        f.sync(f"volume:{name}")
    assert f.stored(PV, None, "kept")["status"]["phase"] == "Released"
    assert f.stored(PV, None, "dropped") is None
    assert f.stored(PV, None, "recycled")["status"]["phase"] == "Failed"
    assert f.recorder.reasons() == ["VolumeFailedRecycle"]


def test_a_claim_whose_volume_is_gone_is_lost() -> None:
    f = binder()
    f.add(pvc("data", volumeName="vanished", annotations={storage.BIND_COMPLETED: "yes"}))
    f.sync("claim:default/data")
    assert f.stored(PVC, "default", "data")["status"]["phase"] == "Lost"
    assert f.recorder.events == [("Warning", "ClaimLost",
                                  "Bound claim has lost its PersistentVolume. Data on the volume is lost!")]


# Protection


def test_a_claim_is_in_use_by_scheduled_unfinished_pods_naming_it() -> None:
    volumes = [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]
    assert pod_uses_claim(pod("p", node="n1", volumes=volumes), "data")
    assert not pod_uses_claim(pod("p", node="n1", volumes=volumes), "other")
    assert not pod_uses_claim(pod("p", volumes=volumes), "data")  # not scheduled: nothing started
    assert not pod_uses_claim(pod("p", node="n1", phase="Succeeded", volumes=volumes), "data")


def test_pvc_protection_keeps_the_finalizer_while_a_pod_uses_the_claim() -> None:
    f = controller_fixture(PVCProtectionController)
    deleted = pvc("data")
    deleted["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", finalizers=[storage.PVC_PROTECTION])
    user = pod("user", "default", node="n1", volumes=[{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}])
    (_, stored_pod) = f.add(deleted, user)
    f.sync("default/data")
    assert f.actions() == []
    f.remove(stored_pod)
    f.client.delete(lookup("", "pods"), "user", "default")
    f.client.clear()
    f.sync("default/data")
    assert f.stored(PVC, "default", "data")["metadata"]["finalizers"] == []
    # A claim without the finalizer (made before protection existed) gets it.
    f.add(pvc("plain"))
    f.sync("default/plain")
    assert f.stored(PVC, "default", "plain")["metadata"]["finalizers"] == [storage.PVC_PROTECTION]


def test_pv_protection_lets_go_of_a_volume_once_it_is_not_bound() -> None:
    f = controller_fixture(PVProtectionController)
    volume = pv("vol", phase="Bound")
    volume["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", finalizers=[storage.PV_PROTECTION])
    f.add(volume)
    f.sync("vol")
    assert f.actions() == []
    volume["status"]["phase"] = "Released"
    f.add(volume)
    f.sync("vol")
    assert f.stored(PV, None, "vol")["metadata"]["finalizers"] == []


# Admission and validation


def test_the_default_class_is_the_newest_marked_one_and_only_for_claims_naming_none() -> None:
    marked = {"annotations": {storage.DEFAULT_CLASS_ANNOTATION: "true"}}
    classes = [storage_class("old", **marked, creationTimestamp="2026-01-01T00:00:00Z"),
               storage_class("new", **marked, creationTimestamp="2026-02-01T00:00:00Z"),
               storage_class("plain", creationTimestamp="2026-03-01T00:00:00Z")]
    strategy = PersistentVolumeClaimStrategy(lambda: classes)
    for claim, expected in ((pvc(sc=None), "new"), (pvc(sc=""), ""), (pvc(sc="plain"), "plain")):
        strategy.prepare_for_create(claim, "data")
        assert claim["spec"]["storageClassName"] == expected
        assert claim["metadata"]["finalizers"] == [storage.PVC_PROTECTION]
    no_default = pvc(sc=None)
    PersistentVolumeClaimStrategy(lambda: classes[2:]).prepare_for_create(no_default, "data")
    assert "storageClassName" not in no_default["spec"]


def fields(kind: str, obj: Obj, old: Obj | None = None) -> list[str]:
    return [f"{c['field']}: {c['message']}" for c in validate({"PersistentVolume": PV, "PersistentVolumeClaim": PVC,
                                                              "StorageClass": SC}[kind], obj, old)]


def test_volume_validation_names_the_field() -> None:
    two = pv("two", nfs={"server": "10.0.0.1", "path": "/x"})
    assert fields("PersistentVolume", two) == ["spec.nfs: Forbidden: may not specify more than 1 volume type"]
    none = pv("none")
    del none["spec"]["hostPath"]
    assert fields("PersistentVolume", none) == ["spec: Required value: must specify a volume type"]
    local = pv("local", local={"path": "/mnt/disk"})
    del local["spec"]["hostPath"]
    assert fields("PersistentVolume", local) == ["spec.nodeAffinity: Required value: Local volume requires node "
                                                 "affinity"]
    assert fields("PersistentVolume", pv("modes", modes=("Sometimes",))) == [
        'spec.accessModes: Unsupported value: "Sometimes": supported values: "ReadOnlyMany", "ReadWriteMany", '
        '"ReadWriteOnce", "ReadWriteOncePod"']
    assert fields("PersistentVolume", pv("dots", hostPath={"path": "/a/../b"})) == [
        "spec.hostPath.path: Invalid value: \"/a/../b\": must not contain '..'"]
    moved = pv("v", hostPath={"path": "/elsewhere"})
    assert fields("PersistentVolume", moved, pv("v"))[0].startswith("spec.persistentvolumesource: Invalid value")


def test_claim_validation_and_what_may_change() -> None:
    assert fields("PersistentVolumeClaim", pvc(size="lots")) == [
        "spec.resources[storage]: Invalid value: \"lots\": quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"]
    assert fields("PersistentVolumeClaim", pvc(modes=())) == [
        "spec.accessModes: Required value: at least 1 access mode is required"]
    old = pvc()
    bound_old = {**pvc(), "status": {"phase": "Bound"}}
    named = pvc(volumeName="vol")  # the binder sets volumeName once
    assert fields("PersistentVolumeClaim", named, old) == []
    assert fields("PersistentVolumeClaim", pvc(modes=("ReadWriteMany",)), old) == [
        "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName "
        "for bound claims"]
    grown = {**pvc(size="2Gi"), "status": {"phase": "Bound"}}
    assert fields("PersistentVolumeClaim", grown, bound_old) == []
    shrunk = {**pvc(size="1Mi"), "status": {"phase": "Bound"}}
    assert fields("PersistentVolumeClaim", shrunk, bound_old) == [
        "spec.resources.requests.storage: Forbidden: field can not be less than previous value"]


def test_storage_class_validation() -> None:
    sc = storage_class("sc")
    assert fields("StorageClass", sc) == []
    assert fields("StorageClass", {**sc, "provisioner": "other"}, sc) == [
        "provisioner: Forbidden: updates to provisioner are forbidden."]
    assert fields("StorageClass", {**sc, "reclaimPolicy": "Recycle"}) == [
        'reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"']


# StatefulSet claims


def test_statefulset_claims_and_the_pod_volumes_naming_them() -> None:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "db", "namespace": "default", "uid": "sts-uid"},
           "spec": {"selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "c", "image": "i"}],
                                          "volumes": [{"name": "data", "emptyDir": {}},
                                                      {"name": "tmp", "emptyDir": {}}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"t": "x"}},
                                              "spec": {"accessModes": ["ReadWriteOnce"]},
                                              "status": {"phase": "Pending"}}]}}
    (claim,) = new_claims(sts, 2)
    assert claim["metadata"] == {"name": "data-db-2", "namespace": "default", "labels": {"t": "x", "app": "db"}}
    assert "status" not in claim
    assert new_pod(sts, 2, "rev")["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-2"}}, {"name": "tmp", "emptyDir": {}}]
    sts["spec"]["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Delete"}
    (owned,) = new_claims(sts, 0)
    assert owned["metadata"]["ownerReferences"][0]["uid"] == "sts-uid"


# Tables


def test_table_cells() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    volume = pv("vol", "5Gi", ("ReadWriteMany", "ReadWriteOnce"), phase="Bound",
                claimRef={"namespace": "ns", "name": "data"})
    (row,) = printers.to_table(PV, [volume], now=now)["rows"]
    assert row["cells"][:9] == ["vol", "5Gi", "RWO,RWX", "Retain", "Bound", "ns/data", "manual", "<unset>", ""]
    claim = pvc("data", volumeName="vol")
    claim["status"] = {"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"]}
    claim["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    (row,) = printers.to_table(PVC, [claim], now=now)["rows"]
    assert row["cells"][:7] == ["data", "Terminating", "vol", "5Gi", "RWO", "manual", "<unset>"]
    marked = storage_class("fast", annotations={storage.DEFAULT_CLASS_ANNOTATION: "true"})
    (row,) = printers.to_table(SC, [marked], now=now)["rows"]
    assert row["cells"][:5] == ["fast (default)", "example.com/p", "Delete", "Immediate", False]


def test_a_claim_made_before_any_default_class_gets_it_later() -> None:
    f = binder()
    f.add(pvc("early", sc=None), pvc("none", sc=""),
          storage_class("std", annotations={storage.DEFAULT_CLASS_ANNOTATION: "true"}))
    f.sync("claim:default/early")
    f.sync("claim:default/none")
    assert f.stored(PVC, "default", "early")["spec"]["storageClassName"] == "std"
    assert f.stored(PVC, "default", "none")["spec"]["storageClassName"] == ""
    assert fields("PersistentVolumeClaim", f.stored(PVC, "default", "early"), pvc("early", sc=None)) == []
