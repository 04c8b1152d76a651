"""What a resource does when it is created, updated and deleted, unless its kind says otherwise.

Upstream splits this into the interfaces of `staging/src/k8s.io/apiserver/pkg/registry/rest/`: `create.go`
(RESTCreateStrategy: PrepareForCreate, Validate, Canonicalize), `update.go` (RESTUpdateStrategy: PrepareForUpdate,
ValidateUpdate) and `delete.go` (RESTDeleteStrategy, RESTGracefulDeleteStrategy: CheckGracefulDelete, and the
deletion timestamp of BeforeDelete), and each kind implements them in `pkg/registry/<group>/<kind>/strategy.go`.
Here `Strategy` is that default implementation; a kind whose behaviour differs subclasses it in its own module
(`core/pod.py`, `core/namespace.py`, ...), and a kind that differs only in data (its selectable fields, whether
its status is reset on create) is a `Strategy` with those arguments in the table of `strategies/__init__.py`.

The generic registry (`apiserver/registry.py`) calls these hooks and never asks which kind it holds.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

from kubeling.api import meta, printers, validation
from kubeling.api.defaults import apply_defaults
from kubeling.api.resources import ResourceType, lookup
from kubeling.api.selectors import label_selector_string
from kubeling.api.types import Obj

# Keys a write creates and deletes in the same etcd transaction as the object (a Service's IP and ports).
Claims = tuple[Sequence[tuple[str, bytes]], Sequence[str]]
NO_CLAIMS: Claims = ((), ())
# Fields every resource can be selected on (upstream's DefaultClusterScopedAttr / DefaultNamespaceScopedAttr).
COMMON_FIELD_SELECTORS = ("metadata.name", "metadata.namespace")


class Strategy:
    """The default behaviour of a resource; one instance per resource, made once when the server starts."""

    # Built-in kinds are decoded into typed structs, so a field of the wrong JSON type fails decoding (400)
    # before validation; custom resources are decoded as plain JSON and their schema reports it (422).
    typed = True
    # Whether a strategic merge patch applies: it needs the kind's patch strategies, which custom resources lack.
    strategic_merge = True

    def __init__(self, rtype: ResourceType, *, reset_status_on_create: bool = False,
                 selectable_fields: tuple[str, ...] = (), status_counts: tuple[str, ...] = ()) -> None:
        self.rtype = rtype
        # Upstream resets status on create for objects whose status only controllers write.
        self.reset_status_on_create = reset_status_on_create
        # Status counts upstream's Go types declare without `omitempty`, so every response carries them, 0 when
        # unset (ReplicaSetStatus.replicas, DaemonSetStatus.numberReady, ...); strict clients require them.
        self.status_counts = status_counts
        # The fields a fieldSelector may name (upstream's GetAttrs and ToSelectableFields in each strategy.go).
        self.field_selectors = frozenset(COMMON_FIELD_SELECTORS + selectable_fields)

    # Create

    def prepare_for_create(self, obj: Obj, asked_name: str) -> None:
        """Make a new object what the server stores: a fresh generation, a cleared status where the status is
        the controllers', and upstream's defaults (which upstream's decoder applies). `asked_name` is the name
        the client asked for (its generateName when it gave no name), for messages."""
        if "spec" in obj or self.reset_status_on_create:
            obj["metadata"]["generation"] = 1
        if self.reset_status_on_create:
            obj["status"] = {}
        self.fill_status_counts(obj)
        apply_defaults(obj["kind"], obj)

    def fill_status_counts(self, obj: Obj) -> None:
        if self.status_counts:
            status = obj.setdefault("status", {})
            if isinstance(status, dict):
                for name in self.status_counts:
                    status.setdefault(name, 0)

    def validate(self, obj: Obj) -> list[Obj]:
        """The causes that make a new object invalid (empty when it is valid)."""
        return validation.validate(self.rtype, obj, None)

    def unknown_fields(self, obj: Obj) -> list[str]:
        """The fields of a request body that the kind does not know and a write would drop, for the
        `fieldValidation` query parameter (kubeling checks this for custom resources only)."""
        return []

    # Update

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """Keep what a write of the main resource may not change: the status (written through /status), and
        count a change of the spec in metadata.generation."""
        if self.rtype.has_status:
            new["status"] = meta.deep_copy(old.get("status", {}))
        apply_defaults(new["kind"], new)
        old_meta = old["metadata"]
        if "generation" in old_meta and new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old_meta["generation"] + 1

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        """What a write of /status stores: the old object with the new status, nothing else (upstream's status
        strategies copy the spec and ResetObjectMetaForStatus)."""
        kept = meta.deep_copy(old)
        kept["status"] = new.get("status", {})
        self.fill_status_counts(kept)
        return kept

    def validate_update(self, new: Obj, old: Obj) -> list[Obj]:
        """The causes that make an update invalid (empty when it is valid)."""
        return validation.validate(self.rtype, new, old)

    # Allocation: keys claimed with the object, in the same transaction

    allocates = False  # does `allocate` claim keys (then a create keeps a copy of the object as asked, to retry)

    def allocate(self, new: Obj, old: Obj | None) -> Claims:
        """Keys to create and to delete together with writing `new` (over `old`, None on create); `new` gets
        what was picked for it (a Service's cluster IP). When another writer took a key first, a create calls it
        again on a fresh copy of the object as the client sent it."""
        return NO_CLAIMS

    def release(self, obj: Obj) -> Sequence[str]:
        """Keys to delete together with `obj`."""
        return ()

    # Delete

    def check_delete(self, name: str) -> None:
        """Refuse the delete of an object that may never be deleted (raise a StatusError)."""

    def grace_period(self, obj: Obj, requested: Any) -> int:
        """Seconds a deleted object stays (Terminating) before it goes; `requested` is DeleteOptions'
        gracePeriodSeconds. Only kinds that implement upstream's RESTGracefulDeleteStrategy have one."""
        return 0

    def holds_deletion(self, obj: Obj) -> bool:
        """Whether something besides metadata.finalizers keeps a deleted object (a namespace's spec.finalizers)."""
        return False

    def prepare_for_delete(self, obj: Obj, grace: int) -> None:
        """Mark an object as being deleted, as upstream's BeforeDelete: a deletion timestamp `grace` seconds
        ahead; a second delete may shorten the grace period, never lengthen it."""
        metadata = obj["metadata"]
        if not metadata.get("deletionTimestamp") or (
            metadata.get("deletionGracePeriodSeconds") is not None and grace < metadata["deletionGracePeriodSeconds"]
        ):
            moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=grace)
            metadata["deletionTimestamp"] = meta.format_time(moment)
            metadata["deletionGracePeriodSeconds"] = grace
            if "generation" in metadata:
                metadata["generation"] += 1

    # The scale subresource (autoscaling/v1 Scale), for kinds that have one

    def scale(self, obj: Obj) -> Obj:
        """The object's Scale: spec.replicas, status.replicas and the label selector as a string."""
        metadata = obj["metadata"]
        selector = obj.get("spec", {}).get("selector")
        if isinstance(selector, dict) and not selector.keys() <= {"matchLabels", "matchExpressions"}:
            selector = {"matchLabels": selector}  # a ReplicationController's selector is a plain set of labels
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {key: metadata[key] for key in ("name", "namespace", "uid", "resourceVersion",
                                                        "creationTimestamp") if key in metadata},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {
                "replicas": obj.get("status", {}).get("replicas", 0),
                "selector": label_selector_string(selector) if isinstance(selector, dict) else "",
            },
        }

    def set_replicas(self, obj: Obj, replicas: int) -> None:
        """Write a Scale's spec.replicas back into the object."""
        obj.setdefault("spec", {})["replicas"] = replicas

    # Reading

    def reader(self, rtype: ResourceType) -> Callable[[Obj], Obj] | None:
        """How a stored object is shown through `rtype`'s version, when that is not as stored (None: as stored).
        The function must not change its argument: stored objects are shared with the watch cache."""
        return None

    def table(self, objects: list[Obj], **options: Any) -> Obj:
        """The objects as a `meta.k8s.io/v1` Table (upstream's TableConvertor): `printers.to_table`'s options."""
        return printers.to_table(self.rtype, objects, **options)


def served(group: str, plural: str) -> ResourceType:
    """The resource type a strategy is for (one that `api/resources.py` lists)."""
    rtype = lookup(group, plural)
    if rtype is None:
        raise LookupError(f"no resource {plural} in group {group!r}")
    return rtype
