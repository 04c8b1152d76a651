"""The ResourceQuota admission plugin: may this new object be created within its namespace's quotas?

Each quota's `status.used` (computed by the quota controller) plus the new object's cost must stay within
`status.hard`; if so, the cost is added to `status.used` at once, with a conditional write, so that two creates
racing for the last unit cannot both get it. (If the create then fails, the controller's next count corrects the
figure.) A quota whose usage the controller has not counted yet refuses, rather than guess.

Upstream: plugin/pkg/admission/resourcequota/controller.go (checkQuotas, checkRequest) and admission.go.
"""

from __future__ import annotations

import decimal

from kubeling.api import errors, quota
from kubeling.api.quantity import parse_quantity
from kubeling.api.resources import ResourceType, must_lookup
from kubeling.api.types import Obj
from kubeling.apiserver.registry import Registry

QUOTAS = must_lookup("", "resourcequotas")


def _pretty(amounts: dict[str, object]) -> str:
    return ",".join(f"{name}={amounts[name]}" for name in sorted(amounts))


class ResourceQuotaAdmission:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def admit(self, rtype: ResourceType, obj: Obj, dry_run: bool) -> None:
        """Refuse (403) an object over quota, or charge it to every quota that counts it."""
        namespace = obj["metadata"].get("namespace")
        if not rtype.namespaced or not namespace:
            return
        for _ in range(16):
            charges = self._check(rtype, obj, self.registry.list(QUOTAS, namespace).items)
            if dry_run or self._charge(namespace, charges):
                return
        raise errors.StatusError(409, "quotas changed too often while admitting this object; try again",
                                 "Conflict")

    def _forbidden(self, rtype: ResourceType, obj: Obj, why: str) -> errors.StatusError:
        name = obj["metadata"].get("name", "")
        return errors.StatusError(403, f'{errors.qualified(rtype.plural, rtype.group)} "{name}" is forbidden: {why}',
                                  "Forbidden", name=name, group=rtype.group, kind=rtype.plural)

    def _check(self, rtype: ResourceType, obj: Obj, quotas: list[Obj]) -> list[tuple[Obj, quota.Usage]]:
        charges = []
        for item in quotas:
            name = item["metadata"]["name"]
            if rtype.kind == "Pod" and (missing := quota.missing_requests(obj, item)):
                raise self._forbidden(rtype, obj, f"failed quota: {name}: must specify {'; '.join(missing)}")
            cost = quota.charged(rtype, obj, item)
            if not cost:
                continue
            status = item.get("status") or {}
            hard, used_text = status.get("hard") or {}, status.get("used") or {}
            unknown = sorted(n for n in cost if n not in used_text or n not in hard)
            if unknown:
                raise self._forbidden(rtype, obj, f"status unknown for quota: {name}, resources: {','.join(unknown)}")
            used = {n: parse_quantity(v) for n, v in used_text.items()}
            exceeded = quota.over(hard, used, cost)
            if exceeded:
                requested = {n: quota.format_quantity(cost[n], hard[n]) for n in exceeded}
                raise self._forbidden(rtype, obj, (
                    f"exceeded quota: {name}, requested: {_pretty(requested)}, "
                    f"used: {_pretty({n: used_text[n] for n in exceeded})}, "
                    f"limited: {_pretty({n: hard[n] for n in exceeded})}"))
            charges.append((item, cost))
        return charges

    def _charge(self, namespace: str, charges: list[tuple[Obj, quota.Usage]]) -> bool:
        """Add each cost to its quota's `used`; False when a quota changed meanwhile (check again)."""
        for item, cost in charges:
            status = dict(item.get("status") or {})
            hard = status.get("hard") or {}
            used = {n: parse_quantity(v) for n, v in (status.get("used") or {}).items()}
            for name, amount in cost.items():
                used[name] = used.get(name, decimal.Decimal(0)) + amount
            status["used"] = {n: quota.format_quantity(v, hard.get(n)) for n, v in used.items()}
            try:
                self.registry.update(QUOTAS, namespace, item["metadata"]["name"], {**item, "status": status},
                                     subresource="status")
            except errors.StatusError as exc:
                if exc.reason == "Conflict":
                    return False
                raise
        return True
