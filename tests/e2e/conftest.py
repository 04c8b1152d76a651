"""Fixtures shared by e2e modules."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from kubelet_harness import ensure_images, remove_node_containers
from test_kubelet_tls import Cluster, eventually


@pytest.fixture(scope="session")
def secure_plane(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One secured cluster for the kubelet-over-TLS and stream (exec, attach, cp, port-forward) modules: a TLS API
    server with Node,RBAC, the serviceaccount controllers, and a kubelet on real Docker serving TLS to the API
    server's client certificate only (test_kubelet_tls.Cluster)."""
    try:
        ensure_images()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    plane = Cluster(tmp_path_factory.mktemp("secure-plane"), etcd.url)
    try:
        plane.server.start()
        plane.controllers.start()
        plane.kubelet.start()
        eventually(lambda: (n := plane.get(f"/api/v1/nodes/{plane.node}")) and n.get("status", {}).get("nodeInfo"),
                   "the node to register")
        yield plane
    finally:
        plane.kubelet.stop()
        remove_node_containers(plane.node)
        subprocess.run(["docker", "network", "rm", plane.network], capture_output=True)
        plane.controllers.stop()
        plane.server.stop()
