"""PATCH semantics: the bodies kubectl and the Python client really send, and what upstream answers."""

import copy
import json

import pytest

from kubeling.api.errors import StatusError
from kubeling.api.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    parse_apply_body,
)
from kubeling.api.strategic import strategic_merge


def body(value) -> bytes:
    return json.dumps(value).encode()


def smp(original, patch, kind):
    return apply_patch(STRATEGIC_MERGE_PATCH, original, body(patch), kind)


def deployment(containers, **spec):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "fe"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}},
            **spec,
        },
    }


def names(items, key="name"):
    return [item[key] for item in items]


# --- strategic merge patch: the bodies client-side `kubectl apply` sends (reference 3.2) -----------------------


def test_kubectl_apply_deployment_patch():
    live = deployment([
        {"name": "a", "image": "nginx:1",
         "env": [{"name": "X", "value": "1"}, {"name": "Z", "value": "2"}],
         "ports": [{"containerPort": 80}, {"containerPort": 443}]},
        {"name": "b", "image": "busybox"},
    ])
    patch = {"metadata": {"labels": {"tier": None}}, "spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "a"}],
        "containers": [{"$setElementOrder/env": [{"name": "Z"}], "$setElementOrder/ports": [{"containerPort": 8080}],
                        "env": [{"name": "Z", "value": "3"}, {"$patch": "delete", "name": "X"}],
                        "image": "nginx:2", "name": "a",
                        "ports": [{"containerPort": 8080}, {"$patch": "delete", "containerPort": 443},
                                  {"$patch": "delete", "containerPort": 80}]},
                       {"$patch": "delete", "name": "b"}]}}}}
    before = copy.deepcopy(live)

    out = smp(live, patch, "Deployment")

    assert out["metadata"]["labels"] == {"app": "web"}
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "image": "nginx:2", "env": [{"name": "Z", "value": "3"}], "ports": [{"containerPort": 8080}]}
    ]
    assert out["spec"]["replicas"] == 1
    assert live == before  # inputs are never mutated


def test_kubectl_apply_service_patch_merges_ports_by_port():
    live = {"kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.9"}}
    live["spec"]["ports"] = [
        {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 443, "protocol": "TCP"},
    ]
    patch = {"spec": {"$setElementOrder/ports": [{"port": 8080}],
                      "ports": [{"name": "http", "port": 8080, "targetPort": 80},
                                {"$patch": "delete", "port": 443}, {"$patch": "delete", "port": 80}]}}

    out = smp(live, patch, "Service")

    assert out["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": 80}]
    assert out["spec"]["clusterIP"] == "10.0.0.9"


def test_service_ports_merge_by_port_keeps_other_fields():
    live = {"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}}
    out = strategic_merge(live, {"spec": {"ports": [{"port": 80, "nodePort": 30080}]}}, "Service")
    assert out["spec"]["ports"] == [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080,
                                     "nodePort": 30080}]


# --- strategic merge patch: maps, nulls, merge keys through every type path -----------------------------------


def test_null_deletes_and_maps_merge():
    live = {"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"k": "v", "old": "x"}}
    out = smp(live, {"metadata": {"labels": {"b": None, "c": "3"}}, "data": {"old": None}}, "ConfigMap")
    assert out == {"metadata": {"name": "c", "labels": {"a": "1", "c": "3"}}, "data": {"k": "v"}}


def test_nulls_in_new_values_are_dropped():
    out = smp({"metadata": {"name": "c"}}, {"metadata": {"annotations": {"x": None, "y": "1"}}}, "ConfigMap")
    assert out["metadata"] == {"name": "c", "annotations": {"y": "1"}}


def test_kubectl_set_image_merges_containers_by_name_in_deployment_template():
    live = deployment([{"name": "a", "image": "nginx:1", "ports": [{"containerPort": 80}]},
                       {"name": "b", "image": "redis:6"}])
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                                            "containers": [{"image": "redis:7", "name": "b"}]}}}}
    out = smp(live, patch, "Deployment")
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "image": "nginx:1", "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "redis:7"},
    ]


def test_containers_merge_by_name_inside_cronjob_job_template():
    live = {"kind": "CronJob", "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "job", "image": "busybox:1", "command": ["sh", "-c", "date"]}],
    }}}}}}
    patch = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "job", "image": "busybox:2"}]}}}}}}
    out = smp(live, patch, "CronJob")
    assert out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"] == [
        {"name": "job", "image": "busybox:2", "command": ["sh", "-c", "date"]}
    ]


@pytest.mark.parametrize(("kind", "path"), [
    ("Pod", ("spec",)),
    ("Deployment", ("spec", "template", "spec")),
    ("ReplicaSet", ("spec", "template", "spec")),
    ("DaemonSet", ("spec", "template", "spec")),
    ("StatefulSet", ("spec", "template", "spec")),
    ("Job", ("spec", "template", "spec")),
    ("CronJob", ("spec", "jobTemplate", "spec", "template", "spec")),
])
def test_every_pod_spec_path_resolves(kind, path):
    def nest(value):
        for key in reversed(path):
            value = {key: value}
        return value

    live = nest({"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]})
    out = strategic_merge(live, nest({"containers": [{"name": "b", "image": "z"}]}), kind)
    pod_spec = out
    for key in path:
        pod_spec = pod_spec[key]
    assert sorted(names(pod_spec["containers"])) == ["a", "b"]
    assert {c["name"]: c["image"] for c in pod_spec["containers"]} == {"a": "x", "b": "z"}


def test_env_merges_by_name_and_ports_by_container_port():
    live = {"spec": {"containers": [{"name": "a", "image": "x",
                                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                     "ports": [{"containerPort": 80, "name": "http"}]}]}}
    patch = {"spec": {"containers": [{"name": "a",
                                      "env": [{"name": "B", "value": "20"}],
                                      "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 9090}]}]}}
    out = smp(live, patch, "Pod")
    container = out["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in container["env"]} == {"A": "1", "B": "20"}
    assert {p["containerPort"]: p for p in container["ports"]} == {
        80: {"containerPort": 80, "name": "http", "protocol": "TCP"},
        9090: {"containerPort": 9090},
    }


def test_new_elements_without_order_directive_go_first_like_upstream():
    live = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}
    out = strategic_merge(live, {"spec": {"containers": [{"name": "c", "image": "z"}]}}, "Pod")
    assert names(out["spec"]["containers"]) == ["c", "a", "b"]


def test_set_element_order_reorders_and_keeps_server_only_elements_in_place():
    live = {"spec": {"containers": [{"name": "a", "image": "1", "env": [
        {"name": "A", "value": "1"}, {"name": "INJECTED", "value": "w"}, {"name": "B", "value": "2"}]}]}}
    patch = {"spec": {"containers": [{"name": "a",
                                      "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                                      "env": [{"name": "C", "value": "3"}]}]}}
    out = smp(live, patch, "Pod")
    assert names(out["spec"]["containers"][0]["env"]) == ["A", "INJECTED", "B", "C"]

    reordered = smp(live, {"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{
        "name": "a", "$setElementOrder/env": [{"name": "B"}, {"name": "A"}]}]}}, "Pod")
    # Upstream slots a server-only element before the first ordered element that followed it in the live list.
    assert names(reordered["spec"]["containers"][0]["env"]) == ["INJECTED", "B", "A"]


def test_atomic_lists_are_replaced_whole():
    live = {"spec": {"tolerations": [{"key": "a", "operator": "Exists"}],
                     "containers": [{"name": "a", "image": "x", "args": ["1", "2"], "command": ["run"],
                                     "envFrom": [{"configMapRef": {"name": "one"}}]}]}}
    patch = {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}],
                      "containers": [{"name": "a", "args": ["3"], "envFrom": [{"secretRef": {"name": "two"}}]}]}}
    out = smp(live, patch, "Pod")
    assert out["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]
    container = out["spec"]["containers"][0]
    assert container["args"] == ["3"]
    assert container["command"] == ["run"]
    assert container["envFrom"] == [{"secretRef": {"name": "two"}}]


def test_endpoints_subsets_and_node_taints_are_atomic():
    live = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}
    out = smp(live, {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]}, "Endpoints")
    assert out["subsets"] == [{"addresses": [{"ip": "10.0.0.2"}]}]

    node = {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}}
    out = smp(node, {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}}, "Node")
    assert out["spec"]["taints"] == [{"key": "b", "effect": "NoSchedule"}]


@pytest.mark.parametrize("kind", ["Pod", "Node", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
                                  "Namespace"])
def test_status_conditions_merge_by_type(kind):
    live = {"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Other", "status": "True"}]}}
    out = smp(live, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, kind)
    assert {c["type"]: c["status"] for c in out["status"]["conditions"]} == {"Ready": "True", "Other": "True"}


def test_node_addresses_merge_by_type():
    live = {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                                     {"type": "Hostname", "address": "n1"}]}}
    out = smp(live, {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}, "Node")
    assert {a["type"]: a["address"] for a in out["status"]["addresses"]} == {"InternalIP": "10.0.0.2",
                                                                            "Hostname": "n1"}


def test_owner_references_merge_by_uid():
    live = {"metadata": {"ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "rs"}]}}
    out = smp(live, {"metadata": {"ownerReferences": [{"uid": "1", "controller": True}, {"uid": "2",
                                                                                          "name": "x"}]}}, "Pod")
    assert {r["uid"]: r for r in out["metadata"]["ownerReferences"]} == {
        "1": {"uid": "1", "kind": "ReplicaSet", "name": "rs", "controller": True},
        "2": {"uid": "2", "name": "x"},
    }


def test_volumes_merge_by_name_and_retain_keys():
    live = {"spec": {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]}}
    patch = {"spec": {"volumes": [{"name": "data", "$retainKeys": ["name", "hostPath"],
                                   "hostPath": {"path": "/srv"}}]}}
    out = smp(live, patch, "Pod")
    assert {v["name"]: v for v in out["spec"]["volumes"]} == {
        "data": {"name": "data", "hostPath": {"path": "/srv"}},
        "cfg": {"name": "cfg", "configMap": {"name": "c"}},
    }


def test_unknown_kind_and_fields_behave_like_merge_patch():
    live = {"spec": {"items": [{"name": "a", "x": 1}], "m": {"k": "v"}}}
    out = strategic_merge(live, {"spec": {"items": [{"name": "a", "y": 2}], "m": {"j": "w"}}}, "Widget")
    assert out == {"spec": {"items": [{"name": "a", "y": 2}], "m": {"k": "v", "j": "w"}}}

    pod = {"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1"}}, "futureList": [1, 2]}]}}
    out = strategic_merge(pod, {"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}},
                                                         "futureList": [3]}]}}, "Pod")
    assert out["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert out["spec"]["containers"][0]["futureList"] == [3]


# --- directives ----------------------------------------------------------------------------------------------


def test_retain_keys_switching_rolling_update_to_recreate_drops_rolling_update():
    live = deployment([{"name": "a", "image": "x"}],
                      strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    # What kubectl apply sends when the manifest switches to Recreate.
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    out = smp(live, patch, "Deployment")
    assert out["spec"]["strategy"] == {"type": "Recreate"}

    # Even without the explicit null, $retainKeys alone drops it.
    out = smp(live, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, "Deployment")
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_rejects_a_patch_setting_a_key_it_does_not_retain():
    live = deployment([], strategy={"type": "RollingUpdate"})
    with pytest.raises(StatusError) as err:
        smp(live, {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}, "Deployment")
    assert err.value.code == 400


def test_patch_replace_on_a_map_replaces_it():
    live = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    out = smp(live, {"metadata": {"labels": {"$patch": "replace", "c": "3"}}}, "ConfigMap")
    assert out["metadata"]["labels"] == {"c": "3"}


def test_patch_delete_on_a_map_deletes_it():
    live = {"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}}
    out = smp(live, {"data": {"$patch": "delete"}}, "ConfigMap")
    assert out == {"metadata": {"name": "c", "labels": {"a": "1"}}}


def test_patch_replace_element_replaces_the_list():
    live = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}
    out = smp(live, {"spec": {"containers": [{"name": "c", "image": "z"}, {"$patch": "replace"}]}}, "Pod")
    assert out["spec"]["containers"] == [{"name": "c", "image": "z"}]


def test_patch_merge_is_the_default_behaviour():
    live = {"metadata": {"labels": {"a": "1"}}}
    out = smp(live, {"metadata": {"labels": {"$patch": "merge", "b": "2"}}}, "ConfigMap")
    assert out["metadata"]["labels"] == {"a": "1", "b": "2"}


def test_deleting_an_absent_element_is_a_no_op():
    live = {"spec": {"containers": [{"name": "a", "image": "x"}]}}
    out = smp(live, {"spec": {"containers": [{"$patch": "delete", "name": "zzz"}]}}, "Pod")
    assert out == live


def test_finalizers_are_unioned_and_delete_from_primitive_list_removes():
    live = {"metadata": {"name": "x", "finalizers": ["a", "b"]}}
    out = smp(live, {"metadata": {"finalizers": ["b", "c"]}}, "ConfigMap")
    assert sorted(out["metadata"]["finalizers"]) == ["a", "b", "c"]

    out = smp(live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, "ConfigMap")
    assert out["metadata"]["finalizers"] == ["b"]

    # kubectl apply's shape: final order, additions and removals together.
    out = smp(live, {"metadata": {"$setElementOrder/finalizers": ["b", "c"], "finalizers": ["c"],
                                  "$deleteFromPrimitiveList/finalizers": ["a"]}}, "ConfigMap")
    assert out["metadata"]["finalizers"] == ["b", "c"]


def test_malformed_directives_are_bad_requests():
    live = {"metadata": {"finalizers": ["a"]}}
    for patch in ({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}},
                  {"metadata": {"$setElementOrder/finalizers": "a"}},
                  {"spec": {"strategy": {"$retainKeys": "type"}}}):
        with pytest.raises(StatusError) as err:
            smp(live, patch, "Deployment")
        assert err.value.code == 400


def test_element_without_its_merge_key_is_rejected_like_upstream():
    live = {"spec": {"containers": [{"name": "a", "image": "x"}]}}
    with pytest.raises(StatusError) as err:
        smp(live, {"spec": {"containers": [{"image": "y"}]}}, "Pod")
    assert err.value.code == 500
    assert "does not contain declared merge key: name" in err.value.message


# --- JSON patch ------------------------------------------------------------------------------------------------


def test_json_patch_operations():
    live = deployment([{"name": "a", "image": "x"}])
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels/new", "value": "yes"},
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "b", "image": "y"}},
        {"op": "copy", "from": "/spec/replicas", "path": "/metadata/annotations"},
        {"op": "move", "from": "/metadata/annotations", "path": "/spec/minReadySeconds"},
    ]
    before = copy.deepcopy(live)
    out = apply_patch(JSON_PATCH, live, body(ops), "Deployment")
    assert out["spec"]["replicas"] == 3
    assert out["metadata"]["labels"] == {"app": "web", "new": "yes"}
    assert names(out["spec"]["template"]["spec"]["containers"]) == ["a", "b"]
    assert out["spec"]["minReadySeconds"] == 3
    assert "annotations" not in out["metadata"]
    assert live == before


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/spec/replicas", "value": 5}],
    [{"op": "remove", "path": "/spec/template/spec/affinity"}],
    [{"op": "replace", "path": "/no/such/path", "value": 1}],
    [{"op": "frobnicate", "path": "/spec"}],
])
def test_json_patch_that_does_not_apply_is_422(ops):
    with pytest.raises(StatusError) as err:
        apply_patch(JSON_PATCH, deployment([]), body(ops), "Deployment")
    assert (err.value.code, err.value.reason) == (422, "Invalid")
    assert err.value.message == "the server rejected our request due to an error in our request"


def test_json_patch_must_be_a_list():
    with pytest.raises(StatusError) as err:
        apply_patch(JSON_PATCH, deployment([]), body({"op": "remove", "path": "/spec"}), "Deployment")
    assert (err.value.code, err.value.reason) == (400, "BadRequest")


# --- JSON merge patch ------------------------------------------------------------------------------------------


def test_merge_patch_replaces_lists_and_deletes_nulls():
    live = deployment([{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}])
    patch = {"metadata": {"labels": {"tier": None, "env": "prod"}},
             "spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "b", "image": "y"}]}}}}
    before = copy.deepcopy(live)
    out = apply_patch(MERGE_PATCH, live, body(patch), "Deployment")
    assert out["metadata"]["labels"] == {"app": "web", "env": "prod"}
    assert out["spec"]["replicas"] == 5
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "b", "image": "y"}]
    assert live == before


def test_kubectl_label_and_scale_bodies():
    live = deployment([])
    out = apply_patch("application/merge-patch+json; charset=utf-8", live,
                      b'{"metadata":{"labels":{"tier":"be"}}}', "Deployment")
    assert out["metadata"]["labels"]["tier"] == "be"
    scale = {"kind": "Scale", "spec": {"replicas": 1}, "status": {"replicas": 1}}
    assert apply_patch(MERGE_PATCH, scale, b'{"spec":{"replicas":5}}', "Scale")["spec"] == {"replicas": 5}


def test_merge_patch_result_does_not_share_structure_with_original():
    live = {"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}}
    out = apply_patch(MERGE_PATCH, live, b'{"data":{"k":"w"}}', "ConfigMap")
    out["metadata"]["labels"]["b"] = "2"
    assert live["metadata"]["labels"] == {"a": "1"}


# --- server-side apply -----------------------------------------------------------------------------------------


def test_apply_onto_existing_object_merges_containers_by_name():
    live = deployment([{"name": "a", "image": "nginx:1", "imagePullPolicy": "IfNotPresent"}])
    live["metadata"]["uid"] = "u-1"
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "nginx:2"}]}}}}
    out = apply_patch(APPLY_PATCH, live, body(manifest), "Deployment")
    assert out["metadata"]["uid"] == "u-1"
    assert out["metadata"]["labels"] == {"app": "web", "tier": "fe"}
    assert out["spec"]["replicas"] == 2
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "image": "nginx:2", "imagePullPolicy": "IfNotPresent"}
    ]


def test_apply_onto_nothing_is_the_manifest_and_yaml_is_accepted():
    manifest_yaml = b"""
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  annotations:
    when: 2024-01-01T00:00:00Z
data:
  port: "80"
"""
    out = apply_patch(APPLY_PATCH, {}, manifest_yaml, "ConfigMap")
    assert out == {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "annotations": {"when": "2024-01-01T00:00:00Z"}},
                   "data": {"port": "80"}}
    assert parse_apply_body(manifest_yaml) == out


def test_apply_body_must_be_one_object():
    for bad in (b"- a\n- b\n", b"key: [unclosed", b"", b"a: 1\n---\nb: 2\n"):
        with pytest.raises(StatusError) as err:
            parse_apply_body(bad)
        assert err.value.code == 400


# --- content types and malformed bodies ------------------------------------------------------------------------


def test_unknown_content_type_is_415():
    with pytest.raises(StatusError) as err:
        apply_patch("application/json", {}, b"{}", "Pod")
    assert (err.value.code, err.value.reason) == (415, "UnsupportedMediaType")
    assert err.value.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, "
        "application/strategic-merge-patch+json"
    )


def test_content_type_parameters_are_ignored():
    out = apply_patch("application/strategic-merge-patch+json; charset=utf-8", {"data": {}}, b'{"data":{"a":"b"}}',
                      "ConfigMap")
    assert out == {"data": {"a": "b"}}


@pytest.mark.parametrize(("content_type", "payload"), [
    (STRATEGIC_MERGE_PATCH, b"{not json"),
    (STRATEGIC_MERGE_PATCH, b"[1, 2]"),
    (MERGE_PATCH, b'"just a string"'),
    (MERGE_PATCH, b""),
    (JSON_PATCH, b"{oops"),
    (JSON_PATCH, b"[1]"),
])
def test_malformed_bodies_are_400(content_type, payload):
    with pytest.raises(StatusError) as err:
        apply_patch(content_type, {"metadata": {"name": "x"}}, payload, "ConfigMap")
    assert (err.value.code, err.value.reason) == (400, "BadRequest")
    assert err.value.message.startswith("error decoding patch")
