from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agents"))
sys.path.insert(0, str(ROOT / "tests"))

from cluster import APIServer, Etcd, control_plane  # noqa: E402


@pytest.fixture(scope="session")
def cluster() -> Iterator[tuple[Etcd, APIServer]]:
    """One real etcd and one real API server shared by the whole session."""
    with control_plane() as pair:
        yield pair


@pytest.fixture(scope="session")
def etcd(cluster: tuple[Etcd, APIServer]) -> Etcd:
    return cluster[0]


@pytest.fixture(scope="session")
def apiserver(cluster: tuple[Etcd, APIServer]) -> APIServer:
    return cluster[1]
