"""The resource types the API server serves, and what discovery says about each.

One `ResourceType` per resource; the API server, discovery, OpenAPI, tables and validation all look types up
here, so adding a resource is one entry in `RESOURCES` (and, when it behaves unlike the default, a strategy in
`kubeling/apiserver/strategies/`).

Besides these built-in types, a process may learn custom ones at run time (`set_custom`): the API server from
the established CustomResourceDefinitions in etcd, the controller-manager from its informer on them. Lookups
answer for both, as upstream's RESTMapper answers for the built-in and the discovered kinds alike.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "binding": ("create",),
    "eviction": ("create",),
    "log": ("get",),
    "finalize": ("update",),
    "token": ("create",),
    # Streams into a pod (apiserver/streaming.py): GET for WebSocket clients, POST for SPDY ones.
    "exec": ("create", "get"),
    "attach": ("create", "get"),
    "portforward": ("create", "get"),
    # HTTP forwarded to a pod or a Service's endpoint (apiserver/proxy.py): any method, authorized by it.
    "proxy": ("create", "delete", "get", "patch", "update"),
}


@dataclasses.dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    # Reviews (SelfSubjectAccessReview, …) are only ever created, answered and forgotten: nothing is stored.
    create_only: bool = False
    # Another API's view of objects stored as `stores_as` (group, plural), converted both ways by the server
    # (events.k8s.io/v1 events are core/v1 events: apiserver/views.py).
    stores_as: tuple[str, str] | None = None
    # Answered by the server from the cluster's state on every read, never stored (componentstatuses).
    computed: bool = False

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """`deployments.apps` or `pods`: the name used in upstream error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def verbs(self) -> tuple[str, ...]:
        if self.computed:
            return ("get", "list")
        return ("create",) if self.create_only else ALL_VERBS

    @property
    def stored(self) -> bool:
        """Objects of this type are kept in etcd under its own plural (not a view, not computed, not a review)."""
        return not (self.create_only or self.computed or self.stores_as)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def storage_name(self) -> str:
        """The part of the etcd key after the prefix that names this resource (upstream: `pods`, `deployments`;
        a custom resource's is `<group>/<plural>`, so it never clashes with a built-in one)."""
        return self.plural


_core = dict(group="", version="v1")
_apps = dict(group="apps", version="v1")
_batch = dict(group="batch", version="v1")
_rbac = dict(group="rbac.authorization.k8s.io", version="v1")

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(**_core, kind="Namespace", plural="namespaces", namespaced=False, short_names=("ns",),
                 subresources=("status", "finalize")),
    ResourceType(**_core, kind="Node", plural="nodes", namespaced=False, short_names=("no",),
                 subresources=("status",)),
    ResourceType(**_core, kind="Pod", plural="pods", short_names=("po",), categories=("all",),
                 subresources=("status", "binding", "eviction", "log", "exec", "attach", "portforward", "proxy")),
    ResourceType(**_core, kind="Service", plural="services", short_names=("svc",), categories=("all",),
                 subresources=("status", "proxy")),
    ResourceType(**_core, kind="Endpoints", plural="endpoints", short_names=("ep",)),
    ResourceType(**_core, kind="ConfigMap", plural="configmaps", short_names=("cm",)),
    ResourceType(**_core, kind="Secret", plural="secrets"),
    ResourceType(**_core, kind="Event", plural="events", short_names=("ev",)),
    ResourceType(group="events.k8s.io", version="v1", kind="Event", plural="events", short_names=("ev",),
                 stores_as=("", "events")),
    ResourceType(**_core, kind="ComponentStatus", plural="componentstatuses", namespaced=False, short_names=("cs",),
                 computed=True),
    ResourceType(**_core, kind="ServiceAccount", plural="serviceaccounts", short_names=("sa",),
                 subresources=("token",)),
    ResourceType(**_core, kind="PersistentVolume", plural="persistentvolumes", namespaced=False, short_names=("pv",),
                 subresources=("status",)),
    ResourceType(**_core, kind="PersistentVolumeClaim", plural="persistentvolumeclaims", short_names=("pvc",),
                 subresources=("status",)),
    ResourceType(**_core, kind="PodTemplate", plural="podtemplates"),
    ResourceType(**_core, kind="ReplicationController", plural="replicationcontrollers", short_names=("rc",),
                 categories=("all",), subresources=("status", "scale")),
    ResourceType(**_core, kind="ResourceQuota", plural="resourcequotas", short_names=("quota",),
                 subresources=("status",)),
    ResourceType(**_core, kind="LimitRange", plural="limitranges", short_names=("limits",)),
    ResourceType(group="coordination.k8s.io", version="v1", kind="Lease", plural="leases"),
    ResourceType(group="discovery.k8s.io", version="v1", kind="EndpointSlice", plural="endpointslices"),
    ResourceType(group="storage.k8s.io", version="v1", kind="StorageClass", plural="storageclasses",
                 namespaced=False, short_names=("sc",)),
    ResourceType(**_apps, kind="Deployment", plural="deployments", short_names=("deploy",), categories=("all",),
                 subresources=("status", "scale")),
    ResourceType(**_apps, kind="ReplicaSet", plural="replicasets", short_names=("rs",), categories=("all",),
                 subresources=("status", "scale")),
    ResourceType(**_apps, kind="DaemonSet", plural="daemonsets", short_names=("ds",), categories=("all",),
                 subresources=("status",)),
    ResourceType(**_apps, kind="StatefulSet", plural="statefulsets", short_names=("sts",), categories=("all",),
                 subresources=("status", "scale")),
    ResourceType(**_batch, kind="Job", plural="jobs", categories=("all",), subresources=("status",)),
    ResourceType(**_batch, kind="CronJob", plural="cronjobs", short_names=("cj",), categories=("all",),
                 subresources=("status",)),
    ResourceType(group="policy", version="v1", kind="PodDisruptionBudget", plural="poddisruptionbudgets",
                 short_names=("pdb",), subresources=("status",)),
    ResourceType(**_rbac, kind="ClusterRole", plural="clusterroles", namespaced=False),
    ResourceType(**_rbac, kind="ClusterRoleBinding", plural="clusterrolebindings", namespaced=False),
    ResourceType(**_rbac, kind="Role", plural="roles"),
    ResourceType(**_rbac, kind="RoleBinding", plural="rolebindings"),
    ResourceType(group="apiextensions.k8s.io", version="v1", kind="CustomResourceDefinition",
                 plural="customresourcedefinitions", namespaced=False, short_names=("crd", "crds"),
                 categories=("api-extensions",), subresources=("status",)),
    ResourceType(group="authorization.k8s.io", version="v1", kind="SelfSubjectAccessReview",
                 plural="selfsubjectaccessreviews", namespaced=False, create_only=True),
    ResourceType(group="authentication.k8s.io", version="v1", kind="SelfSubjectReview", plural="selfsubjectreviews",
                 namespaced=False, create_only=True),
    ResourceType(group="authentication.k8s.io", version="v1", kind="TokenReview", plural="tokenreviews",
                 namespaced=False, create_only=True),
    ResourceType(group="authorization.k8s.io", version="v1", kind="SubjectAccessReview",
                 plural="subjectaccessreviews", namespaced=False, create_only=True),
    ResourceType(group="authorization.k8s.io", version="v1", kind="LocalSubjectAccessReview",
                 plural="localsubjectaccessreviews", create_only=True),
    ResourceType(group="scheduling.k8s.io", version="v1", kind="PriorityClass", plural="priorityclasses",
                 namespaced=False, short_names=("pc",)),
)

_BY_GROUP_PLURAL = {(r.group, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.group, r.kind): r for r in RESOURCES}


# Custom resource types this process has learnt of: (group, version, plural) → type, all served versions.
_custom: dict[tuple[str, str, str], ResourceType] = {}


def set_custom(rtypes: Sequence[ResourceType]) -> None:
    """Replace the custom resource types this process serves or knows (one entry per served version)."""
    global _custom
    _custom = {(r.group, r.version, r.plural): r for r in rtypes}


def custom() -> list[ResourceType]:
    return list(_custom.values())


def all_types() -> list[ResourceType]:
    """The built-in types, then the custom ones."""
    return [*RESOURCES, *_custom.values()]


def lookup(group: str, plural: str, version: str = "") -> ResourceType | None:
    """The type of `plural` in `group` (in `version` when given; a custom resource may have several)."""
    found = _BY_GROUP_PLURAL.get((group, plural))
    if found is not None:
        return found
    if version:
        return _custom.get((group, version, plural))
    return next((r for r in _custom.values() if r.group == group and r.plural == plural), None)


def must_lookup(group: str, plural: str) -> ResourceType:
    """The built-in resource `plural` of `group`, for code that names one (as resource.MustParse, it fails loudly
    on a name that is not there)."""
    rtype = lookup(group, plural)
    if rtype is None:
        raise KeyError(f"no resource {plural!r} in group {group!r}")
    return rtype


def lookup_kind(api_version: str, kind: str) -> ResourceType | None:
    group, _, version = api_version.rpartition("/")
    found = _BY_KIND.get((group, kind))
    if found is not None:
        return found
    return next((r for r in _custom.values() if (r.group, r.version, r.kind) == (group, version, kind)), None)


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key putting upstream's preferred versions first: GA before beta before alpha, higher numbers first
    (upstream: apimachinery/pkg/version/helpers.go, CompareKubeAwareVersionStrings)."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if match is None:
        return (3, 0, 0)  # not a Kubernetes version: after the others
    major, stage, minor = match.groups()
    return ({None: 0, "beta": 1, "alpha": 2}[stage], -int(major), -int(minor or 0))


def group_versions() -> dict[str, list[ResourceType]]:
    """Group/version string (`v1`, `apps/v1`) → its resources, in registry order."""
    out: dict[str, list[ResourceType]] = {}
    for r in all_types():
        out.setdefault(r.api_version, []).append(r)
    return out
