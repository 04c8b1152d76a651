"""Field sets: which fields of an object a manager owns, kept in the FieldsV1 encoding upstream stores.

A set is a tree of nested dicts, exactly as `metadata.managedFields[].fieldsV1` holds it, so a stored set needs no
decoding: `f:<name>` is a field, `k:{"name":"nginx"}` an item of a list keyed by some of its fields, `v:"x"` an item
of a list of values (a set, like `finalizers`). A node `{}` is a member of the set; a node with children is a member
itself only when it also holds `.` (a container *item* is owned, not only some fields in it). The root is never a
member.

Which lists are keyed, and by what, comes from the strategic-merge metadata (`api/strategic.py`), corrected where
upstream's OpenAPI `x-kubernetes-list-map-keys` name more keys than the `patchMergeKey` (ports are keyed by port *and*
protocol). Lists without metadata are atomic: owned whole, as upstream treats every untagged list.

Upstream: sigs.k8s.io/structured-merge-diff `fieldpath/set.go` (the set operations), `fieldpath/serialize.go` (the
encoding), `typed/tofieldset.go` (the set of an applied configuration) and `typed/compare.go` (what a write added,
changed and removed).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import orjson

from kubeling.api import strategic

Tree = dict[str, Any]
MEMBER = "."

# Lists whose upstream list-map keys differ from the strategic merge key, and the keys' defaults.
_LIST_MAP_KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Container", "ports"): ("containerPort", "protocol"),
    ("ServiceSpec", "ports"): ("port", "protocol"),
    ("PodSpec", "topologySpreadConstraints"): ("topologyKey", "whenUnsatisfiable"),
}
_KEY_DEFAULTS = {"protocol": "TCP"}
# Maps upstream marks `x-kubernetes-map-type: atomic` (a LabelSelector is one value), owned and replaced whole.
_ATOMIC_MAPS = frozenset({("DeploymentSpec", "selector"), ("ReplicaSetSpec", "selector"),
                          ("DaemonSetSpec", "selector"), ("StatefulSetSpec", "selector"), ("JobSpec", "selector")})
ATOMIC = "<atomic>"  # the type of an atomic map's value


# --- the schema: how each field's value is tracked -------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def field(type_name: str | None, name: str) -> tuple[str | None, tuple[str, ...] | None]:
    """(type of the value, list keys) of field `name` of `type_name`. List keys: `()` for a set of values, a tuple
    of field names for a keyed list, None for an atomic list (or a value that is not a list)."""
    if (type_name or "", name) in _ATOMIC_MAPS:
        return ATOMIC, None
    meta = strategic.field_of(type_name, name)
    if not meta.merge:
        return meta.type, None
    if meta.merge_key is None:
        return meta.type, ()
    return meta.type, _LIST_MAP_KEYS.get((type_name or "", name), (meta.merge_key,))


def root_type(kind: str) -> str | None:
    return kind if kind in strategic.SCHEMA else None


def item_element(item: Any, keys: tuple[str, ...]) -> str | None:
    """The path element of a list item (`k:{...}` or `v:...`), or None when the item lacks a key."""
    if not keys:
        return "v:" + _compact(item)
    if not isinstance(item, dict):
        return None
    values = {}
    for key in keys:
        value = item.get(key, _KEY_DEFAULTS.get(key))
        if value is None:
            return None
        values[key] = value
    return "k:" + _compact(values)


def list_elements(items: list[Any], keys: tuple[str, ...] | None) -> dict[str, Any] | None:
    """`{element: item}` for a keyed list or set; None when the list must be treated as atomic."""
    if keys is None:
        return None
    out: dict[str, Any] = {}
    for item in items:
        element = item_element(item, keys)
        if element is None or element in out:
            return None  # an item without its key (or a duplicate): own the list whole rather than guess
        out[element] = item
    return out


def _compact(value: Any) -> str:
    """Compact JSON with sorted keys, as upstream encodes key and value path elements."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


# --- nodes and set operations ----------------------------------------------------------------------------------


def _split(node: Tree) -> tuple[bool, Tree]:
    """(member?, children) of a node."""
    if not node:
        return True, {}
    if MEMBER in node:
        return True, {k: v for k, v in node.items() if k != MEMBER}
    return False, node


def _join(member: bool, children: Tree) -> Tree | None:
    """The node for (member?, children); None when it holds nothing."""
    if not children:
        return {} if member else None
    return {MEMBER: {}, **children} if member else children


def union(a: Tree, b: Tree) -> Tree:
    """The paths in `a` or `b`; sorted when both are (a level gaining elements is sorted again)."""
    if not a:
        return b
    if not b:
        return a
    out = dict(a)
    grew = False
    for element, node in b.items():
        mine = out.get(element)
        if mine is None:
            out[element] = node
            grew = True
        else:
            (ma, ca), (mb, cb) = _split(mine), _split(node)
            out[element] = _join(ma or mb, union(ca, cb)) or {}
    return {element: out[element] for element in sorted(out, key=_order)} if grew else out


def difference(a: Tree, b: Tree) -> Tree:
    """The paths of `a` not in `b`."""
    if not a or not b:
        return a
    out: Tree = {}
    for element, node in a.items():
        other = b.get(element)
        if other is None:
            out[element] = node
            continue
        (ma, ca), (mb, cb) = _split(node), _split(other)
        kept = _join(ma and not mb, difference(ca, cb))
        if kept is not None:
            out[element] = kept
    return out


def intersection(a: Tree, b: Tree) -> Tree:
    out: Tree = {}
    for element, node in a.items():
        other = b.get(element)
        if other is None:
            continue
        (ma, ca), (mb, cb) = _split(node), _split(other)
        kept = _join(ma and mb, intersection(ca, cb))
        if kept is not None:
            out[element] = kept
    return out


# Every set built here is in upstream's order, `.` first, then fields, keys, values and indexes, each sorted: the
# sets of objects are built in that order and the operations keep it, so a write never sorts a whole set again.


def _order(element: str) -> tuple[int, str]:
    return (".fkvi".find(element[0]), element)


def paths(tree: Tree, prefix: str = "") -> list[str]:
    """Each member of the set as upstream prints a path (`.spec.containers[name="app"].image`), in its order."""
    members: list[str] = []
    nested: list[str] = []
    for element in sorted(tree, key=_order):
        if element == MEMBER:
            continue
        path = prefix + _show(element)
        member, children = _split(tree[element])
        if member:
            members.append(path)
        nested.extend(paths(children, path))
    return members + nested


def _show(element: str) -> str:
    kind, rest = element[0], element[2:]
    if kind == "f":
        return "." + rest
    if kind == "k":
        return "[" + ",".join(f"{k}={_compact(v)}" for k, v in json.loads(rest).items()) + "]"
    if kind == "v":
        return "[=" + rest + "]"
    return "[" + rest + "]"


# --- the sets of objects ---------------------------------------------------------------------------------------


def of_object(obj: dict[str, Any], type_name: str | None, *, added: bool = False) -> Tree:
    """Every field of `obj`, as upstream's ToFieldSet lists an applied configuration: scalars, atomic lists, list
    items, empty maps and nulls are members. `added` marks maps too (except known structs), as upstream's
    comparison does for a map a write added: `f:labels: {.: {}, f:app: {}}`."""
    out: Tree = {}
    for name in sorted(obj):
        node = _node(obj[name], type_name, name, added)
        if node is not None:
            out["f:" + name] = node
    return out


def _node(value: Any, parent_type: str | None, name: str, added: bool) -> Tree | None:
    kind = type(value)
    if kind is not dict and kind is not list:
        return {}  # a scalar (most fields): no schema to look up
    value_type, keys = field(parent_type, name)
    if value_type == ATOMIC:
        return {}
    if kind is dict:
        member = not value or (added and value_type not in strategic.SCHEMA)
        return _join(member, of_object(value, value_type, added=added))
    if kind is list:
        elements = list_elements(value, keys)
        if elements is None:
            return {}
        return _join(False, {element: _item_node(elements[element], value_type, added)
                             for element in sorted(elements, key=_order)})
    return {}


def _item_node(item: Any, item_type: str | None, added: bool) -> Tree:
    if isinstance(item, dict):
        return _join(True, of_object(item, item_type, added=added)) or {}
    return {}


def compare(old: dict[str, Any], new: dict[str, Any], type_name: str | None) -> tuple[Tree, Tree]:
    """(added or changed, removed) between two versions of an object, as upstream's Compare: unchanged subtrees
    are skipped whole (one `==`, in C), so a write costs in proportion to what it changed."""
    changed: Tree = {}
    removed: Tree = {}
    for name in sorted(new):
        value = new[name]
        before = old.get(name, _MISSING)
        if before is value or before == value:
            continue
        element = "f:" + name
        if before is _MISSING:
            node = _node(value, type_name, name, True)
            if node is not None:
                changed[element] = node
            continue
        c, r = _compare_value(before, value, type_name, name)
        if c is not None:
            changed[element] = c
        if r is not None:
            removed[element] = r
    gone = [name for name in old if name not in new]
    for name in sorted(gone):
        node = _node(old[name], type_name, name, True)
        if node is not None:
            removed["f:" + name] = node
    return changed, (removed if not gone or len(removed) == len(gone) else _sorted_level(removed))


_MISSING = object()


def _sorted_level(tree: Tree) -> Tree:
    return {element: tree[element] for element in sorted(tree, key=_order)}


def _compare_value(before: Any, after: Any, parent_type: str | None, name: str) -> tuple[Tree | None, Tree | None]:
    value_type, keys = field(parent_type, name)
    if isinstance(before, dict) and isinstance(after, dict) and value_type != ATOMIC:
        c, r = compare(before, after, value_type)
        return _join(False, c), _join(False, r)
    if isinstance(before, list) and isinstance(after, list):
        old_items, new_items = list_elements(before, keys), list_elements(after, keys)
        if old_items is not None and new_items is not None:
            changed: Tree = {}
            removed: Tree = {}
            for element in sorted(new_items, key=_order):
                item = new_items[element]
                previous = old_items.get(element, _MISSING)
                if previous is _MISSING:
                    changed[element] = _item_node(item, value_type, True)
                elif previous != item and isinstance(item, dict) and isinstance(previous, dict):
                    c, r = compare(previous, item, value_type)
                    if c:
                        changed[element] = c
                    if r:
                        removed[element] = r
            for element in sorted(old_items, key=_order):
                if element not in new_items:
                    removed[element] = _item_node(old_items[element], value_type, True)
            return _join(False, changed), _join(False, _sorted_level(removed))
    return {}, None  # a changed scalar, an atomic list, or a value of another shape: the field itself changed
