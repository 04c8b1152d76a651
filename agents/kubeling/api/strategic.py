"""Strategic merge patch (SMP), as k8s.io/apimachinery's `strategicpatch` applies it.

A strategic merge patch is a JSON merge patch that knows the schema: some lists are merged element by element
on a *merge key* (containers by `name`), and a few `$`-prefixed directives say what plain JSON cannot:

* `{"$patch": "delete", KEY: v}` in a keyed list removes that element; `{"$patch": "replace"}` as an element means
  "the list is exactly the other elements"; inside a map, `$patch: replace` replaces the map whole and
  `$patch: delete` removes it.
* `$setElementOrder/<field>`: the final order of a keyed or primitive list, as `{KEY: v}` items or values.
* `$retainKeys`: drop every key of the live map not listed (switching `strategy.type` to `Recreate` drops
  `rollingUpdate`).
* `$deleteFromPrimitiveList/<field>`: values to remove from a primitive list merged as a set (`finalizers`).

Merged lists are ordered the way upstream orders them: elements named in the patch (or in `$setElementOrder`,
which wins) come in that order; elements only the server has keep their relative order and are slotted in before
the first patch element that sits after them in the live list. So live `[a, b]` patched with a new `[c]` and no
order directive gives `[c, a, b]`, exactly as upstream; kubectl always sends `$setElementOrder`, so its order wins.

Where this module deliberately differs from upstream (all invisible once upstream decodes into Go structs):
values new to the object (absent keys, appended elements, replacements) are cleaned, i.e. nulls dropped and
nested directives applied, where upstream copies them raw; `$patch: delete` on a map field removes the key, where
upstream leaves `{}`; `$patch: merge` is accepted as a no-op, where upstream rejects it; and
`$deleteFromPrimitiveList` runs after the other keys of its map, on any list.

Errors use upstream's codes: malformed directives are 400, lists of lists 422, and the errors upstream leaves
untyped (a list element without its merge key, an unknown `$patch` value) 500 with upstream's message.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubeling.api import meta
from kubeling.api.errors import StatusError, bad_request

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER_PREFIX = "$setElementOrder"
DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList"


@dataclasses.dataclass(frozen=True)
class Field:
    """Patch metadata of one struct field, as the `patchStrategy`/`patchMergeKey` Go tags say."""

    type: str | None = None  # schema type of the value, or of each list element; None means "unknown"
    merge: bool = False  # a list merged rather than replaced whole
    merge_key: str | None = None  # lists of maps: the key elements are matched on
    retain_keys: bool = False  # the field honours $retainKeys (kept for reference: the directive works anywhere)


UNKNOWN = Field()  # unknown fields behave like a JSON merge patch: maps merge, lists are replaced
SET = Field(merge=True)  # a primitive list merged as an ordered set (metadata.finalizers)


def keyed(type_name: str | None, key: str, *, retain_keys: bool = False) -> Field:
    return Field(type_name, merge=True, merge_key=key, retain_keys=retain_keys)


def struct(type_name: str, *, retain_keys: bool = False) -> Field:
    return Field(type_name, retain_keys=retain_keys)


# Go-like types, keyed by type name; each lists only the fields whose patch behaviour differs from "unknown"
# or that lead to such fields. Lists not listed are atomic (replaced whole), which is what upstream does for
# envFrom, tolerations, taints, args, command, Endpoints.subsets and every other untagged list.
_CONDITIONS = keyed(None, "type")
SCHEMA: dict[str, dict[str, Field]] = {
    "ObjectMeta": {"finalizers": SET, "ownerReferences": keyed(None, "uid")},
    # Workloads
    "PodTemplateSpec": {"metadata": struct("ObjectMeta"), "spec": struct("PodSpec")},
    "PodSpec": {
        "containers": keyed("Container", "name"),
        "initContainers": keyed("Container", "name"),
        "ephemeralContainers": keyed("Container", "name"),
        "volumes": keyed(None, "name", retain_keys=True),
        "imagePullSecrets": keyed(None, "name"),
        "hostAliases": keyed(None, "ip"),
        "topologySpreadConstraints": keyed(None, "topologyKey"),
        "resourceClaims": keyed(None, "name", retain_keys=True),
        "schedulingGates": keyed(None, "name"),
    },
    "Container": {
        "ports": keyed(None, "containerPort"),
        "env": keyed(None, "name"),
        "volumeMounts": keyed(None, "mountPath"),
        "volumeDevices": keyed(None, "devicePath"),
    },
    "PodStatus": {"conditions": _CONDITIONS, "podIPs": keyed(None, "ip"), "hostIPs": keyed(None, "ip")},
    "DeploymentSpec": {
        "template": struct("PodTemplateSpec"),
        "strategy": struct("DeploymentStrategy", retain_keys=True),
    },
    "ReplicaSetSpec": {"template": struct("PodTemplateSpec")},
    "DaemonSetSpec": {"template": struct("PodTemplateSpec")},
    "StatefulSetSpec": {"template": struct("PodTemplateSpec")},
    "JobSpec": {"template": struct("PodTemplateSpec")},
    "JobTemplateSpec": {"metadata": struct("ObjectMeta"), "spec": struct("JobSpec")},
    "CronJobSpec": {"jobTemplate": struct("JobTemplateSpec")},
    "WorkloadStatus": {"conditions": _CONDITIONS},  # Deployment/ReplicaSet/DaemonSet/StatefulSet/Job status
    # Core
    "ServiceSpec": {"ports": keyed(None, "port")},
    "ServiceStatus": {"conditions": _CONDITIONS},
    "NodeSpec": {"podCIDRs": SET},
    "NodeStatus": {"conditions": _CONDITIONS, "addresses": keyed(None, "type")},
    "NamespaceStatus": {"conditions": _CONDITIONS},
    "ServiceAccount": {"metadata": struct("ObjectMeta"), "secrets": keyed(None, "name")},
}


def _object(spec: str | None = None, status: str | None = None) -> dict[str, Field]:
    fields = {"metadata": struct("ObjectMeta")}
    if spec:
        fields["spec"] = struct(spec)
    if status:
        fields["status"] = struct(status)
    return fields


_KIND_FIELDS = {
    "Pod": _object("PodSpec", "PodStatus"),
    "Service": _object("ServiceSpec", "ServiceStatus"),
    "Endpoints": _object(),
    "ConfigMap": _object(),
    "Secret": _object(),
    "Event": _object(),
    "Lease": _object(),
    "Namespace": _object(status="NamespaceStatus"),
    "Node": _object("NodeSpec", "NodeStatus"),
    "Deployment": _object("DeploymentSpec", "WorkloadStatus"),
    "ReplicaSet": _object("ReplicaSetSpec", "WorkloadStatus"),
    "DaemonSet": _object("DaemonSetSpec", "WorkloadStatus"),
    "StatefulSet": _object("StatefulSetSpec", "WorkloadStatus"),
    "Job": _object("JobSpec", "WorkloadStatus"),
    "CronJob": _object("CronJobSpec"),
}
for _kind, _fields in _KIND_FIELDS.items():
    SCHEMA.setdefault(_kind, _fields)  # ServiceAccount is declared above with its own list field


def field_of(type_name: str | None, name: str) -> Field:
    """Patch metadata of field `name` of type `type_name` (UNKNOWN for unknown types and fields)."""
    return SCHEMA.get(type_name or "", {}).get(name, UNKNOWN)


def strategic_merge(original: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    """Apply strategic merge patch `patch` to `original`, an object of `kind`; returns a new dict.

    An unknown kind has no merge keys, so the patch then acts like a JSON merge patch that still honours
    the `$patch`/`$retainKeys` directives.
    """
    type_name = kind if kind in SCHEMA else None
    return _merge_map(meta.deep_copy(original), meta.deep_copy(patch), type_name)


# --- errors ----------------------------------------------------------------------------------------------------


def _untyped(message: str) -> StatusError:
    """Errors upstream returns as plain Go errors, which the API server turns into a 500."""
    return StatusError(500, message)


def _lists_of_lists() -> StatusError:
    # Upstream answers ErrNoListOfLists with a generic 422 whose message does not name the problem.
    return StatusError(422, "the server rejected our request due to an error in our request", "Invalid")


def _no_merge_key(item: Any, key: str) -> StatusError:
    return _untyped(f"map: {item} does not contain declared merge key: {key}")


# --- maps ------------------------------------------------------------------------------------------------------


def _is_delete(value: Any) -> bool:
    return isinstance(value, dict) and value.get(DIRECTIVE) == "delete"


def _shape(value: Any) -> str:
    return "map" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"


def _merge_map(original: dict[str, Any], patch: dict[str, Any], type_name: str | None) -> dict[str, Any]:
    """Merge `patch` into `original` (both private copies, changed in place) and return the result."""
    directive = patch.pop(DIRECTIVE, None)
    if directive == "replace":
        return _merge_map({}, patch, type_name)
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise _untyped(f"unknown patch type: {directive} in map: {({DIRECTIVE: directive, **patch})}")

    _apply_retain_keys(original, patch)
    _apply_element_orders(original, patch, type_name)
    deletions = []
    for key, value in patch.items():
        if key.startswith(DELETE_PRIMITIVE_PREFIX):
            deletions.append((_strip_prefix(key, DELETE_PRIMITIVE_PREFIX), value))
        else:
            _merge_field(original, key, value, field_of(type_name, key))
    # After the other keys, so `finalizers` additions and removals in one patch cannot cancel out.
    for key, values in deletions:
        if values is None:
            original.pop(key, None)
        elif isinstance(values, list) and isinstance(original.get(key), list):
            original[key] = [v for v in original[key] if not any(_same(v, d) for d in values)]
    return original


def _merge_field(original: dict[str, Any], key: str, value: Any, field: Field) -> None:
    if value is None or _is_delete(value):
        original.pop(key, None)
        return
    current = original.get(key)
    if key not in original or _shape(current) != _shape(value):
        original[key] = _fresh(value, field)
    elif isinstance(value, dict):
        original[key] = _merge_map(current, value, field.type)
    elif isinstance(value, list) and field.merge:
        original[key] = _merge_list(current, value, field)
    else:
        original[key] = _fresh(value, field)


def _fresh(value: Any, field: Field) -> Any:
    """A patch value with nothing to merge onto: drop its nulls and apply its directives."""
    if isinstance(value, dict):
        return _merge_map({}, value, field.type)
    if isinstance(value, list):
        if field.merge:
            return _merge_list([], value, field)
        return [_fresh(item, Field(field.type)) for item in value]
    return value


def _strip_prefix(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        what = "primitive list" if prefix == DELETE_PRIMITIVE_PREFIX else "setElementOrder list"
        raise bad_request(f"invalid patch format of {what}")
    return rest


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list):
        raise bad_request("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_PRIMITIVE_PREFIX, SET_ORDER_PREFIX)):
            continue
        if key not in keep:  # a patch may not set a key it asks to drop
            raise bad_request("invalid patch format of retainKeys")
    for key in [k for k in original if k not in keep]:
        del original[key]


# --- lists -----------------------------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's, `true` is not `1`."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _element_kind(*lists: list[Any]) -> str:
    shapes = {_shape(item) for items in lists for item in items}
    if "list" in shapes:
        raise _lists_of_lists()
    if len(shapes) > 1:
        raise _untyped(f"list element types are not identical: {list(lists)}")
    return shapes.pop() if shapes else "scalar"


def _merge_list(original: list[Any], patch: list[Any], field: Field) -> list[Any]:
    if not original and not patch:
        return original
    if _element_kind(original, patch) == "scalar":
        key = None
        merged = []
        for item in original + patch:
            if not any(_same(item, seen) for seen in merged):
                merged.append(item)
    else:
        key = field.merge_key
        if not key:
            raise _untyped("cannot merge lists without merge key")
        original, patch = _apply_list_directives(original, patch, key, field)
        merged = _merge_by_key(original, patch, key, field.type)
    patch_items, server_only = _partition(merged, patch, key)
    return _order(patch_items, server_only, patch, original, key)


def _apply_list_directives(
    original: list[Any], patch: list[Any], key: str, field: Field
) -> tuple[list[Any], list[Any]]:
    """Apply `$patch` elements; return the remaining original and patch elements."""
    rest, replace = [], False
    for item in patch:
        directive = item.get(DIRECTIVE)
        if directive is None:
            rest.append(item)
        elif directive == "delete":
            if key not in item:
                raise _no_merge_key(item, key)
            original = [o for o in original if not (key in o and _same(o[key], item[key]))]
        elif directive == "replace":
            replace = True  # keep scanning: the other directive elements are dropped too
        elif directive == "merge":
            if len(item) > 1:  # `$patch: merge` is what happens anyway; keep the element's content
                rest.append({k: v for k, v in item.items() if k != DIRECTIVE})
        else:
            raise _untyped(f"unknown patch type: {directive} in map: {item}")
    if replace:
        return [_merge_map({}, item, field.type) for item in rest], []
    return original, rest


def _merge_by_key(original: list[Any], patch: list[Any], key: str, type_name: str | None) -> list[Any]:
    merged = list(original)  # `original` stays the live order that _order() compares against
    for item in patch:
        if key not in item:
            raise _no_merge_key(item, key)
        at = next((i for i, o in enumerate(merged) if key in o and _same(o[key], item[key])), None)
        if at is None:
            merged.append(_merge_map({}, item, type_name))
        else:
            merged[at] = _merge_map(merged[at], item, type_name)
    return merged


def _identity(item: Any, key: str | None) -> Any:
    return item.get(key) if key and isinstance(item, dict) else item


def _index(items: list[Any], item: Any, key: str | None) -> int:
    wanted = _identity(item, key)
    return next((i for i, other in enumerate(items) if _same(_identity(other, key), wanted)), -1)


def _partition(merged: list[Any], named: list[Any], key: str | None) -> tuple[list[Any], list[Any]]:
    """Split `merged` into the elements `named` mentions and the server-only rest."""
    inside = [item for item in merged if _index(named, item, key) >= 0]
    outside = [item for item in merged if _index(named, item, key) < 0]
    return inside, outside


def _sorted_by(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    # Elements `order` does not mention go last, in their current order.
    def rank(item: Any) -> int:
        at = _index(order, item, key)
        return at if at >= 0 else len(order)

    return sorted(items, key=rank)


def _order(
    patch_items: list[Any], server_only: list[Any], patch_order: list[Any], live_order: list[Any], key: str | None
) -> list[Any]:
    """Upstream's normalizeElementOrder: interleave server-only elements into the patch-ordered ones."""
    right = _sorted_by(patch_items, patch_order, key)
    left = _sorted_by(server_only, live_order, key)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
        elif i >= len(left):
            out.append(right[j])
            j += 1
        else:
            li, ri = _index(live_order, left[i], key), _index(live_order, right[j], key)
            # A server-only element goes first only if both are live and it came first there.
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


# --- $setElementOrder ------------------------------------------------------------------------------------------


def _apply_element_orders(original: dict[str, Any], patch: dict[str, Any], type_name: str | None) -> None:
    """Merge each list named by a `$setElementOrder/<field>` and put it in that order (removes both from patch)."""
    for directive_key in [k for k in patch if k.startswith(SET_ORDER_PREFIX)]:
        order = patch.pop(directive_key)
        name = _strip_prefix(directive_key, SET_ORDER_PREFIX)
        if not isinstance(order, list):
            raise bad_request("invalid patch format of setElementOrder list")
        field = field_of(type_name, name)
        live = original.get(name) if isinstance(original.get(name), list) else None
        changes = patch.get(name) if isinstance(patch.get(name), list) else None
        key = field.merge_key if _element_kind(live or [], changes or [], order) == "map" else None
        _check_order(changes or [], order, key)
        if changes is not None:
            del patch[name]
            merged = _merge_list(live, changes, field) if live is not None and field.merge else _fresh(changes, field)
        elif live is not None:
            merged = live
        else:
            continue
        named, server_only = _partition(merged, order, key)
        original[name] = _order(named, server_only, order, live or [], key)


def _check_order(changes: list[Any], order: list[Any], key: str | None) -> None:
    """The patch list must name its elements in the same relative order as `$setElementOrder` does."""
    if not changes or not order:
        return
    listed = [item for item in changes if not (isinstance(item, dict) and DIRECTIVE in item)]
    at = 0
    for wanted in order:
        if at < len(listed) and _same(_identity(listed[at], key), _identity(wanted, key)):
            at += 1
    if at < len(listed):
        raise _untyped(f"The order in patch list:\n{changes}\n doesn't match {SET_ORDER_PREFIX} list:\n{order}\n")
