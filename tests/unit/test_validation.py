"""Validation: what a user sees in `details.causes` when kubectl sends a bad object."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeling.api import resources
from kubeling.api.validation import validate, validate_name

R = {r.kind: r for r in resources.RESOURCES}



def full(cause: dict) -> str:
    """The cause as upstream prints it in the summary: `field: message`."""
    return f"{cause['field']}: {cause['message']}" if cause.get("field") else cause["message"]

def meta(name: str = "web", namespace: str | None = "default", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, **extra}
    if namespace is not None:
        out["namespace"] = namespace
    return out


def nginx_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("nginx", labels={"app": "nginx", "app.kubernetes.io/name": "nginx"}),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}, "annotations": {"example.com/owner": "team-a"}},
                "spec": {
                    "containers": [{
                        "name": "nginx",
                        "image": "nginx:1.27",
                        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "MODE", "value": "prod"}],
                        "resources": {"limits": {"cpu": 0.5, "memory": "128Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                    }],
                },
            },
        },
    }


def two_port_service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("web"),
        "spec": {
            "type": "NodePort",
            "selector": {"app": "nginx"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": 9090, "nodePort": 30090},
            ],
        },
    }


def job() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta("pi"),
        "spec": {
            "completions": 1, "parallelism": 1, "backoffLimit": 4,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "pi", "image": "perl:5.34", "command": ["perl", "-e", "print 1"]}],
            }},
        },
    }


def cronjob() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta("hello"),
        "spec": {
            "schedule": "*/5 * * * mon-fri",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "hello", "image": "busybox:1.36", "args": ["date"]}],
            }}}},
        },
    }


def pod_with_volumes() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta("app", labels={"app": "demo"}),
        "spec": {
            "restartPolicy": "Always",
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "config", "configMap": {"name": "app-config", "defaultMode": 420}},
            ],
            "initContainers": [{"name": "init", "image": "busybox", "volumeMounts": [
                {"name": "data", "mountPath": "/data"}]}],
            "containers": [{
                "name": "app",
                "image": "busybox",
                "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "config", "mountPath": "/etc/app"}],
                "ports": [{"containerPort": 8080, "hostPort": 0}],
            }],
            "tolerations": [{"key": "example.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }


def workload(kind: str) -> dict[str, Any]:
    obj = nginx_deployment()
    obj["kind"] = kind
    spec = obj["spec"]
    del spec["strategy"]
    if kind == "DaemonSet":
        del spec["replicas"]
    if kind == "StatefulSet":
        spec["serviceName"] = "nginx"
    return obj


def causes(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    return [(c["field"], c["reason"]) for c in validate(R[kind], obj, old)]


def only(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, str]:
    found = validate(R[kind], obj, old)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------------------------------- valid input


@pytest.mark.parametrize(("kind", "build"), [
    ("Deployment", nginx_deployment),
    ("Service", two_port_service),
    ("Job", job),
    ("CronJob", cronjob),
    ("Pod", pod_with_volumes),
    ("ReplicaSet", lambda: workload("ReplicaSet")),
    ("DaemonSet", lambda: workload("DaemonSet")),
    ("StatefulSet", lambda: workload("StatefulSet")),
])
def test_realistic_manifests_are_valid(kind, build):
    assert validate(R[kind], build()) == []


def test_other_realistic_objects_are_valid():
    assert validate(R["Namespace"], {"metadata": {"name": "team-a"}, "spec": {"finalizers": ["kubernetes"]}}) == []
    assert validate(R["ConfigMap"], {"metadata": meta("cfg"), "data": {"app.properties": "a=1", "KEY_2": ""}}) == []
    assert validate(R["Secret"], {"metadata": meta("s"), "type": "Opaque", "data": {"password": "aHVudGVyMg=="},
                                  "stringData": {"user": "admin"}}) == []
    assert validate(R["Node"], {"metadata": {"name": "node-1"}, "spec": {"podCIDR": "10.244.1.0/24"}}) == []
    assert validate(R["Endpoints"], {"metadata": meta("web"), "subsets": [{
        "addresses": [{"ip": "172.17.0.4"}], "ports": [{"port": 80, "protocol": "TCP"}]}]}) == []
    assert validate(R["Event"], {"metadata": meta("web.17f"), "involvedObject": {
        "kind": "Pod", "name": "web", "namespace": "default"}, "reason": "Scheduled"}) == []
    assert validate(R["Lease"], {"metadata": meta("node-1", "kube-node-lease"),
                                 "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}}) == []
    assert validate(R["ServiceAccount"], {"metadata": meta("default")}) == []


def test_headless_service_needs_no_ports_and_externalname_needs_no_ports():
    headless = {"metadata": meta("db"), "spec": {"clusterIP": "None", "selector": {"app": "db"}}}
    external = {"metadata": meta("ext"), "spec": {"type": "ExternalName", "externalName": "example.com"}}
    assert validate(R["Service"], headless) == []
    assert validate(R["Service"], external) == []


def test_null_fields_mean_unset():
    obj = nginx_deployment()
    obj["spec"]["replicas"] = None
    obj["metadata"]["annotations"] = None
    assert validate(R["Deployment"], obj) == []


# ---------------------------------------------------------------------------------------------------- metadata


def test_name_is_required():
    obj = nginx_deployment()
    del obj["metadata"]["name"]
    cause = only("Deployment", obj)
    assert (cause["field"], cause["reason"]) == ("metadata.name", "FieldValueRequired")
    assert full(cause) == "metadata.name: Required value: name or generateName is required"


def test_name_must_be_a_dns_subdomain_with_upstream_message():
    obj = nginx_deployment()
    obj["metadata"]["name"] = "Web_1"
    cause = only("Deployment", obj)
    assert cause["field"] == "metadata.name"
    assert cause["reason"] == "FieldValueInvalid"
    assert full(cause) == (
        'metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of lower case '
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )


def test_dotted_names_are_fine_for_pods_but_not_namespaces_or_services():
    assert validate_name(R["Pod"], "web.v1") == []
    assert validate_name(R["Event"], "web-5d8f.17f3a1b2c3") == []
    assert validate_name(R["Namespace"], "team.a") != []
    assert validate_name(R["Service"], "web.v1") != []
    assert validate_name(R["Service"], "1web") != []  # Service names are DNS-1035: start with a letter
    assert "RFC 1123 label" in validate_name(R["Namespace"], "Team")[0]


def test_name_length_limits():
    assert validate_name(R["ConfigMap"], "a" * 253) == []
    assert validate_name(R["ConfigMap"], "a" * 254) == ["must be no more than 253 characters"]
    assert validate_name(R["Namespace"], "a" * 63) == []
    assert validate_name(R["Namespace"], "a" * 64) == ["must be no more than 63 characters"]


def test_namespace_format_and_presence():
    obj = nginx_deployment()
    obj["metadata"]["namespace"] = "Bad_NS"
    assert causes("Deployment", obj) == [("metadata.namespace", "FieldValueInvalid")]
    del obj["metadata"]["namespace"]
    assert causes("Deployment", obj) == [("metadata.namespace", "FieldValueRequired")]


def test_cluster_scoped_objects_may_not_have_a_namespace():
    obj = {"metadata": {"name": "node-1", "namespace": "default"}}
    assert causes("Node", obj) == [("metadata.namespace", "FieldValueForbidden")]


@pytest.mark.parametrize("key", [
    "-app", "app-", "a" * 64, "example.com/" + "a" * 64, "Example.com/app", "/app", "a/b/c", "app/", "has space",
])
def test_bad_label_keys(key):
    obj = nginx_deployment()
    obj["metadata"]["labels"] = {key: "x"}
    found = causes("Deployment", obj)
    assert found and set(found) == {("metadata.labels", "FieldValueInvalid")}


@pytest.mark.parametrize("key", ["app", "app.kubernetes.io/name", "A_b.c-9", "x" * 63, ".".join(["p" * 63] * 3) + "/n"])
def test_good_label_keys(key):
    obj = nginx_deployment()
    obj["metadata"]["labels"] = {key: "x"}
    assert validate(R["Deployment"], obj) == []


@pytest.mark.parametrize("value", ["-x", "x" * 64, "a b", "x/y"])
def test_bad_label_values(value):
    obj = nginx_deployment()
    obj["metadata"]["labels"] = {"app": value}
    assert causes("Deployment", obj) == [("metadata.labels", "FieldValueInvalid")]


def test_empty_label_value_is_fine():
    obj = nginx_deployment()
    obj["metadata"]["labels"] = {"app": ""}
    assert validate(R["Deployment"], obj) == []


def test_label_value_message_is_upstreams():
    obj = nginx_deployment()
    obj["metadata"]["labels"] = {"app": "-x"}
    assert full(only("Deployment", obj)).startswith(
        'metadata.labels: Invalid value: "-x": a valid label must be an empty string or consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
        "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    )


def test_label_values_must_be_strings():
    obj = nginx_deployment()
    obj["metadata"]["labels"] = {"tier": 1}
    cause = only("Deployment", obj)
    assert (cause["field"], cause["reason"]) == ("metadata.labels[tier]", "FieldValueTypeInvalid")


def test_labels_must_be_an_object():
    obj = nginx_deployment()
    obj["metadata"]["labels"] = []
    assert causes("Deployment", obj) == [("metadata.labels", "FieldValueTypeInvalid")]


def test_annotation_keys_and_values():
    obj = nginx_deployment()
    obj["metadata"]["annotations"] = {"bad key": "x"}
    assert causes("Deployment", obj) == [("metadata.annotations", "FieldValueInvalid")]
    obj["metadata"]["annotations"] = {"Example.com/Key": "values may be anything: / ~ !"}
    assert validate(R["Deployment"], obj) == []  # keys are checked lower-cased, as upstream does
    obj["metadata"]["annotations"] = {"note": True}
    assert causes("Deployment", obj) == [("metadata.annotations[note]", "FieldValueTypeInvalid")]


def test_total_annotation_size():
    obj = nginx_deployment()
    obj["metadata"]["annotations"] = {"big": "x" * (256 * 1024)}
    cause = only("Deployment", obj)
    assert (cause["field"], cause["reason"]) == ("metadata.annotations", "FieldValueTooLong")
    assert full(cause) == "metadata.annotations: Too long: may not be more than 262144 bytes"
    obj["metadata"]["annotations"] = {"big": "x" * (256 * 1024 - 3)}
    assert validate(R["Deployment"], obj) == []


def test_owner_references_need_api_version_kind_name_uid():
    obj = nginx_deployment()
    obj["metadata"]["ownerReferences"] = [{"apiVersion": "", "kind": "", "name": "", "uid": ""}]
    assert causes("Deployment", obj) == [
        ("metadata.ownerReferences.apiVersion", "FieldValueInvalid"),
        ("metadata.ownerReferences.kind", "FieldValueInvalid"),
        ("metadata.ownerReferences.name", "FieldValueInvalid"),
        ("metadata.ownerReferences.uid", "FieldValueInvalid"),
    ]
    obj["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "1",
                                           "controller": True}]
    assert validate(R["Deployment"], obj) == []


def test_only_one_controller_owner():
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "uid": "1", "controller": True}
    obj = nginx_deployment()
    obj["metadata"]["ownerReferences"] = [{**ref, "name": "a"}, {**ref, "name": "b"}]
    assert causes("Deployment", obj) == [("metadata.ownerReferences", "FieldValueInvalid")]


def test_finalizers_must_be_qualified_name_strings():
    obj = nginx_deployment()
    obj["metadata"]["finalizers"] = ["example.com/cleanup", "bad name"]
    assert causes("Deployment", obj) == [("metadata.finalizers", "FieldValueInvalid")]
    obj["metadata"]["finalizers"] = [1]
    assert causes("Deployment", obj) == [("metadata.finalizers[0]", "FieldValueTypeInvalid")]


# ---------------------------------------------------------------------------------------------------- types


def test_type_error_message_matches_the_schema_validator():
    obj = nginx_deployment()
    obj["spec"]["replicas"] = "three"
    cause = only("Deployment", obj)
    assert cause == {
        "reason": "FieldValueTypeInvalid",
        "field": "spec.replicas",
        "message": 'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
    }


@pytest.mark.parametrize(("path", "value", "field"), [
    (("spec", "template", "spec", "containers"), {}, "spec.template.spec.containers"),
    (("spec", "replicas"), True, "spec.replicas"),
    (("spec", "replicas"), 2.5, "spec.replicas"),
    (("spec", "selector"), "app=nginx", "spec.selector"),
    (("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"), "80",
     "spec.template.spec.containers[0].ports[0].containerPort"),
    (("spec", "template", "spec", "containers", 0, "image"), 5, "spec.template.spec.containers[0].image"),
    (("spec", "template", "spec", "containers", 0, "env", 0, "value"), 3,
     "spec.template.spec.containers[0].env[0].value"),
    (("spec", "template", "spec", "containers", 0, "resources", "limits", "cpu"), [1],
     "spec.template.spec.containers[0].resources.limits[cpu]"),
    (("spec", "strategy", "rollingUpdate", "maxSurge"), 1.5, "spec.strategy.rollingUpdate.maxSurge"),
    (("metadata",), "web", "metadata"),
    (("spec",), [], "spec"),
])
def test_wrong_json_types(path, value, field):
    obj = nginx_deployment()
    target = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert causes("Deployment", obj) == [(field, "FieldValueTypeInvalid")]


def test_int_or_string_fields_take_both():
    svc = two_port_service()
    svc["spec"]["ports"][0]["targetPort"] = 8080
    assert validate(R["Service"], svc) == []
    svc["spec"]["ports"][0]["targetPort"] = True
    assert causes("Service", svc) == [("spec.ports[0].targetPort", "FieldValueTypeInvalid")]
    svc["spec"]["ports"][0]["targetPort"] = "http"
    svc["spec"]["ports"][0]["port"] = "80"
    assert causes("Service", svc) == [("spec.ports[0].port", "FieldValueTypeInvalid")]


def test_object_that_is_not_an_object():
    assert causes("Pod", []) == [("<root>", "FieldValueTypeInvalid")]


def test_types_of_other_kinds():
    assert causes("ConfigMap", {"metadata": meta("c"), "data": {"n": 1}}) == [("data[n]", "FieldValueTypeInvalid")]
    assert causes("Lease", {"metadata": meta("l"), "spec": {"leaseDurationSeconds": "40"}}) == [
        ("spec.leaseDurationSeconds", "FieldValueTypeInvalid")]
    assert causes("Service", {"metadata": meta("s"), "spec": {"ports": {"port": 80}}}) == [
        ("spec.ports", "FieldValueTypeInvalid")]


# ---------------------------------------------------------------------------------------------------- pods


def pod(**spec: Any) -> dict[str, Any]:
    base = {"containers": [{"name": "app", "image": "busybox"}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta("p"), "spec": {**base, **spec}}


def test_pod_needs_containers():
    assert causes("Pod", pod(containers=[])) == [("spec.containers", "FieldValueRequired")]
    assert causes("Pod", {"metadata": meta("p"), "spec": {}}) == [("spec.containers", "FieldValueRequired")]


def test_container_name_required_dns_label_and_unique():
    assert causes("Pod", pod(containers=[{"image": "x"}])) == [("spec.containers[0].name", "FieldValueRequired")]
    assert causes("Pod", pod(containers=[{"name": "App", "image": "x"}])) == [
        ("spec.containers[0].name", "FieldValueInvalid")]
    twins = [{"name": "app", "image": "x"}, {"name": "app", "image": "y"}]
    assert causes("Pod", pod(containers=twins)) == [("spec.containers[1].name", "FieldValueDuplicate")]
    clash = pod(initContainers=[{"name": "app", "image": "x"}])
    assert causes("Pod", clash) == [("spec.containers[0].name", "FieldValueDuplicate")]


def test_container_image_required():
    assert causes("Pod", pod(containers=[{"name": "app"}])) == [("spec.containers[0].image", "FieldValueRequired")]
    assert causes("Pod", pod(initContainers=[{"name": "init", "image": ""}])) == [
        ("spec.initContainers[0].image", "FieldValueRequired")]


@pytest.mark.parametrize(("port", "expected"), [
    ({"containerPort": 0}, ("spec.containers[0].ports[0].containerPort", "FieldValueRequired")),
    ({}, ("spec.containers[0].ports[0].containerPort", "FieldValueRequired")),
    ({"containerPort": 65536}, ("spec.containers[0].ports[0].containerPort", "FieldValueInvalid")),
    ({"containerPort": -1}, ("spec.containers[0].ports[0].containerPort", "FieldValueInvalid")),
    ({"containerPort": 80, "hostPort": 70000}, ("spec.containers[0].ports[0].hostPort", "FieldValueInvalid")),
    ({"containerPort": 80, "protocol": "HTTP"}, ("spec.containers[0].ports[0].protocol", "FieldValueNotSupported")),
    ({"containerPort": 80, "name": "web_port"}, ("spec.containers[0].ports[0].name", "FieldValueInvalid")),
])
def test_container_ports(port, expected):
    assert causes("Pod", pod(containers=[{"name": "app", "image": "x", "ports": [port]}])) == [expected]


def test_container_port_messages():
    bad = pod(containers=[{"name": "app", "image": "x", "ports": [{"containerPort": 65536, "protocol": "HTTP"}]}])
    messages = [full(c) for c in validate(R["Pod"], bad)]
    assert messages == [
        "spec.containers[0].ports[0].containerPort: Invalid value: 65536: must be between 1 and 65535, inclusive",
        'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
    ]


def test_host_port_zero_is_fine_and_port_names_unique():
    ports = [{"containerPort": 80, "hostPort": 0, "name": "http"}, {"containerPort": 81, "name": "http"}]
    assert causes("Pod", pod(containers=[{"name": "app", "image": "x", "ports": ports}])) == [
        ("spec.containers[0].ports[1].name", "FieldValueDuplicate")]


def test_env_name_required():
    env = [{"value": "x"}, {"name": "A=B"}, {"name": "my.var-1"}]
    assert causes("Pod", pod(containers=[{"name": "app", "image": "x", "env": env}])) == [
        ("spec.containers[0].env[0].name", "FieldValueRequired"),
        ("spec.containers[0].env[1].name", "FieldValueInvalid"),
    ]


def test_volume_names_unique_and_mounts_refer_to_volumes():
    obj = pod_with_volumes()
    obj["spec"]["volumes"].append({"name": "data", "emptyDir": {}})
    assert causes("Pod", obj) == [("spec.volumes[2].name", "FieldValueDuplicate")]
    obj = pod_with_volumes()
    obj["spec"]["containers"][0]["volumeMounts"].append({"name": "cache", "mountPath": "/cache"})
    cause = only("Pod", obj)
    assert (cause["field"], cause["reason"]) == ("spec.containers[0].volumeMounts[2].name", "FieldValueNotFound")
    assert full(cause) == 'spec.containers[0].volumeMounts[2].name: Not found: "cache"'


def test_volume_mount_path_required_and_unique():
    obj = pod_with_volumes()
    obj["spec"]["containers"][0]["volumeMounts"] = [{"name": "data"}]
    assert causes("Pod", obj) == [("spec.containers[0].volumeMounts[0].mountPath", "FieldValueRequired")]
    obj["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/d"},
                                                    {"name": "config", "mountPath": "/d"}]
    assert causes("Pod", obj) == [("spec.containers[0].volumeMounts[1].mountPath", "FieldValueInvalid")]


def test_restart_policy():
    cause = only("Pod", pod(restartPolicy="Sometimes"))
    assert (cause["field"], cause["reason"]) == ("spec.restartPolicy", "FieldValueNotSupported")
    assert full(cause).endswith('supported values: "Always", "OnFailure", "Never"')


def test_tolerations_and_node_name():
    assert causes("Pod", pod(tolerations=[{"key": "k", "operator": "Maybe"}])) == [
        ("spec.tolerations[0].operator", "FieldValueNotSupported")]
    assert causes("Pod", pod(nodeName="Node_1")) == [("spec.nodeName", "FieldValueInvalid")]


# ---------------------------------------------------------------------------------------------------- workloads

WORKLOADS = ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet")


@pytest.mark.parametrize("kind", WORKLOADS)
def test_selector_required(kind):
    obj = workload(kind)
    del obj["spec"]["selector"]
    assert causes(kind, obj) == [("spec.selector", "FieldValueRequired")]


@pytest.mark.parametrize("kind", WORKLOADS)
def test_selector_not_empty(kind):
    obj = workload(kind)
    obj["spec"]["selector"] = {}
    assert causes(kind, obj) == [("spec.selector", "FieldValueInvalid")]


@pytest.mark.parametrize("kind", WORKLOADS)
def test_selector_must_match_template_labels(kind):
    obj = workload(kind)
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "apache"}
    cause = only(kind, obj)
    assert (cause["field"], cause["reason"]) == ("spec.template.metadata.labels", "FieldValueInvalid")
    assert full(cause).endswith("`selector` does not match template `labels`")


def test_match_expressions_select_template_labels():
    obj = nginx_deployment()
    obj["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["nginx", "web"]},
                                                    {"key": "canary", "operator": "DoesNotExist"}]}
    assert validate(R["Deployment"], obj) == []
    obj["spec"]["selector"]["matchExpressions"][1]["operator"] = "Exists"
    assert causes("Deployment", obj) == [("spec.template.metadata.labels", "FieldValueInvalid")]


def test_bad_match_expressions():
    obj = nginx_deployment()
    obj["spec"]["selector"] = {"matchLabels": {"app": "nginx"}, "matchExpressions": [
        {"key": "a", "operator": "In"}, {"key": "b", "operator": "Exists", "values": ["x"]},
        {"key": "c", "operator": "Like", "values": ["x"]}]}
    assert causes("Deployment", obj) == [
        ("spec.selector.matchExpressions[0].values", "FieldValueRequired"),
        ("spec.selector.matchExpressions[1].values", "FieldValueForbidden"),
        ("spec.selector.matchExpressions[2].operator", "FieldValueInvalid"),
    ]


@pytest.mark.parametrize("kind", ("Deployment", "ReplicaSet", "StatefulSet"))
def test_replicas_nonnegative(kind):
    obj = workload(kind)
    obj["spec"]["replicas"] = -1
    cause = only(kind, obj)
    assert full(cause) == "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    obj["spec"]["replicas"] = 0
    assert validate(R[kind], obj) == []


@pytest.mark.parametrize("kind", WORKLOADS)
def test_template_restart_policy_always(kind):
    obj = workload(kind)
    obj["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    cause = only(kind, obj)
    assert (cause["field"], cause["reason"]) == ("spec.template.spec.restartPolicy", "FieldValueNotSupported")
    assert full(cause).endswith('supported values: "Always"')


@pytest.mark.parametrize("kind", WORKLOADS)
def test_template_pod_spec_is_validated(kind):
    obj = workload(kind)
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    assert causes(kind, obj) == [("spec.template.spec.containers[0].image", "FieldValueRequired")]


def test_template_required():
    obj = nginx_deployment()
    del obj["spec"]["template"]
    assert causes("Deployment", obj) == [("spec.template", "FieldValueRequired")]


def test_deployment_strategy_type():
    obj = nginx_deployment()
    obj["spec"]["strategy"] = {"type": "BlueGreen"}
    cause = only("Deployment", obj)
    assert (cause["field"], cause["reason"]) == ("spec.strategy.type", "FieldValueNotSupported")
    obj["spec"]["strategy"] = {"type": "Recreate"}
    assert validate(R["Deployment"], obj) == []
    obj["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 1}
    assert causes("Deployment", obj) == [("spec.strategy.rollingUpdate", "FieldValueForbidden")]


@pytest.mark.parametrize(("surge", "unavailable", "expected"), [
    (0, 0, [("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid")]),
    ("0%", 0, [("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid")]),
    ("ten", 1, [("spec.strategy.rollingUpdate.maxSurge", "FieldValueInvalid")]),
    (1, "150%", [("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid")]),
    (-1, 1, [("spec.strategy.rollingUpdate.maxSurge", "FieldValueInvalid")]),
    (0, "100%", []),
    ("50%", 0, []),
])
def test_rolling_update_int_or_percent(surge, unavailable, expected):
    obj = nginx_deployment()
    obj["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    assert causes("Deployment", obj) == expected


def test_both_zero_message():
    obj = nginx_deployment()
    obj["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 0, "maxUnavailable": 0}
    assert full(only("Deployment", obj)) == (
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0")


def test_statefulset_and_daemonset_enums():
    sts = workload("StatefulSet")
    sts["spec"]["podManagementPolicy"] = "Random"
    sts["spec"]["updateStrategy"] = {"type": "Sometimes"}
    assert causes("StatefulSet", sts) == [("spec.podManagementPolicy", "FieldValueInvalid"),
                                          ("spec.updateStrategy", "FieldValueInvalid")]
    ds = workload("DaemonSet")
    ds["spec"]["updateStrategy"] = {"type": "Recreate"}
    assert causes("DaemonSet", ds) == [("spec.updateStrategy.type", "FieldValueNotSupported")]


# ---------------------------------------------------------------------------------------------------- jobs


def test_job_restart_policy_must_be_onfailure_or_never():
    obj = job()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    cause = only("Job", obj)
    assert (cause["field"], cause["reason"]) == ("spec.template.spec.restartPolicy", "FieldValueNotSupported")
    assert full(cause).endswith('supported values: "OnFailure", "Never"')
    del obj["spec"]["template"]["spec"]["restartPolicy"]  # Always, had defaulting not run
    assert causes("Job", obj) == [("spec.template.spec.restartPolicy", "FieldValueNotSupported")]


@pytest.mark.parametrize("field", ["completions", "parallelism", "backoffLimit"])
def test_job_counts_nonnegative(field):
    obj = job()
    obj["spec"][field] = -1
    assert causes("Job", obj) == [(f"spec.{field}", "FieldValueInvalid")]


def test_job_selector_if_given_must_match():
    obj = job()
    obj["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}
    obj["spec"]["template"]["metadata"] = {"labels": {"batch.kubernetes.io/controller-uid": "u2"}}
    assert causes("Job", obj) == [("spec.template.metadata.labels", "FieldValueInvalid")]


def test_cronjob_schedule_required():
    obj = cronjob()
    del obj["spec"]["schedule"]
    assert causes("CronJob", obj) == [("spec.schedule", "FieldValueRequired")]


@pytest.mark.parametrize("schedule", ["0 0 * * *", "*/15 9-17 * * 1-5", "@hourly", "@daily", "@every 1h30m",
                                      "0 0 1 jan,jul *", "5 4 ? * SUN"])
def test_cronjob_good_schedules(schedule):
    obj = cronjob()
    obj["spec"]["schedule"] = schedule
    assert validate(R["CronJob"], obj) == []


@pytest.mark.parametrize("schedule", ["* * * *", "* * * * * *", "60 * * * *", "@fortnightly", "a * * * *",
                                      "5-1 * * * *", "*/0 * * * *", "0 0 0 * *"])
def test_cronjob_bad_schedules(schedule):
    obj = cronjob()
    obj["spec"]["schedule"] = schedule
    assert causes("CronJob", obj) == [("spec.schedule", "FieldValueInvalid")]


def test_cronjob_schedule_message():
    obj = cronjob()
    obj["spec"]["schedule"] = "* * * *"
    assert full(only("CronJob", obj)) == (
        'spec.schedule: Invalid value: "* * * *": expected exactly 5 fields, found 4: [* * * *]')


def test_cronjob_concurrency_policy_and_job_template():
    obj = cronjob()
    obj["spec"]["concurrencyPolicy"] = "Sometimes"
    obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert causes("CronJob", obj) == [
        ("spec.concurrencyPolicy", "FieldValueNotSupported"),
        ("spec.jobTemplate.spec.template.spec.restartPolicy", "FieldValueNotSupported"),
    ]


def test_cronjob_name_at_most_52():
    obj = cronjob()
    obj["metadata"]["name"] = "c" * 53
    assert causes("CronJob", obj) == [("metadata.name", "FieldValueInvalid")]


# ---------------------------------------------------------------------------------------------------- services


def test_cluster_ip_service_needs_ports():
    obj = two_port_service()
    obj["spec"] = {"selector": {"app": "x"}}
    assert causes("Service", obj) == [("spec.ports", "FieldValueRequired")]


def test_externalname_needs_external_name():
    obj = {"metadata": meta("ext"), "spec": {"type": "ExternalName"}}
    assert causes("Service", obj) == [("spec.externalName", "FieldValueRequired")]


@pytest.mark.parametrize(("port", "expected"), [
    ({"port": 0}, ("spec.ports[0].port", "FieldValueInvalid")),
    ({"port": 65536}, ("spec.ports[0].port", "FieldValueInvalid")),
    ({"port": 80, "nodePort": 70000}, ("spec.ports[0].nodePort", "FieldValueInvalid")),
    ({"port": 80, "protocol": "ICMP"}, ("spec.ports[0].protocol", "FieldValueNotSupported")),
    ({"port": 80, "targetPort": 0}, None),
    ({"port": 80, "targetPort": 70000}, ("spec.ports[0].targetPort", "FieldValueInvalid")),
    ({"port": 80, "targetPort": "not_a_name"}, ("spec.ports[0].targetPort", "FieldValueInvalid")),
    ({"port": 80, "nodePort": 0}, None),
])
def test_service_port_numbers(port, expected):
    obj = {"metadata": meta("s"), "spec": {"type": "NodePort", "ports": [port]}}
    assert causes("Service", obj) == ([expected] if expected else [])


def test_service_port_names_required_and_unique_when_several():
    obj = two_port_service()
    del obj["spec"]["ports"][1]["name"]
    assert causes("Service", obj) == [("spec.ports[1].name", "FieldValueRequired")]
    obj["spec"]["ports"][1]["name"] = "http"
    assert causes("Service", obj) == [("spec.ports[1].name", "FieldValueDuplicate")]


def test_single_unnamed_service_port_is_fine():
    obj = {"metadata": meta("s"), "spec": {"ports": [{"port": 80}]}}
    assert validate(R["Service"], obj) == []


def test_service_type_and_cluster_ip():
    obj = two_port_service()
    obj["spec"]["type"] = "Internal"
    cause = only("Service", obj)
    assert (cause["field"], cause["reason"]) == ("spec.type", "FieldValueNotSupported")
    assert full(cause).endswith('supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"')
    obj = two_port_service()
    obj["spec"]["clusterIP"] = "10.96.0.300"
    assert causes("Service", obj) == [("spec.clusterIP", "FieldValueInvalid")]
    for good in ("10.96.0.10", "", "fd00::10"):
        obj["spec"]["clusterIP"] = good
        assert validate(R["Service"], obj) == []


def test_node_port_forbidden_on_cluster_ip_services():
    obj = two_port_service()
    obj["spec"]["type"] = "ClusterIP"
    assert causes("Service", obj) == [("spec.ports[1].nodePort", "FieldValueForbidden")]


def test_endpoints_addresses_must_be_ips():
    obj = {"metadata": meta("web"), "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "pod-a"}],
                                                 "notReadyAddresses": [{}], "ports": [{"port": 0}]}]}
    assert causes("Endpoints", obj) == [
        ("subsets[0].addresses[1].ip", "FieldValueInvalid"),
        ("subsets[0].notReadyAddresses[0].ip", "FieldValueInvalid"),
        ("subsets[0].ports[0].port", "FieldValueInvalid"),
    ]


# ---------------------------------------------------------------------------------------------------- data objects


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_data_keys(kind):
    obj = {"metadata": meta("d"), "data": {"has space": "eA==", "k" * 254: "eA==", "..": "eA==", "ok.key": "eA=="}}
    assert causes(kind, obj) == [
        ("data[has space]", "FieldValueInvalid"),
        (f"data[{'k' * 254}]", "FieldValueInvalid"),
        ("data[..]", "FieldValueInvalid"),
    ]


def test_secret_data_must_be_base64():
    obj = {"metadata": meta("s"), "data": {"password": "hunter2!"}}
    cause = only("Secret", obj)
    assert (cause["field"], cause["reason"]) == ("data[password]", "FieldValueInvalid")
    assert "hunter2" not in full(cause)
    obj["data"]["password"] = "abc"  # bad padding
    assert causes("Secret", obj) == [("data[password]", "FieldValueInvalid")]


def test_data_values_must_be_strings():
    assert causes("Secret", {"metadata": meta("s"), "data": {"a": 5}}) == [("data[a]", "FieldValueTypeInvalid")]


def test_node_pod_cidr():
    assert causes("Node", {"metadata": {"name": "n"}, "spec": {"podCIDR": "10.244.1.0"}}) == [
        ("spec.podCIDR", "FieldValueInvalid")]
    assert causes("Node", {"metadata": {"name": "n"}, "spec": {"podCIDRs": ["10.244.1.0/33"]}}) == [
        ("spec.podCIDRs[0]", "FieldValueInvalid")]


def test_event_needs_involved_object():
    assert causes("Event", {"metadata": meta("e.1"), "reason": "X"}) == [("involvedObject", "FieldValueRequired")]
    other_ns = {"metadata": meta("e.1"), "involvedObject": {"kind": "Pod", "name": "p", "namespace": "kube-system"}}
    assert causes("Event", other_ns) == [("involvedObject.namespace", "FieldValueInvalid")]


def test_lease_duration_at_least_one():
    obj = {"metadata": meta("l"), "spec": {"leaseDurationSeconds": 0}}
    cause = only("Lease", obj)
    assert full(cause) == "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"


def test_namespace_and_service_account_need_nothing_more():
    assert validate(R["Namespace"], {"metadata": {"name": "ns1"}}) == []
    assert validate(R["ServiceAccount"], {"metadata": meta("builder"), "automountServiceAccountToken": False}) == []


# ---------------------------------------------------------------------------------------------------- updates


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "DaemonSet"])
def test_selector_immutable(kind):
    old = workload(kind)
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchLabels"]["tier"] = "web"
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "web"
    cause = only(kind, new, old)
    assert (cause["field"], cause["reason"]) == ("spec.selector", "FieldValueInvalid")
    assert full(cause).endswith(": field is immutable")


def test_deployment_template_and_replicas_may_change():
    old = nginx_deployment()
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    assert validate(R["Deployment"], new, old) == []


def test_statefulset_only_some_spec_fields_may_change():
    old = workload("StatefulSet")
    new = copy.deepcopy(old)
    new["spec"].update(replicas=5, minReadySeconds=3, updateStrategy={"type": "OnDelete"})
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    assert validate(R["StatefulSet"], new, old) == []
    new["spec"]["serviceName"] = "other"
    cause = only("StatefulSet", new, old)
    assert (cause["field"], cause["reason"]) == ("spec", "FieldValueForbidden")
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchLabels"]["tier"] = "web"  # the selector is one of the frozen fields
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "web"
    cause = only("StatefulSet", new, old)
    assert (cause["field"], cause["reason"]) == ("spec", "FieldValueForbidden")
    assert full(cause) == (
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    )


def test_job_template_selector_and_completions_immutable():
    old = job()
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5.36"
    new["spec"]["completions"] = 3
    assert causes("Job", new, old) == [("spec.template", "FieldValueInvalid"),
                                       ("spec.completions", "FieldValueInvalid")]
    new = copy.deepcopy(old)
    new["spec"]["parallelism"] = 4
    assert validate(R["Job"], new, old) == []


def test_service_cluster_ip_immutable_once_set():
    old = two_port_service()
    old["spec"]["clusterIP"] = "10.96.0.20"
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.21"
    cause = only("Service", new, old)
    assert (cause["field"], cause["reason"]) == ("spec.clusterIPs[0]", "FieldValueInvalid")
    assert full(cause).endswith("may not change once set")
    new["spec"]["clusterIP"] = ""  # omitted in a PUT: the server keeps the allocated one
    assert validate(R["Service"], new, old) == []


def test_service_cluster_ip_may_go_with_externalname():
    old = two_port_service()
    old["spec"]["clusterIP"] = "10.96.0.20"
    new = {"metadata": meta("web"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    assert validate(R["Service"], new, old) == []


def test_pod_image_may_change_but_not_other_fields():
    old = pod_with_volumes()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "busybox:1.37"
    new["spec"]["initContainers"][0]["image"] = "busybox:1.37"
    new["spec"]["activeDeadlineSeconds"] = 600
    new["spec"]["terminationGracePeriodSeconds"] = 5
    new["spec"]["tolerations"].append({"key": "x", "operator": "Exists"})
    assert validate(R["Pod"], new, old) == []
    new["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    cause = only("Pod", new, old)
    assert (cause["field"], cause["reason"]) == ("spec", "FieldValueForbidden")
    assert full(cause).startswith(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
        "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
        "previously negative)"
    )


def test_pod_tolerations_may_only_be_added():
    old = pod_with_volumes()
    new = copy.deepcopy(old)
    new["spec"]["tolerations"] = []
    assert causes("Pod", new, old) == [("spec", "FieldValueForbidden")]


def test_pod_node_name_immutable_once_set():
    old = pod(nodeName="node-1")
    new = copy.deepcopy(old)
    new["spec"]["nodeName"] = "node-2"
    assert causes("Pod", new, old) == [("spec.nodeName", "FieldValueInvalid")]
    unscheduled = pod()
    assert validate(R["Pod"], old, unscheduled) == []


def test_pod_metadata_may_change():
    old = pod_with_volumes()
    new = copy.deepcopy(old)
    new["metadata"]["labels"]["tier"] = "web"
    assert validate(R["Pod"], new, old) == []


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_immutable_data(kind):
    old = {"metadata": meta("d"), "data": {"a": "eA=="}, "immutable": True}
    new = copy.deepcopy(old)
    assert validate(R[kind], new, old) == []
    new["data"]["a"] = "eQ=="
    assert causes(kind, new, old) == [("data", "FieldValueForbidden")]
    new = {**copy.deepcopy(old), "immutable": False}
    assert causes(kind, new, old) == [("immutable", "FieldValueForbidden")]
    mutable_old = {**copy.deepcopy(old), "immutable": False}
    changed = {**copy.deepcopy(mutable_old), "data": {"a": "eQ=="}}
    assert validate(R[kind], changed, mutable_old) == []


def test_secret_type_immutable():
    old = {"metadata": meta("s"), "type": "Opaque", "data": {}}
    new = {**old, "type": "kubernetes.io/tls"}
    assert causes("Secret", new, old) == [("type", "FieldValueInvalid")]
