"""The ClusterRoles and ClusterRoleBindings every cluster starts with (upstream's plugin/pkg/auth/authorizer/rbac/
bootstrappolicy), trimmed to the resources kubeling serves and the components it runs.

Upstream builds admin/edit/view by aggregation; kubeling aggregates nothing, so their rules are written out in full.
"""

from __future__ import annotations

from kubeling.api.types import Obj

READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "patch", "update")
RBAC_GROUP = "rbac.authorization.k8s.io"
# What upstream puts on every bootstrap object, so that a reconciler (and a reader) can tell them apart.
LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def rule(verbs: tuple[str, ...] | str, groups: tuple[str, ...] | str = "", resources: tuple[str, ...] | str = (),
         names: tuple[str, ...] = ()) -> Obj:
    def as_list(value: tuple[str, ...] | str) -> list[str]:
        return [value] if isinstance(value, str) else list(value)

    out: Obj = {"verbs": as_list(verbs), "apiGroups": as_list(groups), "resources": as_list(resources)}
    if names:
        out["resourceNames"] = list(names)
    return out


def url_rule(verbs: tuple[str, ...] | str, *urls: str) -> Obj:
    return {"verbs": [verbs] if isinstance(verbs, str) else list(verbs), "nonResourceURLs": list(urls)}


EVENTS = [rule(("create", "update", "patch"), ("", "events.k8s.io"), "events")]

_VIEW = [
    rule(READ, "", ("configmaps", "endpoints", "persistentvolumeclaims", "pods", "serviceaccounts", "services",
                    "services/status", "events", "namespaces", "namespaces/status", "pods/log", "pods/status")),
    rule(READ, "apps", ("controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                        "deployments/status", "replicasets", "replicasets/scale", "replicasets/status",
                        "statefulsets", "statefulsets/scale", "statefulsets/status")),
    rule(READ, "batch", ("cronjobs", "cronjobs/status", "jobs", "jobs/status")),
    rule(READ, "discovery.k8s.io", "endpointslices"),
]
_EDIT = [
    *_VIEW,
    rule(READ, "", ("secrets", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "services/proxy")),
    rule(WRITE, "", ("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "configmaps", "events",
                     "persistentvolumeclaims", "secrets", "serviceaccounts", "services", "services/proxy")),
    rule("create", "", ("pods/eviction", "serviceaccounts/token")),
    rule("impersonate", "", "serviceaccounts"),
    rule(WRITE, "apps", ("daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                         "replicasets/scale", "statefulsets", "statefulsets/scale")),
    rule(WRITE, "batch", ("cronjobs", "jobs")),
    rule(WRITE, "discovery.k8s.io", "endpointslices"),
]
_ADMIN = [
    *_EDIT,
    rule("create", "authorization.k8s.io", "localsubjectaccessreviews"),
    rule((*READ, *WRITE), RBAC_GROUP, ("rolebindings", "roles")),
]

CLUSTER_ROLES: dict[str, list[Obj]] = {
    "cluster-admin": [rule("*", "*", "*"), url_rule("*", "*")],
    "admin": _ADMIN,
    "edit": _EDIT,
    "view": _VIEW,
    "system:basic-user": [
        rule("create", "authorization.k8s.io", ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),
        rule("create", "authentication.k8s.io", "selfsubjectreviews"),
    ],
    "system:discovery": [url_rule("get", "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                  "/openapi/*", "/readyz", "/version", "/version/")],
    "system:public-info-viewer": [url_rule("get", "/healthz", "/livez", "/readyz", "/version", "/version/")],
    "system:kube-scheduler": [
        *EVENTS,
        rule(("create", "get", "update"), "coordination.k8s.io", "leases"),
        rule(READ, "", ("nodes", "namespaces", "services", "replicationcontrollers", "persistentvolumeclaims",
                        "persistentvolumes")),
        rule((*READ, "delete"), "", "pods"),
        rule("create", "", ("pods/binding", "bindings")),
        rule(("patch", "update"), "", "pods/status"),
        rule(READ, "apps", ("replicasets", "statefulsets")),
        rule(READ, "policy", "poddisruptionbudgets"),
        rule("create", "authentication.k8s.io", "tokenreviews"),
        rule("create", "authorization.k8s.io", "subjectaccessreviews"),
    ],
    # Upstream runs each controller under its own service account; kubeling's controller-manager uses one
    # identity, so this role is the union of what its controllers do (the garbage collector and the namespace
    # controller touch every resource, as upstream's do).
    "system:kube-controller-manager": [
        *EVENTS,
        rule((*READ, "patch", "update", "delete", "deletecollection"), "*", "*"),
        rule("create", "", ("pods", "endpoints", "serviceaccounts", "configmaps", "secrets",
                            "persistentvolumeclaims", "persistentvolumes", "pods/eviction", "pods/binding",
                            "serviceaccounts/token")),
        rule("create", "apps", ("replicasets", "controllerrevisions")),
        rule("create", "batch", "jobs"),
        rule("create", "coordination.k8s.io", "leases"),
        rule("create", "discovery.k8s.io", "endpointslices"),
        rule("create", "authentication.k8s.io", "tokenreviews"),
        rule("create", "authorization.k8s.io", "subjectaccessreviews"),
    ],
    # What the scheduler's volume binding does (upstream's system:volume-scheduler): read the classes, and mark
    # a WaitForFirstConsumer claim with the node its pod goes to.
    "system:volume-scheduler": [
        rule((*READ, "patch", "update"), "", ("persistentvolumes", "persistentvolumeclaims")),
        rule(READ, "storage.k8s.io", "storageclasses"),
    ],
    "system:node-proxier": [
        *EVENTS,
        rule(("list", "watch"), "", ("services", "endpoints")),
        rule(("list", "watch"), "discovery.k8s.io", "endpointslices"),
        rule(READ, "", "nodes"),
    ],
    # Upstream's system:kube-dns reads Services and their endpoints; kubeling's DNS daemons also publish
    # themselves as the kube-dns Service's endpoints (dns/endpoints.py): a Lease each and one EndpointSlice.
    "system:kube-dns": [
        *EVENTS,
        rule(("list", "watch"), "", ("services", "endpoints")),
        rule(READ, "discovery.k8s.io", "endpointslices"),
        rule(("create", "update", "patch", "delete"), "discovery.k8s.io", "endpointslices"),
        rule((*READ, "create", "update", "patch", "delete"), "coordination.k8s.io", "leases"),
    ],
    # What a kubelet may do at most. Upstream binds it to nobody: the Node authorizer grants it, narrowed to the
    # node's own objects; it is here for reference and for clusters that bind it by hand.
    "system:node": [
        *EVENTS,
        rule("create", "authentication.k8s.io", "tokenreviews"),
        rule("create", "authorization.k8s.io", ("subjectaccessreviews", "localsubjectaccessreviews")),
        rule(READ, "", ("services", "pods", "secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes")),
        rule(("create", "get", "list", "watch", "update", "patch"), "", "nodes"),
        rule(("patch", "update"), "", ("nodes/status", "pods/status")),
        rule(("create", "delete"), "", "pods"),
        rule("create", "", ("pods/eviction", "serviceaccounts/token")),
        rule(("get", "create", "update", "patch", "delete"), "coordination.k8s.io", "leases"),
    ],
}

# (binding name, role name, subjects as (kind, name))
CLUSTER_ROLE_BINDINGS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("cluster-admin", "cluster-admin", [("Group", "system:masters")]),
    ("system:basic-user", "system:basic-user", [("Group", "system:authenticated")]),
    ("system:discovery", "system:discovery", [("Group", "system:authenticated")]),
    ("system:public-info-viewer", "system:public-info-viewer",
     [("Group", "system:authenticated"), ("Group", "system:unauthenticated")]),
    ("system:kube-scheduler", "system:kube-scheduler", [("User", "system:kube-scheduler")]),
    ("system:volume-scheduler", "system:volume-scheduler", [("User", "system:kube-scheduler")]),
    ("system:kube-controller-manager", "system:kube-controller-manager", [("User", "system:kube-controller-manager")]),
    ("system:node-proxier", "system:node-proxier", [("User", "system:kube-proxy")]),
    ("system:kube-dns", "system:kube-dns", [("User", "system:kube-dns")]),
]


def _meta(name: str) -> Obj:
    return {"name": name, "labels": dict(LABELS), "annotations": dict(ANNOTATIONS)}


def cluster_roles() -> list[Obj]:
    return [{"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole", "metadata": _meta(name), "rules": rules}
            for name, rules in CLUSTER_ROLES.items()]


def cluster_role_bindings() -> list[Obj]:
    return [
        {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding", "metadata": _meta(name),
         "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
         "subjects": [{"kind": kind, "apiGroup": RBAC_GROUP, "name": subject} for kind, subject in subjects]}
        for name, role, subjects in CLUSTER_ROLE_BINDINGS
    ]
