"""`componentstatuses` (`kubectl get cs`): etcd, the scheduler and the controller-manager, checked on every read.

Upstream (pkg/registry/core/componentstatus, deprecated since 1.19 but still served) probes each etcd server's
/health and the scheduler's and controller-manager's /healthz on this machine. Here:

- etcd: each server in --etcd-servers is asked for /health itself (`etcd-0`, `etcd-1`, ...), as upstream; the
  message is etcd's reply.
- scheduler, controller-manager: they run on any master, behind leader election, so their Lease in kube-system
  (`kube-scheduler`, `kube-controller-manager`) says who leads and whether it renewed in time (Healthy, "ok",
  with the leader's identity); with no Lease (run without --leader-elect), their /healthz on this machine's
  default port (10259, 10257) is probed as upstream does.

Nothing is stored; the list is computed on every GET, and every reply carries upstream's deprecation warning.
"""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from flask import Response, current_app

from kubeling.api import errors, meta
from kubeling.api.resources import ResourceType, must_lookup
from kubeling.api.types import Obj
from kubeling.fastpath import fastjson

LEASES = must_lookup("coordination.k8s.io", "leases")
# component → (its Lease in kube-system, its default health port)
CONTROL_LOOPS = {"scheduler": ("kube-scheduler", 10259), "controller-manager": ("kube-controller-manager", 10257)}
WARNING = '299 - "v1 ComponentStatus is deprecated in v1.19+"'
PROBE_TIMEOUT = 2.0


def _status(name: str, healthy: bool, message: str, error: str = "") -> Obj:
    condition: dict[str, Any] = {"type": "Healthy", "status": "True" if healthy else "False", "message": message}
    if error:
        condition["error"] = error
    return {"kind": "ComponentStatus", "apiVersion": "v1", "metadata": {"name": name}, "conditions": [condition]}


def _etcd(registry: Any, index: int) -> Obj:
    healthy, reply = registry.store.etcd.health(index)
    return _status(f"etcd-{index}", healthy, reply if healthy else "", "" if healthy else reply)


def _parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _control_loop(registry: Any, name: str) -> Obj:
    lease_name, port = CONTROL_LOOPS[name]
    lease = registry.store.try_get(LEASES, "kube-system", lease_name)
    if lease is not None:
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        renewed = _parse_time(spec.get("renewTime"))
        duration = float(spec.get("leaseDurationSeconds") or 15)
        now = datetime.datetime.now(datetime.UTC)
        if holder and renewed is not None and (now - renewed).total_seconds() <= duration:
            return _status(name, True, f"ok (leader {holder})")
        return _status(name, False, "", f"no leader has renewed the lease kube-system/{lease_name} within "
                                        f"{duration:g}s (last holder {holder or 'none'})")
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        reply = requests.get(url, timeout=PROBE_TIMEOUT)
    except requests.ConnectionError:
        return _status(name, False, "", f'Get "{url}": dial tcp 127.0.0.1:{port}: connect: connection refused')
    except requests.RequestException as exc:
        return _status(name, False, "", f'Get "{url}": {type(exc).__name__}')
    if reply.status_code != 200:
        return _status(name, False, "", f"{url} answered {reply.status_code}: {reply.text.strip()}")
    return _status(name, True, reply.text.strip() or "ok")


def statuses(registry: Any) -> list[Obj]:
    """Every component's status, checked now (in parallel: a dead etcd server costs one probe timeout)."""
    checks = [lambda i=i: _etcd(registry, i) for i in range(len(registry.store.etcd.endpoints))]
    checks += [lambda n=n: _control_loop(registry, n) for n in CONTROL_LOOPS]
    with ThreadPoolExecutor(len(checks)) as pool:
        found = list(pool.map(lambda check: check(), checks))
    return sorted(found, key=lambda status: meta.name_of(status))


def serve(rtype: ResourceType, name: str | None) -> Response:
    """GET componentstatuses[/name], as an object, a list, or a Table (handlers.render)."""
    from kubeling.apiserver import handlers

    registry = current_app.extensions["kubeling.registry"]
    found = statuses(registry)
    if name is not None:
        matches = [status for status in found if meta.name_of(status) == name]
        if not matches:
            raise errors.not_found(rtype.plural, rtype.group, name)
        response = handlers.render(rtype, matches[0])
    elif handlers.wants_table():
        table = registry.strategy(rtype).table(found, resource_version="")
        table["apiVersion"] = f"meta.k8s.io/{handlers.wants_table()}"
        response = Response(fastjson.dumps(table), mimetype="application/json")
    else:
        body = {"kind": rtype.list_kind, "apiVersion": rtype.api_version, "metadata": {}, "items": found}
        response = Response(fastjson.dumps(body), mimetype="application/json")
    response.headers["Warning"] = WARNING
    return response
