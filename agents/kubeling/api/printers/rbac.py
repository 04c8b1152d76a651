"""Printers for the `rbac.authorization.k8s.io` group: roles and role bindings, cluster-wide or not.

Upstream (v1.32): pkg/printers/internalversion/printers.go, printRole, printClusterRole, printRoleBinding,
printClusterRoleBinding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import (
    AGE,
    CREATED_DOC,
    NAME,
    Printer,
    column,
    object_age,
    object_name,
)

_ROLE_COLUMNS = [NAME, column("Created At", CREATED_DOC, "date")]


def _role_cells(role: dict[str, Any], now: datetime) -> list[Any]:
    return [object_name(role), (role.get("metadata") or {}).get("creationTimestamp") or ""]


_ROLEBINDING_COLUMNS = [
    NAME,
    column("Role", "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be "
                   "resolved, the Authorizer must return an error. This field is immutable."),
    AGE,
    column("Users", "Users in the roleBinding", priority=1),
    column("Groups", "Groups in the roleBinding", priority=1),
    column("ServiceAccounts", "ServiceAccounts in the roleBinding", priority=1),
]


def _rolebinding_cells(binding: dict[str, Any], now: datetime) -> list[Any]:
    ref = binding.get("roleRef") or {}
    users, groups, accounts = [], [], []
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name", "")
        if kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        elif kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}:{name}")
    return [object_name(binding), f"{ref.get('kind', '')}/{ref.get('name', '')}", object_age(binding, now),
            ", ".join(users), ", ".join(groups), ", ".join(accounts)]


GROUP = "rbac.authorization.k8s.io"

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "Role": Printer(_ROLE_COLUMNS, _role_cells),
    "ClusterRole": Printer(_ROLE_COLUMNS, _role_cells),
    "RoleBinding": Printer(_ROLEBINDING_COLUMNS, _rolebinding_cells),
    "ClusterRoleBinding": Printer(_ROLEBINDING_COLUMNS, _rolebinding_cells),
}
