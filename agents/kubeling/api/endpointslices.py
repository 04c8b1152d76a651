"""What every reader of EndpointSlices needs: which Service a slice belongs to, and which endpoints are ready.

The EndpointSlice controller writes slices, kube-proxy and cluster DNS read them.

Upstream: staging/src/k8s.io/api/discovery/v1/well_known_labels.go (LabelServiceName, LabelManagedBy).
"""

from __future__ import annotations

from kubeling.api.types import Obj

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"


def service_key(endpoint_slice: Obj) -> list[str]:
    """[`namespace/service`] of the Service a slice belongs to (from its label), or [] for a slice of nobody's:
    shaped as an informer index function."""
    meta = endpoint_slice.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{meta.get('namespace', '')}/{name}"] if name else []


def is_ready(endpoint: Obj) -> bool:
    """An endpoint's `ready` condition: unset means ready (upstream: "nil should be interpreted as true")."""
    return (endpoint.get("conditions") or {}).get("ready") is not False
