"""`metadata.managedFields`: who owns which fields of an object, kept up to date on every write.

Each entry names a manager (the request's `fieldManager`, or the program named first in its User-Agent), how it
wrote (`Update`: create, update and the other patches; `Apply`: server-side apply), the API version, the
subresource and the set of fields it owns (`fieldset.py`). An entry is one *identity*: an applier is one entry
whatever version it applied through; an updater is one entry per API version.

* An update takes the fields it added or changed from every other manager and adds them to its own entry; fields
  it removed leave every entry. Updates never conflict.
* An apply owns exactly the fields of its configuration. A field another manager owns that the apply would change
  is a conflict (409) unless the apply is forced, which takes it; fields it applied last time and left out now go
  from the object unless someone else still owns them (`merge.prune`). Applying the value another manager already
  set changes nothing, so both own the field.
* A manager left with no fields has no entry. A client may replace the entries with an update that sends its own,
  or clear them by sending `[{}]`; an empty list or none at all keeps what the server had, so a client that knows
  nothing of managedFields cannot drop them by accident.

Upstream: k8s.io/apimachinery `pkg/util/managedfields/internal/` (fieldmanager.go's decodeLiveOrNew,
managedfieldsupdater.go, stripmeta.go, skipnonapplied.go, conflict.go) and sigs.k8s.io/structured-merge-diff
`merge/update.go` (Update and Apply).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from kubeling.api import errors, meta
from kubeling.api.fieldmanager import fieldset
from kubeling.api.fieldmanager.fieldset import Tree
from kubeling.api.fieldmanager.merge import merge, prune
from kubeling.api.resources import ResourceType
from kubeling.api.types import Obj

APPLY, UPDATE = "Apply", "Update"
# Server-set metadata no manager owns (upstream's stripmeta.go).
_STRIPPED_METADATA = frozenset({"f:name", "f:namespace", "f:uid", "f:resourceVersion", "f:creationTimestamp",
                                "f:generation", "f:managedFields", "f:selfLink", "f:clusterName"})
MAX_MANAGER_LENGTH = 128
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_UPDATERS = 10
ANCIENT_CHANGES = "ancient-changes"


@dataclasses.dataclass(frozen=True)
class Writer:
    """Who is writing: the manager's name and the subresource written through (`status`, `scale`, or "")."""

    manager: str
    subresource: str = ""


def manager_name(field_manager: str, user_agent: str) -> str:
    """The request's fieldManager, else the program named in its User-Agent (`kubectl/v1.32.0 (linux/amd64) …` →
    `kubectl`), printable characters only, at most 128 of them (upstream's prefixFromUserAgent)."""
    if field_manager:
        return field_manager
    return "".join(c for c in user_agent.split("/", 1)[0] if c.isprintable())[:MAX_MANAGER_LENGTH]


# --- updates ---------------------------------------------------------------------------------------------------


def update(rtype: ResourceType, live: Obj | None, new: Obj, writer: Writer, *, from_request: bool = True) -> None:
    """Set `new`'s managedFields for a create (`live` None) or an update by `writer`.

    `from_request`: `new` came from the client, so managedFields it carries may replace the live ones."""
    entries = _base_entries(live, new, from_request and not writer.subresource)
    changed, removed = fieldset.compare(live or {}, new, fieldset.root_type(rtype.kind))
    changed, removed = _restrict(rtype, changed, writer), _restrict(rtype, removed, writer)
    if changed or removed:
        me = (writer.manager, UPDATE, rtype.api_version, writer.subresource)
        mine: dict[str, Any] | None = None
        kept = []
        for entry in entries:
            if _identity(entry) == me:
                mine = entry
                continue
            rest = fieldset.difference(fieldset.difference(entry["fieldsV1"], changed), removed)
            if rest:
                kept.append(entry if rest is entry["fieldsV1"] else {**entry, "fieldsV1": rest})
        owned = fieldset.difference(mine["fieldsV1"], removed) if mine else {}
        owned = fieldset.union(owned, changed)
        if owned:
            when = meta.now() if changed or mine is None else mine.get("time")
            kept.append(_entry(writer, UPDATE, rtype.api_version, when, owned))
        entries = _cap_updaters(kept)
    _store(new, entries)


def _cap_updaters(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most MAX_UPDATERS Update entries: the oldest are merged into one `ancient-changes` entry per API version
    (upstream's capmanagers.go), so an object many clients touched keeps a bounded history."""
    updaters = [e for e in entries if e.get("operation") == UPDATE]
    if len(updaters) <= MAX_UPDATERS:
        return entries
    updaters.sort(key=lambda e: (e.get("time") or "", e.get("manager", "")))
    oldest = updaters[:len(updaters) - MAX_UPDATERS + 1]
    gone = {id(e) for e in oldest}
    buckets: dict[str, dict[str, Any]] = {}
    for entry in oldest:
        version = entry.get("apiVersion", "")
        bucket = buckets.get(version)
        fields = entry["fieldsV1"] if bucket is None else fieldset.union(bucket["fieldsV1"], entry["fieldsV1"])
        buckets[version] = _entry(Writer(ANCIENT_CHANGES), UPDATE, version, entry.get("time"), fields)
    return [e for e in entries if id(e) not in gone] + list(buckets.values())


def _base_entries(live: Obj | None, new: Obj, from_request: bool) -> list[dict[str, Any]]:
    """The entries an update starts from (upstream's decodeLiveOrNew)."""
    live_entries = (live or {}).get("metadata", {}).get("managedFields") or []
    if not from_request:
        return live_entries
    sent = new.get("metadata", {}).get("managedFields")
    if sent is live_entries or sent == live_entries:
        return live_entries  # the usual case: the client sent back what it read, or a patch left them alone
    if sent == [{}]:
        return []  # the client resets them
    if sent and _valid(sent):
        return [dict(entry) for entry in sent]
    return live_entries


def _valid(entries: Any) -> bool:
    return isinstance(entries, list) and all(
        isinstance(e, dict) and isinstance(e.get("manager", ""), str) and e.get("operation") in (APPLY, UPDATE)
        and e.get("fieldsType") == "FieldsV1" and _is_tree(e.get("fieldsV1")) for e in entries)


def _is_tree(node: Any) -> bool:
    return isinstance(node, dict) and all(isinstance(k, str) and k and _is_tree(v) for k, v in node.items())


# --- apply -----------------------------------------------------------------------------------------------------


def apply(rtype: ResourceType, live: Obj | None, config: Obj, writer: Writer, *, force: bool = False) -> Obj:
    """The object after `writer` applies `config` to `live` (None: it does not exist yet), managedFields included.
    Raises upstream's 409 when the apply would change fields other managers own and `force` is not set."""
    if (config.get("metadata") or {}).get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    type_name = fieldset.root_type(rtype.kind)
    base: Obj = live or {}
    entries = list(base.get("metadata", {}).get("managedFields") or [])
    if live and not entries:
        # An object no manager has written yet: what it holds belongs to a stand-in (upstream's skipnonapplied.go),
        # so a first apply does not silently take it.
        owned = _restrict(rtype, fieldset.of_object(live, type_name), writer)
        if owned:
            entries = [_entry(Writer("before-first-apply", writer.subresource), UPDATE, rtype.api_version,
                              meta.now(), owned)]
    applied = _restrict(rtype, fieldset.of_object(config, type_name), writer)
    me = (writer.manager, APPLY, "", writer.subresource)
    mine = next((e for e in entries if _identity(e) == me), None)
    others = [e for e in entries if e is not mine]

    merged = merge(base, config, type_name)
    if mine:
        still_owned = applied
        for entry in others:
            still_owned = fieldset.union(still_owned, entry["fieldsV1"])
        let_go = fieldset.difference(mine["fieldsV1"], still_owned)
        if let_go:
            merged = prune(merged, let_go, still_owned, type_name)

    changed, removed = fieldset.compare(base, merged, type_name)
    changed, removed = _restrict(rtype, changed, writer), _restrict(rtype, removed, writer)
    conflicts = [(e, fieldset.intersection(e["fieldsV1"], changed)) for e in others]
    conflicts = [(e, c) for e, c in conflicts if c]
    if conflicts and not force:
        unexplained = [(e, c) for e, c in ((e, fieldset.difference(c, _last_applied(rtype, base, writer)))
                                           for e, c in conflicts) if c]
        if unexplained:
            raise conflict_error(unexplained)
    entries = []
    for entry in others:
        rest = fieldset.difference(fieldset.difference(entry["fieldsV1"], changed), removed)
        if rest:
            entries.append(entry if rest is entry["fieldsV1"] else {**entry, "fieldsV1": rest})
    if applied:
        when = meta.now() if changed or removed or mine is None else mine.get("time")
        entries.append(_entry(writer, APPLY, rtype.api_version, when, applied))
    merged["metadata"] = dict(merged.get("metadata") or {})
    _store(merged, entries)
    return merged


def _last_applied(rtype: ResourceType, live: Obj, writer: Writer) -> Tree:
    """The fields kubectl's server-side apply may take without conflict from client-side apply: those of the
    object's last-applied-configuration annotation that still hold the values it applied (upstream's
    lastappliedmanager.go, which lets `kubectl apply --server-side` follow `kubectl apply`)."""
    text = (live.get("metadata", {}).get("annotations") or {}).get(LAST_APPLIED)
    if writer.manager != "kubectl" or not text:
        return {}
    try:
        last = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(last, dict):
        return {}
    type_name = fieldset.root_type(rtype.kind)
    since, _ = fieldset.compare(live, merge(live, last, type_name), type_name)
    return _restrict(rtype, fieldset.difference(fieldset.of_object(last, type_name), since), writer)


def conflict_error(conflicts: list[tuple[dict[str, Any], Tree]]) -> errors.StatusError:
    """Upstream's 409 for an apply that would change others' fields: one cause per field."""
    found = sorted(((_shown(entry), path) for entry, tree in conflicts for path in fieldset.paths(tree)),
                   key=lambda pair: pair[0])
    causes = [errors.cause(path, f"conflict with {who}", "FieldManagerConflict") for who, path in found]
    if len(found) == 1:
        who, path = found[0]
        message = f"Apply failed with 1 conflict: conflict with {who}: {path}"
    else:
        lines: list[str] = []
        for who in dict.fromkeys(who for who, _ in found):
            lines.append(f"conflicts with {who}:")
            lines.extend(f"- {path}" for shown, path in found if shown == who)
        message = f"Apply failed with {len(found)} conflicts: " + "\n".join(lines)
    return errors.StatusError(409, message, "Conflict", causes=causes)


def _shown(entry: dict[str, Any]) -> str:
    """A manager as upstream's conflict messages name it: `"kubectl"`, or `"kubectl-edit" using apps/v1`."""
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f' with subresource {json.dumps(entry["subresource"])}'
    if entry.get("operation") == UPDATE:
        text += f" using {entry.get('apiVersion', '')}"
    return text


# --- entries ---------------------------------------------------------------------------------------------------


def _restrict(rtype: ResourceType, tree: Tree, writer: Writer) -> Tree:
    """What a write through `writer` can own: never apiVersion, kind or server-set metadata; through the status
    subresource only the status; through the object itself not the status of a kind with a status subresource
    (upstream's stripmeta.go and the strategies' reset fields)."""
    if not tree:
        return tree
    if writer.subresource == "status":
        return {"f:status": tree["f:status"]} if "f:status" in tree else {}
    out = {k: v for k, v in tree.items() if k not in ("f:apiVersion", "f:kind")}
    if rtype.has_status:
        out.pop("f:status", None)
    metadata = out.get("f:metadata")
    if metadata is not None:
        rest = {k: v for k, v in metadata.items() if k not in _STRIPPED_METADATA and k != fieldset.MEMBER}
        if rest:
            out["f:metadata"] = rest
        else:
            del out["f:metadata"]
    return out


def _identity(entry: dict[str, Any]) -> tuple[str, str, str, str]:
    operation = entry.get("operation", "")
    return (entry.get("manager", ""), operation, entry.get("apiVersion", "") if operation == UPDATE else "",
            entry.get("subresource", ""))


def _entry(writer: Writer, operation: str, api_version: str, when: str | None, fields: Tree) -> dict[str, Any]:
    entry: dict[str, Any] = {"manager": writer.manager, "operation": operation, "apiVersion": api_version}
    if when:
        entry["time"] = when
    entry["fieldsType"] = "FieldsV1"
    entry["fieldsV1"] = fields
    if writer.subresource:
        entry["subresource"] = writer.subresource
    return entry


def _store(obj: Obj, entries: list[dict[str, Any]]) -> None:
    """Write the entries in upstream's order (operation, time, manager, version, subresource), or none at all."""
    metadata = obj["metadata"]
    if not entries:
        metadata.pop("managedFields", None)
        return
    metadata["managedFields"] = sorted(entries, key=lambda e: (
        e.get("operation", ""), e.get("time", ""), e.get("manager", ""), e.get("apiVersion", ""),
        e.get("subresource", "")))
