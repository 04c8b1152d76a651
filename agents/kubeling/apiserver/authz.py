"""Authorization: may this user do this? `--authorization-mode` chains authorizers, as upstream's union does.

Members of system:masters may do anything. Then each mode in order (`Node`, `RBAC`, `AlwaysAllow`, `AlwaysDeny`)
allows, denies, or has no opinion; the first decision wins and no decision at all is a 403. The Node authorizer
also carries what upstream's NodeRestriction admission plugin checks, so a kubelet can only write its own Node,
its own Lease and the pods bound to it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from kubeling.api import bootstrappolicy, errors, storage
from kubeling.api.rbac import (
    MASTERS,
    NODE_PREFIX,
    NODES,
    Attributes,
    UserInfo,
    describe_binding,
    forbidden_message,
    pod_references,
    qualified_forbidden,
    rule_allows,
    subject_matches,
)
from kubeling.api.resources import lookup
from kubeling.api.types import Obj
from kubeling.storage.store import Store
from kubeling.storage.watch import Expired

log = logging.getLogger(__name__)

MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")
NODE_LEASE_NAMESPACE = "kube-node-lease"
PODS, NODES_RESOURCE = lookup("", "pods"), lookup("", "nodes")
PERSISTENT_VOLUMES = lookup("", "persistentvolumes")


@dataclasses.dataclass(frozen=True)
class Decision:
    """`allowed` True/False is a decision, None is "no opinion". `message` replaces the whole 403 text."""

    allowed: bool | None
    reason: str = ""
    message: str = ""


NO_OPINION = Decision(None)
ALLOW = Decision(True)


def parse_modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown authorization mode {mode!r} (supported: {', '.join(MODES)})")
    if not modes:
        raise ValueError("at least one authorization mode is required")
    return modes


# RBAC


class Mirror:
    """One resource type kept in memory from its watch hub, as upstream's RBAC authorizer reads informers."""

    def __init__(self, store: Store, plural: str, hub: Any = None) -> None:
        self.store, self.rtype, self.hub = store, lookup("rbac.authorization.k8s.io", plural), hub
        self._objects: dict[tuple[str, str], Obj] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> None:
        revision = self._relist()
        threading.Thread(target=self._follow, args=(revision,), name=f"rbac {self.rtype.plural}", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _relist(self) -> int:
        result = self.store.list(self.rtype, None)
        with self._lock:
            self._objects = {_key(obj): obj for obj in result.items}
        return result.revision

    def _follow(self, revision: int) -> None:
        """Apply the hub's events for as long as the server runs; list again when told the history is gone. A
        failure (etcd away while listing) is retried: this thread must not end, or the rules it holds go stale."""
        relist = False
        while not self._stop.is_set():
            try:
                if relist:
                    revision, relist = self._relist(), False
                for batch in self.hub.events(revision, self._stop):
                    with self._lock:
                        for event in batch:
                            revision = event.revision
                            if event.type == "DELETED":
                                self._objects.pop(_key(event.object), None)
                            else:
                                self._objects[_key(event.object)] = event.object
                self._stop.wait(1.0)  # the stream ended (the hub is stopping): don't spin on it
            except Expired:
                relist = True
            except Exception:
                log.exception("RBAC cache of %s failed; relisting", self.rtype.plural)
                relist = True
                self._stop.wait(1.0)

    def items(self, namespace: str | None = None) -> list[Obj]:
        if self.hub is None:  # no watch hubs (an app built without them): read through
            return self.store.list(self.rtype, namespace).items
        with self._lock:
            return [o for (ns, _), o in self._objects.items() if namespace is None or ns == namespace]

    def get(self, namespace: str, name: str) -> Obj | None:
        if self.hub is None:
            return self.store.try_get(self.rtype, namespace or None, name)
        with self._lock:
            return self._objects.get((namespace, name))


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name", "")


class RBACAuthorizer:
    def __init__(self, store: Store, hubs: dict[str, Any]) -> None:
        self.mirrors = {plural: Mirror(store, plural, hubs.get(plural))
                        for plural in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")}

    def start(self) -> None:
        for mirror in self.mirrors.values():
            if mirror.hub is not None:
                mirror.start()

    def stop(self) -> None:
        for mirror in self.mirrors.values():
            mirror.stop()

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision:
        for binding, subject, rules in self._grants(user, attrs.namespace):
            if any(rule_allows(rule, attrs) for rule in rules):
                return Decision(True, describe_binding(binding, subject))
        return NO_OPINION

    def _grants(self, user: UserInfo, namespace: str) -> Iterable[tuple[Obj, Obj, list[Obj]]]:
        """(binding, matching subject, rules) for every binding that names the user, cluster-wide ones first."""
        bindings = [(b, "") for b in self.mirrors["clusterrolebindings"].items()]
        if namespace:
            bindings += [(b, namespace) for b in self.mirrors["rolebindings"].items(namespace)]
        for binding, binding_namespace in bindings:
            subject = next((s for s in binding.get("subjects") or [] if subject_matches(s, user, binding_namespace)),
                           None)
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole":
                role = self.mirrors["clusterroles"].get("", ref.get("name", ""))
            elif ref.get("kind") == "Role" and binding_namespace:
                role = self.mirrors["roles"].get(binding_namespace, ref.get("name", ""))
            else:
                role = None
            if role is not None:
                yield binding, subject, role.get("rules") or []


# Node


def node_name(user: UserInfo) -> str | None:
    """The node a kubelet's identity names (`system:node:<name>` in system:nodes), or None for anyone else."""
    if NODES not in user.groups or not user.name.startswith(NODE_PREFIX):
        return None
    return user.name[len(NODE_PREFIX):]


NODE_RULES = bootstrappolicy.CLUSTER_ROLES["system:node"]


class NodeAuthorizer:
    """Upstream's Node authorizer with NodeRestriction folded in; `store` answers "which pods run on this node"."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision:
        node = node_name(user)
        if node is None:
            return NO_OPINION
        if not node:
            return Decision(None, f'unknown node for user "{user.name}"')
        if attrs.resource_request and attrs.api_group == "":
            if attrs.resource in ("secrets", "configmaps", "persistentvolumeclaims"):
                return self._read_referenced(node, attrs)
            if attrs.resource == "serviceaccounts":
                return self._create_token(node, attrs)
            if attrs.resource == "nodes" and attrs.verb in ("update", "patch", "delete") and attrs.name != node:
                return _admission_denied(attrs, f'node "{node}" is not allowed to modify node "{attrs.name}"')
            if attrs.resource == "pods" and (attrs.verb == "delete" or attrs.subresource == "status"):
                return self._own_pod(node, attrs)
            if attrs.resource == "persistentvolumes" and attrs.verb in ("update", "patch"):
                return self._own_local_volume(node, attrs)
        if attrs.resource_request and (attrs.api_group, attrs.resource) == ("coordination.k8s.io", "leases"):
            return _lease(node, attrs)
        if any(rule_allows(rule, attrs) for rule in NODE_RULES):
            return ALLOW
        return NO_OPINION

    def _pods_on(self, node: str, namespace: str) -> list[Obj]:
        result = self.store.list(PODS, namespace, predicate=lambda p: (p.get("spec") or {}).get("nodeName") == node)
        return result.items

    def _related(self, node: str, attrs: Attributes) -> bool:
        wanted = (attrs.resource, attrs.name)
        return any(wanted in pod_references(pod) for pod in self._pods_on(node, attrs.namespace))

    def _read_referenced(self, node: str, attrs: Attributes) -> Decision:
        verbs = ("get",) if attrs.resource == "persistentvolumeclaims" else ("get", "list", "watch")
        if attrs.verb not in verbs:
            return Decision(None, "can only read resources of this type")
        if attrs.subresource:
            return Decision(None, "cannot read subresource")
        if not attrs.name:
            return Decision(None, "No Object name found")
        if not self._related(node, attrs):
            return Decision(None, f"no relationship found between node '{node}' and this object")
        return ALLOW

    def _create_token(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb != "create" or not attrs.name:
            return Decision(None, "can only create tokens for individual service accounts")
        if attrs.subresource != "token":
            return Decision(None, "can only create token subresource of serviceaccount")
        if not self._related(node, attrs):
            return Decision(None, f"no relationship found between node '{node}' and this object")
        return ALLOW

    def _own_pod(self, node: str, attrs: Attributes) -> Decision:
        pod = self.store.try_get(PODS, attrs.namespace, attrs.name) if attrs.name else None
        if pod is not None and (pod.get("spec") or {}).get("nodeName") != node:
            doing = "delete pods" if attrs.verb == "delete" else "update pod status for pods"
            return _admission_denied(attrs, f'node "{node}" can only {doing} with spec.nodeName set to itself')
        return ALLOW if any(rule_allows(rule, attrs) for rule in NODE_RULES) else NO_OPINION


    def _own_local_volume(self, node: str, attrs: Attributes) -> Decision:
        """kubeling's addition: a kubelet removes the cleanup finalizer of a local-path volume on its own node
        once it has removed the directory (kubelet/localpath.py); no other volume may it write."""
        pv = self.store.try_get(PERSISTENT_VOLUMES, "", attrs.name) if attrs.name else None
        if pv is None or (pv["metadata"].get("annotations") or {}).get(storage.PROVISIONED_BY) != \
                storage.LOCAL_PATH_PROVISIONER or node not in storage.pv_nodes(pv):
            return Decision(None, f"node '{node}' may only update local-path volumes on itself")
        return ALLOW


def _lease(node: str, attrs: Attributes) -> Decision:
    if attrs.verb not in ("get", "create", "update", "patch", "delete"):
        return Decision(None, "can only get, create, update, patch, or delete a node lease")
    if attrs.namespace != NODE_LEASE_NAMESPACE:
        return Decision(None, f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace')
    # The name of a created lease is in the body: `admit_create` checks it.
    if attrs.verb != "create" and attrs.name != node:
        return Decision(None, "can only access node lease with the same name as the requesting node")
    return ALLOW


def _admission_denied(attrs: Attributes, why: str) -> Decision:
    return Decision(False, why, qualified_forbidden(attrs, why))


# The chain


class Authorizer:
    def __init__(self, modes: list[str], store: Store, hubs: dict[str, Any] | None = None) -> None:
        self.modes = modes
        self.rbac = RBACAuthorizer(store, hubs or {}) if "RBAC" in modes else None
        self.node = NodeAuthorizer(store) if "Node" in modes else None
        chain: dict[str, Callable[[UserInfo, Attributes], Decision]] = {
            "AlwaysAllow": lambda user, attrs: ALLOW,
            "AlwaysDeny": lambda user, attrs: Decision(False),
        }
        if self.rbac is not None:
            chain["RBAC"] = self.rbac.authorize
        if self.node is not None:
            chain["Node"] = self.node.authorize
        self._chain = [chain[mode] for mode in modes]

    @property
    def always_allow(self) -> bool:
        return self.modes[0] == "AlwaysAllow"

    def start(self) -> None:
        if self.rbac is not None:
            self.rbac.start()

    def stop(self) -> None:
        if self.rbac is not None:
            self.rbac.stop()

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision:
        if MASTERS in user.groups:
            return Decision(True, "")
        reasons: list[str] = []
        for authorizer in self._chain:
            decision = authorizer(user, attrs)
            if decision.allowed is not None:
                return decision
            if decision.reason:
                reasons.append(decision.reason)
        return Decision(False, "\n".join(reasons))

    def check(self, user: UserInfo, attrs: Attributes) -> None:
        """Raise the 403 upstream would send when `user` may not do `attrs`."""
        decision = self.authorize(user, attrs)
        if decision.allowed:
            return
        message = decision.message or forbidden_message(user, attrs, decision.reason)
        log.info("forbidden: %s", message)
        raise errors.StatusError(403, message, "Forbidden", name=attrs.name or None, group=attrs.api_group,
                                 kind=attrs.resource or None)

    def admit_create(self, user: UserInfo, attrs: Attributes, obj: Obj) -> None:
        """NodeRestriction for creates, where the new object's name is only known from the body."""
        node = node_name(user) if self.node is not None and MASTERS not in user.groups else None
        if not node or not isinstance(obj, dict):
            return
        name = (obj.get("metadata") or {}).get("name", "")
        named = dataclasses.replace(attrs, name=name)
        if (attrs.api_group, attrs.resource) == ("", "nodes") and name != node:
            raise _forbidden(named, f'node "{node}" is not allowed to modify node "{name}"')
        if (attrs.api_group, attrs.resource) == ("coordination.k8s.io", "leases") and name != node:
            raise _forbidden(named, "can only access node lease with the same name as the requesting node")
        if (attrs.api_group, attrs.resource) == ("", "pods") and not attrs.subresource:
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            if "kubernetes.io/config.mirror" not in annotations:
                raise _forbidden(named, f'pod does not have "kubernetes.io/config.mirror" annotation, node "{node}" '
                                        "can only create mirror pods")
            if (obj.get("spec") or {}).get("nodeName") != node:
                raise _forbidden(named, f'node "{node}" can only create pods with spec.nodeName set to itself')


def _forbidden(attrs: Attributes, why: str) -> errors.StatusError:
    return errors.StatusError(403, qualified_forbidden(attrs, why), "Forbidden", name=attrs.name or None,
                              group=attrs.api_group, kind=attrs.resource or None)
