"""Server-side apply's merge: an applied configuration laid over the live object, and the fields its manager
stopped applying taken out again.

`merge`: maps merge key by key; keyed lists merge item by item on their keys and sets of values merge by value
(both keep the live items the configuration does not name where they were); anything else, atomic lists included,
is replaced by the configuration's value. A `null` in the configuration removes the field.

`prune`: the fields a manager applied last time and has now left out are removed, unless another manager (or the
same manager's new configuration) still owns them.

Inputs are never changed: both return new dicts along the paths they touch and share the rest.

Upstream: sigs.k8s.io/structured-merge-diff `typed/merge.go` (the merge and its list order) and `merge/update.go`
(`prune`, `addBackOwnedItems`).
"""

from __future__ import annotations

from typing import Any

from kubeling.api.fieldmanager.fieldset import ATOMIC, MEMBER, Tree, field, list_elements


def merge(live: dict[str, Any], config: dict[str, Any], type_name: str | None) -> dict[str, Any]:
    out = dict(live)
    for name, value in config.items():
        if value is None:
            out.pop(name, None)
        elif name in out:
            out[name] = _merge_value(out[name], value, type_name, name)
        else:
            out[name] = _fresh(value)
    return out


def _fresh(value: Any) -> Any:
    """A configuration's value as stored: a copy, with its nulls dropped."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _merge_value(live: Any, applied: Any, parent_type: str | None, name: str) -> Any:
    value_type, keys = field(parent_type, name)
    if isinstance(live, dict) and isinstance(applied, dict) and value_type != ATOMIC:
        return merge(live, applied, value_type)
    if isinstance(live, list) and isinstance(applied, list):
        live_items, applied_items = list_elements(live, keys), list_elements(applied, keys)
        if live_items is not None and applied_items is not None:
            return _merge_items(live_items, applied_items, value_type)
    return _fresh(applied)


def _merge_items(live: dict[str, Any], applied: dict[str, Any], item_type: str | None) -> list[Any]:
    """Upstream's order: live items the configuration does not name stay where they were; the named ones come in
    the configuration's order."""
    out: list[Any] = []
    live_order, applied_order = list(live), list(applied)
    done: set[str] = set()
    i = j = 0
    while i < len(live_order) or j < len(applied_order):
        if i < len(live_order) and (live_order[i] not in applied or live_order[i] in done):
            if live_order[i] not in applied:
                out.append(live[live_order[i]])
            i += 1
            continue
        if j < len(applied_order):
            element = applied_order[j]
            before, item = live.get(element), applied[element]
            if isinstance(before, dict) and isinstance(item, dict):
                out.append(merge(before, item, item_type))
            else:
                out.append(_fresh(item))
            done.add(element)
            j += 1
            continue
        i += 1
    return out


def prune(obj: dict[str, Any], remove: Tree, keep: Tree, type_name: str | None) -> dict[str, Any]:
    """`obj` without the fields of `remove` (the paths a manager let go), except what `keep` (everything still
    owned) holds. A map left empty by the removal goes too."""
    out = dict(obj)
    for element, node in remove.items():
        if not element.startswith("f:") or element[2:] not in out:
            continue
        name = element[2:]
        kept = keep.get(element)
        if (not node or MEMBER in node) and kept is None:
            del out[name]  # owned by nobody now, nothing in it either
            continue
        children = {k: v for k, v in node.items() if k != MEMBER}
        if not children:
            continue
        kept_children = {k: v for k, v in (kept or {}).items() if k != MEMBER}
        value = out[name]
        value_type, keys = field(type_name, name)
        if isinstance(value, dict):
            pruned = prune(value, children, kept_children, value_type)
            if pruned or not value:
                out[name] = pruned
            else:
                del out[name]
        elif isinstance(value, list):
            out[name] = _prune_items(value, children, kept_children, value_type, keys)
    return out


def _prune_items(items: list[Any], remove: Tree, keep: Tree, item_type: str | None,
                 keys: tuple[str, ...] | None) -> list[Any]:
    elements = list_elements(items, keys)
    if elements is None:
        return items
    out = []
    for element, item in elements.items():
        node = remove.get(element)
        if node is None:
            out.append(item)
            continue
        kept = keep.get(element)
        if (not node or MEMBER in node) and kept is None:
            continue  # the item goes
        if isinstance(item, dict):
            children = {k: v for k, v in node.items() if k != MEMBER and k[2:] not in (keys or ())}
            kept_children = {k: v for k, v in (kept or {}).items() if k != MEMBER}
            item = prune(item, children, kept_children, item_type)
        out.append(item)
    return out

