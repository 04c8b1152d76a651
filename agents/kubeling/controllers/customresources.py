"""Which custom resources exist, for the controllers that act on every kind: the garbage collector and the
namespace controller.

Upstream's controller-manager learns them from discovery (its RESTMapper, refreshed every 30 s, and the
garbage collector's and namespace deleter's resync of discovered resources). Here one informer on
CustomResourceDefinitions keeps this process's custom resource types (`api/resources.set_custom`) in step, and
tells its listeners about every change, at once.
"""

from __future__ import annotations

from collections.abc import Callable

from kubeling.api import resources
from kubeling.api.apiextensions.names import resource_types
from kubeling.api.types import Obj
from kubeling.client.informer import Informer
from kubeling.controllers.base import InformerFactory

CRDS = resources.must_lookup("apiextensions.k8s.io", "customresourcedefinitions")


def follow_custom_resources(informers: InformerFactory,
                            on_change: Callable[[list[resources.ResourceType]], None] | None = None) -> Informer:
    """Keep the custom resource types up to date from an informer on CRDs; `on_change` gets them after each
    change (the established definitions' served versions)."""
    informer = informers.informer(CRDS)

    def changed(_: Obj | None = None, __: Obj | None = None) -> None:
        types: list[resources.ResourceType] = [rtype for crd in informer.store.list() for rtype in resource_types(crd)]
        resources.set_custom(types)
        if on_change is not None:
            on_change(types)

    informer.add_handler(changed, changed, changed)
    return informer
