"""The per-kind strategies of the API server, as pure logic: what each kind does to an object on create, update
and delete (the generic registry that calls them is exercised end to end in tests/e2e/test_api_machinery.py)."""

from __future__ import annotations

import pytest

from kubeling.api import errors
from kubeling.api.resources import RESOURCES, lookup
from kubeling.apiserver import strategies

# Pods, Jobs and Namespaces need no allocator: only the Service strategy uses them.
TABLE = strategies.build(None, None, (300, 300))  # type: ignore[arg-type]


def strategy(group: str, plural: str) -> strategies.Strategy:
    return TABLE[(group, plural)]


def new(kind: str, api_version: str = "v1", **fields: object) -> dict:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "x", "namespace": "ns", "uid": "uid-x"}, **fields}


def test_every_served_resource_has_its_strategy() -> None:
    stored = [r for r in RESOURCES if not r.create_only]
    assert {(r.group, r.plural) for r in stored} <= set(TABLE)
    for key, entry in TABLE.items():
        assert (entry.rtype.group, entry.rtype.plural) == key


def test_controller_owned_status_is_reset_on_create() -> None:
    deployment = new("Deployment", "apps/v1", spec={"replicas": 2}, status={"replicas": 99})
    strategy("apps", "deployments").prepare_for_create(deployment, "x")
    assert deployment["status"] == {} and deployment["metadata"]["generation"] == 1
    # A ConfigMap has no spec and no status of a controller's: neither is touched.
    config_map = new("ConfigMap", data={"a": "b"})
    strategy("", "configmaps").prepare_for_create(config_map, "x")
    assert "generation" not in config_map["metadata"] and "status" not in config_map


def test_update_keeps_the_status_and_counts_spec_changes() -> None:
    old = new("Deployment", "apps/v1", spec={"replicas": 1}, status={"replicas": 1})
    old["metadata"]["generation"] = 3
    changed = new("Deployment", "apps/v1", spec={"replicas": 2}, status={"replicas": 42})
    changed["metadata"]["generation"] = 3
    strategy("apps", "deployments").prepare_for_update(changed, old)
    assert changed["status"] == {"replicas": 1}
    assert changed["metadata"]["generation"] == 4


def test_a_status_write_changes_only_the_status() -> None:
    old = new("Pod", spec={"nodeName": "n1"}, status={"phase": "Pending"})
    sent = new("Pod", spec={"nodeName": "elsewhere"}, status={"phase": "Running"})
    stored = strategy("", "pods").prepare_for_status_update(sent, old)
    assert stored["spec"] == {"nodeName": "n1"} and stored["status"] == {"phase": "Running"}


def test_job_selector_is_generated_from_its_uid_unless_manual() -> None:
    job = new("Job", "batch/v1", spec={"template": {"spec": {"containers": []}}})
    strategy("batch", "jobs").prepare_for_create(job, "x")
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-x"}}
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "x"
    manual = new("Job", "batch/v1", spec={"manualSelector": True, "selector": {"matchLabels": {"a": "b"}},
                                          "template": {"spec": {"containers": []}}})
    strategy("batch", "jobs").prepare_for_create(manual, "x")
    assert manual["spec"]["selector"] == {"matchLabels": {"a": "b"}}


def test_pod_gets_default_toleration_seconds_on_create() -> None:
    pod = new("Pod", spec={"containers": [{"name": "c", "image": "busybox"}]})
    strategy("", "pods").prepare_for_create(pod, "x")
    tolerations = {t["key"]: t["tolerationSeconds"] for t in pod["spec"]["tolerations"]}
    assert tolerations == {"node.kubernetes.io/not-ready": 300, "node.kubernetes.io/unreachable": 300}


@pytest.mark.parametrize(("spec", "status", "meta", "requested", "grace"), [
    ({}, {}, {}, None, 0),  # unscheduled: no kubelet to wait for
    ({"nodeName": "n1"}, {"phase": "Succeeded"}, {}, None, 0),  # finished
    ({"nodeName": "n1"}, {}, {}, None, 30),  # upstream's default
    ({"nodeName": "n1", "terminationGracePeriodSeconds": 5}, {}, {}, None, 5),
    ({"nodeName": "n1"}, {}, {}, 0, 0),  # --grace-period=0
    ({"nodeName": "n1"}, {}, {"deletionGracePeriodSeconds": 10}, 60, 10),  # never lengthened
    ({"nodeName": "n1"}, {}, {"deletionGracePeriodSeconds": 10}, 2, 2),  # may be shortened
])
def test_pod_grace_period(spec: dict, status: dict, meta: dict, requested: int | None, grace: int) -> None:
    pod = new("Pod", spec=spec, status=status)
    pod["metadata"].update(meta)
    assert strategy("", "pods").grace_period(pod, requested) == grace


def test_other_kinds_go_at_once() -> None:
    assert strategy("", "configmaps").grace_period(new("ConfigMap"), 30) == 0


def test_namespace_phases_and_its_finalizers() -> None:
    namespaces = strategy("", "namespaces")
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}, "status": {"phase": "Gone"}}
    namespaces.prepare_for_create(ns, "team")
    assert ns["status"]["phase"] == "Active" and ns["spec"]["finalizers"] == ["kubernetes"]
    assert namespaces.holds_deletion(ns)
    namespaces.prepare_for_delete(ns, 0)
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    ns["spec"]["finalizers"] = []
    assert not namespaces.holds_deletion(ns)


def test_system_namespaces_may_not_be_deleted() -> None:
    with pytest.raises(errors.StatusError) as caught:
        strategy("", "namespaces").check_delete("kube-system")
    assert caught.value.code == 403
    strategy("", "namespaces").check_delete("team")  # any other may


def test_a_second_delete_shortens_the_grace_period_never_lengthens_it() -> None:
    pods = strategy("", "pods")
    pod = new("Pod")
    pods.prepare_for_delete(pod, 30)
    first = pod["metadata"]["deletionTimestamp"]
    pods.prepare_for_delete(pod, 60)
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30 and pod["metadata"]["deletionTimestamp"] == first
    pods.prepare_for_delete(pod, 0)
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 0


def test_field_selectors_per_kind() -> None:
    assert "spec.nodeName" in strategy("", "pods").field_selectors
    assert "status.phase" in strategy("", "namespaces").field_selectors
    assert strategy("", "configmaps").field_selectors == {"metadata.name", "metadata.namespace"}


def test_a_type_the_server_was_not_built_with_gets_the_default_strategy() -> None:
    from kubeling.apiserver.registry import Registry

    registry = Registry(None, {})  # type: ignore[arg-type]
    assert type(registry.strategy(lookup("", "pods"))) is strategies.Strategy  # type: ignore[arg-type]
