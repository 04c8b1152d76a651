"""The objects that publish the dashboard through the API server's service proxy.

- Service `kube-system/kubeling-dashboard`, port `https`, without a selector: its endpoints are not pods.
- Endpoints of the same name listing each node that runs the daemon, each address with a `targetRef` to its Node:
  the service proxy only forwards to an address that is what its targetRef says (apiserver/proxy.py).
- Role and RoleBinding `kubeling-dashboard-page`: every authenticated user may `get` the page through the proxy
  (only that Service's proxy, by resourceNames). What the page then shows is decided by the user's own rights.

Upstream's dashboard add-on ships the same kinds of objects (a Service, RBAC) in its recommended.yaml; its pods
stand where our Endpoints are.
"""

from __future__ import annotations

from typing import Any

NAMESPACE = "kube-system"
NAME = "kubeling-dashboard"
PORT_NAME = "https"
PROXY_PATH = f"/api/v1/namespaces/{NAMESPACE}/services/https:{NAME}:{PORT_NAME}/proxy/"
PAGE_ROLE = "kubeling-dashboard-page"
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "kubeling"}


def objects(nodes: list[tuple[str, str]], port: int) -> list[dict[str, Any]]:
    """The four objects, for the dashboard on `nodes` ((node name, address) pairs) at `port`."""
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(NAME),
         "spec": {"ports": [{"name": PORT_NAME, "port": 443, "targetPort": port, "protocol": "TCP"}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": _meta(NAME),
         "subsets": [{"addresses": [{"ip": address, "nodeName": node, "targetRef": {"kind": "Node", "name": node}}
                                    for node, address in nodes],
                      "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(PAGE_ROLE),
         "rules": [{"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"],
                    "resourceNames": [f"{NAME}:{PORT_NAME}", f"https:{NAME}:{PORT_NAME}"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(PAGE_ROLE),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": PAGE_ROLE},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]},
    ]


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS)}
