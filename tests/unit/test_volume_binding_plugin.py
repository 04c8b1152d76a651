"""The scheduler's VolumeBinding plugin through the default framework: where a pod with claims may go, the
messages a user sees when it may go nowhere, and what PreBind writes for WaitForFirstConsumer claims."""

import uuid

from kubeling.api import storage
from kubeling.scheduler.framework import Code, PodInfo
from kubeling.scheduler.generic import Framework, schedule, snapshot
from support import builders
from support.builders import node


class FakeVolumes:
    """In-memory claims, volumes and classes; records what PreBind writes."""

    def __init__(self, claims=(), volumes=(), classes=(), bind_after_prebind=True):
        self.claims = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in claims}
        self.pvs = {v["metadata"]["name"]: v for v in volumes}
        self.classes = {c["metadata"]["name"]: c for c in classes}
        self.selected: list[tuple[str, str]] = []
        self.pre_bound: list[tuple[str, str]] = []
        self.bind_after_prebind = bind_after_prebind

    def claim(self, namespace, name):
        return self.claims.get((namespace, name))

    def volume(self, name):
        return self.pvs.get(name)

    def volumes(self):
        return list(self.pvs.values())

    def storage_class(self, name):
        return self.classes.get(name)

    def pre_bind_volume(self, pv, claim):
        self.pre_bound.append((pv["metadata"]["name"], claim["metadata"]["name"]))

    def select_node(self, claim, node_name):
        self.selected.append((claim["metadata"]["name"], node_name))

    def wait_bound(self, namespace, names, timeout):
        return self.bind_after_prebind


def storage_class(name="local-path", mode="WaitForFirstConsumer", provisioner=storage.LOCAL_PATH_PROVISIONER,
                  **extra):
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": provisioner, "volumeBindingMode": mode, **extra}


def claim(name="data", class_name="local-path", size="1Gi", volume=None, phase="Pending"):
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}},
            "storageClassName": class_name}
    if volume:
        spec["volumeName"] = volume
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4())},
            "spec": spec, "status": {"phase": phase}}


def volume(name="pv1", on_node=None, class_name="local-path", size="1Gi", claim_ref=None, phase="Available"):
    spec = {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}, "storageClassName": class_name,
            "local": {"path": f"/mnt/{name}"}}
    if on_node:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [on_node]}]}]}}
    if claim_ref:
        spec["claimRef"] = claim_ref
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec,
            "status": {"phase": phase}}


def pod_with(*claim_names):
    return builders.pod("web", "default", uid=str(uuid.uuid4()), containers=[builders.container()],
                        volumes=[{"name": n, "persistentVolumeClaim": {"claimName": n}} for n in claim_names])


NODES = [node("n1"), node("n2")]


def run(fake, pod, nodes=NODES):
    info = PodInfo(pod)
    framework = Framework(volumes=fake)
    return framework, info, schedule(framework, info, snapshot(nodes))


def test_a_pod_without_claims_is_not_the_plugins_business():
    _, _, result = run(FakeVolumes(), builders.pod("p", "default", containers=[builders.container()]))
    assert result.node in ("n1", "n2")


def test_a_missing_claim_keeps_the_pod_pending_with_upstreams_message():
    _, _, result = run(FakeVolumes(), pod_with("x"))
    assert result.node is None
    assert result.message == ('0/2 nodes are available: persistentvolumeclaim "x" not found. preemption: 0/2 '
                              'nodes are available: 2 Preemption is not helpful for scheduling.')


def test_a_claim_being_deleted_is_refused():
    doomed = claim()
    doomed["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    _, _, result = run(FakeVolumes([doomed], classes=[storage_class()]), pod_with("data"))
    assert 'persistentvolumeclaim "data" is being deleted' in result.message


def test_an_unbound_immediate_claim_waits_for_the_binder():
    fake = FakeVolumes([claim(class_name="fast")], classes=[storage_class("fast", mode="Immediate")])
    _, _, result = run(fake, pod_with("data"))
    assert result.message.startswith("0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.")


def test_a_claim_of_an_unknown_class_counts_as_immediate():
    _, _, result = run(FakeVolumes([claim(class_name="nope")]), pod_with("data"))
    assert "pod has unbound immediate PersistentVolumeClaims" in result.message


def test_a_bound_volume_with_node_affinity_takes_the_pod_to_its_node():
    fake = FakeVolumes([claim(volume="pv1", phase="Bound")], [volume("pv1", on_node="n2", phase="Bound")])
    for _ in range(5):
        assert run(fake, pod_with("data"))[2].node == "n2"


def test_a_bound_volume_on_a_missing_node_gives_the_affinity_conflict():
    fake = FakeVolumes([claim(volume="pv1", phase="Bound")], [volume("pv1", on_node="gone", phase="Bound")])
    _, _, result = run(fake, pod_with("data"))
    assert result.node is None
    assert result.message == ("0/2 nodes are available: 2 node(s) had volume node affinity conflict. preemption: "
                              "0/2 nodes are available: 2 Preemption is not helpful for scheduling.")


def test_a_wait_for_first_consumer_claim_is_provisioned_on_the_chosen_node():
    fake = FakeVolumes([claim()], classes=[storage_class()])
    framework, info, result = run(fake, pod_with("data"))
    assert result.node in ("n1", "n2")
    assert framework.pre_bind(info, result.node).code is Code.SUCCESS
    assert fake.selected == [("data", result.node)]
    assert fake.pre_bound == []


def test_a_static_volume_is_preferred_and_pre_bound_and_restricts_the_node():
    fake = FakeVolumes([claim()], [volume("pv1", on_node="n1")], classes=[storage_class()])
    framework, info, result = run(fake, pod_with("data"), nodes=[node("n1")])
    assert result.node == "n1"
    assert framework.pre_bind(info, "n1").code is Code.SUCCESS
    assert fake.pre_bound == [("pv1", "data")] and fake.selected == []


def test_too_small_or_taken_volumes_do_not_count():
    other = {"namespace": "default", "name": "other", "uid": "u"}
    fake = FakeVolumes([claim(size="5Gi")], [volume("small", size="1Gi"), volume("taken", size="9Gi",
                                                                                  claim_ref=other)],
                       classes=[storage_class()])
    framework, info, result = run(fake, pod_with("data"))
    framework.pre_bind(info, result.node)
    assert fake.pre_bound == [] and fake.selected == [("data", result.node)]


def test_without_a_provisioner_a_node_without_a_volume_does_not_fit():
    no_provisioner = storage_class("manual", provisioner=storage.NO_PROVISIONER)
    fake = FakeVolumes([claim(class_name="manual")], [volume("pv1", on_node="n1", class_name="manual")],
                       classes=[no_provisioner])
    _, _, result = run(fake, pod_with("data"))
    assert result.node == "n1"
    assert result.statuses["n2"].reasons == ("node(s) didn't find available persistent volumes to bind",)


def test_allowed_topologies_limit_where_a_volume_is_provisioned():
    zoned = storage_class(allowedTopologies=[{"matchLabelExpressions": [
        {"key": "kubernetes.io/hostname", "values": ["n2"]}]}])
    fake = FakeVolumes([claim()], classes=[zoned])
    assert run(fake, pod_with("data"))[2].node == "n2"


def test_pre_bind_fails_when_the_claims_are_not_bound_in_time():
    fake = FakeVolumes([claim()], classes=[storage_class()], bind_after_prebind=False)
    framework, info, result = run(fake, pod_with("data"))
    status = framework.pre_bind(info, result.node)
    assert status.code is Code.ERROR and status.plugin == "VolumeBinding"
    assert "timed out" in status.reasons[0]


def test_pre_bind_does_nothing_when_every_claim_is_bound():
    fake = FakeVolumes([claim(volume="pv1", phase="Bound")], [volume("pv1", phase="Bound")])
    framework, info, result = run(fake, pod_with("data"))
    assert framework.pre_bind(info, result.node).code is Code.SUCCESS
    assert fake.selected == [] and fake.pre_bound == []


def test_path_inside_refuses_escapes():
    assert storage.path_inside("/var/lib/kubeling/local-path", "/var/lib/kubeling/local-path/pvc-1")
    assert not storage.path_inside("/var/lib/kubeling/local-path", "/var/lib/kubeling/local-path")
    assert not storage.path_inside("/var/lib/kubeling/local-path", "/var/lib/kubeling/local-path/../../etc")
    assert not storage.path_inside("/var/lib/kubeling/local-path", "/etc/passwd")
    assert not storage.path_inside("/var/lib/kubeling/local-path", "relative/pvc-1")
