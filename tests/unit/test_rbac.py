"""RBAC's pure half: how a request is classified, which rules and subjects match, and upstream's 403 wording."""

from __future__ import annotations

from kubeling.api import bootstrappolicy, validation
from kubeling.api.rbac import (
    Attributes,
    UserInfo,
    forbidden_message,
    pod_references,
    request_attributes,
    rule_allows,
    subject_matches,
)
from kubeling.api.resources import lookup


def test_http_methods_become_kubernetes_verbs() -> None:
    def verb(method: str, path: str, query: str = "") -> str:
        return request_attributes(method, path, query).verb

    assert verb("GET", "/api/v1/namespaces/ns/pods") == "list"
    assert verb("GET", "/api/v1/namespaces/ns/pods", "watch=true") == "watch"
    assert verb("GET", "/api/v1/watch/namespaces/ns/pods") == "watch"
    assert verb("GET", "/api/v1/namespaces/ns/pods/p") == "get"
    assert verb("POST", "/api/v1/namespaces/ns/pods") == "create"
    assert verb("PUT", "/api/v1/namespaces/ns/pods/p") == "update"
    assert verb("PATCH", "/api/v1/namespaces/ns/pods/p") == "patch"
    assert verb("DELETE", "/api/v1/namespaces/ns/pods/p") == "delete"
    assert verb("DELETE", "/api/v1/namespaces/ns/pods") == "deletecollection"


def test_request_attributes_split_the_path_like_upstream() -> None:
    attrs = request_attributes("GET", "/apis/apps/v1/namespaces/ns/deployments/web/scale")
    assert (attrs.api_group, attrs.api_version, attrs.namespace, attrs.resource, attrs.name, attrs.subresource) == \
        ("apps", "v1", "ns", "deployments", "web", "scale")
    ns = request_attributes("PUT", "/api/v1/namespaces/ns/finalize")
    assert (ns.resource, ns.name, ns.subresource, ns.namespace) == ("namespaces", "ns", "finalize", "ns")
    nodes = request_attributes("GET", "/api/v1/nodes")
    assert (nodes.resource, nodes.namespace, nodes.verb) == ("nodes", "", "list")
    # A list of one object by name counts as that object.
    one = request_attributes("GET", "/api/v1/namespaces/ns/secrets", "fieldSelector=metadata.name%3Ddb")
    assert (one.verb, one.name) == ("list", "db")
    # Discovery documents are not resources.
    for path in ("/api", "/api/v1", "/apis/apps/v1", "/healthz", "/openapi/v3"):
        plain = request_attributes("GET", path)
        assert not plain.resource_request and plain.verb == "get" and plain.path == path


def test_rules_match_verbs_groups_resources_and_names() -> None:
    get_pods = request_attributes("GET", "/api/v1/namespaces/ns/pods/p")
    assert rule_allows({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, get_pods)
    assert rule_allows({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, get_pods)
    assert not rule_allows({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}, get_pods)
    assert not rule_allows({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]}, get_pods)
    assert rule_allows({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["p"]}, get_pods)
    assert not rule_allows({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["q"]},
                           get_pods)
    log = request_attributes("GET", "/api/v1/namespaces/ns/pods/p/log")
    assert not rule_allows({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, log)
    assert rule_allows({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, log)
    assert rule_allows({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}, log)


def test_non_resource_urls_match_exactly_or_by_prefix() -> None:
    rule = {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}
    assert rule_allows(rule, request_attributes("GET", "/healthz"))
    assert rule_allows(rule, request_attributes("GET", "/apis/apps/v1"))
    assert not rule_allows(rule, request_attributes("GET", "/version"))
    assert not rule_allows(rule, request_attributes("POST", "/healthz"))


def test_subjects_match_users_groups_and_service_accounts() -> None:
    alice = UserInfo("alice", ("dev", "system:authenticated"))
    robot = UserInfo("system:serviceaccount:ns:robot", ("system:serviceaccounts",))
    assert subject_matches({"kind": "User", "name": "alice"}, alice)
    assert subject_matches({"kind": "Group", "name": "dev"}, alice)
    assert not subject_matches({"kind": "Group", "name": "ops"}, alice)
    assert subject_matches({"kind": "ServiceAccount", "name": "robot", "namespace": "ns"}, robot)
    # In a RoleBinding, a service account without a namespace is one of the binding's own namespace.
    assert subject_matches({"kind": "ServiceAccount", "name": "robot"}, robot, "ns")
    assert not subject_matches({"kind": "ServiceAccount", "name": "robot"}, robot)


def test_forbidden_messages_read_as_upstream_writes_them() -> None:
    alice = UserInfo("alice")
    assert forbidden_message(alice, request_attributes("GET", "/api/v1/namespaces/default/pods")) == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"')
    assert forbidden_message(alice, request_attributes("DELETE", "/apis/apps/v1/namespaces/a/deployments/web")) == (
        'deployments.apps "web" is forbidden: User "alice" cannot delete resource "deployments" in API group "apps" '
        'in the namespace "a"')
    assert forbidden_message(alice, request_attributes("GET", "/api/v1/nodes")) == (
        'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope')
    assert forbidden_message(alice, request_attributes("GET", "/api/v1/namespaces/a/pods/p/log")) == (
        'pods "p" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "a"')
    assert forbidden_message(alice, Attributes(verb="get", resource_request=False, path="/metrics")) == (
        'forbidden: User "alice" cannot get path "/metrics"')


def test_a_pod_references_what_its_kubelet_must_read() -> None:
    pod = {"spec": {
        "serviceAccountName": "robot",
        "imagePullSecrets": [{"name": "registry"}],
        "volumes": [{"name": "a", "secret": {"secretName": "tls"}}, {"name": "b", "configMap": {"name": "conf"}},
                    {"name": "c", "projected": {"sources": [{"configMap": {"name": "kube-root-ca.crt"}}]}}],
        "containers": [{"name": "c", "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}],
                        "envFrom": [{"configMapRef": {"name": "env"}}]}],
    }}
    assert pod_references(pod) == {
        ("serviceaccounts", "robot"), ("secrets", "registry"), ("secrets", "tls"), ("secrets", "db"),
        ("configmaps", "conf"), ("configmaps", "kube-root-ca.crt"), ("configmaps", "env")}
    assert pod_references({"spec": {}}) == {("serviceaccounts", "default")}


def test_bootstrap_policy_is_valid_and_binds_the_components() -> None:
    for role in bootstrappolicy.cluster_roles():
        assert validation.validate(lookup("rbac.authorization.k8s.io", "clusterroles"), role) == []
    for binding in bootstrappolicy.cluster_role_bindings():
        assert validation.validate(lookup("rbac.authorization.k8s.io", "clusterrolebindings"), binding) == []
    subjects = {b["metadata"]["name"]: [s["name"] for s in b["subjects"]]
                for b in bootstrappolicy.cluster_role_bindings()}
    assert subjects["cluster-admin"] == ["system:masters"]
    assert subjects["system:kube-scheduler"] == ["system:kube-scheduler"]
    assert subjects["system:node-proxier"] == ["system:kube-proxy"]


def test_rbac_validation_follows_upstream() -> None:
    roles = lookup("rbac.authorization.k8s.io", "roles")
    role = {"metadata": {"name": "r", "namespace": "ns"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]}
    assert [c["message"] for c in validation.validate(roles, role)] == [
        "Required value: verbs must contain at least one value"]
    urls = {"metadata": {"name": "r", "namespace": "ns"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]}
    assert validation.validate(roles, urls)[0]["message"] == \
        'Invalid value: ["/x"]: namespaced rules cannot apply to non-resource URLs'
    bindings = lookup("rbac.authorization.k8s.io", "clusterrolebindings")
    binding = {"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                      "name": "r"},
               "subjects": [{"kind": "ServiceAccount", "name": "robot"}]}
    assert [(c["field"], c["message"]) for c in validation.validate(bindings, binding)] == [
        ("roleRef.kind", 'Unsupported value: "Role": supported values: "ClusterRole"'),
        ("subjects[0].namespace", "Required value")]
    old = {**binding, "roleRef": {**binding["roleRef"], "kind": "ClusterRole"}}
    changed = {**old, "roleRef": {**old["roleRef"], "name": "other"}}
    assert validation.validate(bindings, changed, old)[-1]["message"].endswith("cannot change roleRef")
    assert validation.validate_name(roles, "system:controller:x") == []
