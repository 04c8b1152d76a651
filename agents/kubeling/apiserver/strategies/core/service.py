"""Services: a cluster IP and node ports, claimed in the same etcd transaction as the Service and released with it.

Upstream: `pkg/registry/core/service/strategy.go` (status reset on create) and
`pkg/registry/core/service/storage/alloc.go` (the allocation the Service storage does on create, update and
delete); the arithmetic of the ranges is in `apiserver/allocators.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeling.api.types import Obj
from kubeling.apiserver.allocators import Allocator, IPAllocator, service_claims, service_releases
from kubeling.apiserver.strategies.base import Claims, Strategy, served

SERVICES = served("", "services")


class ServiceStrategy(Strategy):
    allocates = True

    def __init__(self, ips: IPAllocator, ports: Allocator) -> None:
        super().__init__(SERVICES, reset_status_on_create=True)
        self.ips, self.ports = ips, ports

    def allocate(self, new: Obj, old: Obj | None) -> Claims:
        return service_claims(self.ips, self.ports, new, old)

    def release(self, obj: Obj) -> Sequence[str]:
        return service_releases(self.ips, self.ports, obj)
