"""The HA cluster the tests in tests/ha share (tests/support/hacluster.py), brought up once for the package and
removed at its end. Modules run in file order (test_faults.py, then test_ha_topology.py); each leaves the cluster
healthy (`HACluster.wait_healthy()`) for the next.

`KUBELING_HA_KEEP=1` reuses an HA cluster that is up and healthy already, and leaves it up at the end (to iterate on
a test; `TOPOLOGY=ha scripts/docker-cluster.sh down` removes it).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from support.hacluster import ART, KUBECONFIG, MASTERS, ROOT, VENV, WORKERS, HACluster, cluster_script


@pytest.fixture(scope="package")
def ha_cluster() -> Iterator[HACluster]:
    """The HA cluster, up and healthy (names and helpers: tests/support/hacluster.py).

    Up: `scripts/docker-cluster.sh up` with TOPOLOGY=ha (what `make up PROVIDER=docker TOPOLOGY=ha` runs after
    `make deps images`, which `make test` has done already); down at the end of the package. Its time to five nodes
    up is written to artifacts/ha/up-seconds.
    """
    cluster = HACluster()
    keep = os.environ.get("KUBELING_HA_KEEP") == "1"
    reuse = keep and KUBECONFIG.exists() and all(cluster.running(n) for n in MASTERS + WORKERS)
    if reuse:
        cluster.wait_healthy(timeout=120)
    else:
        cluster_script("down", timeout=300)
        began = time.monotonic()
        cluster_script("up", timeout=1800)
        cluster.wait_healthy()
        (ART / "up-seconds").write_text(f"{time.monotonic() - began:.0f}\n")
    try:
        yield cluster
    finally:
        if not keep:
            subprocess.run(["scripts/docker-cluster.sh", "down"], cwd=ROOT, capture_output=True, timeout=300,
                           env={**os.environ, "TOPOLOGY": "ha", "VENV": str(VENV)})
