from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agents"))
sys.path.insert(0, str(ROOT / "tests"))

from cluster import APIServer, Etcd, control_plane  # noqa: E402
from support.kubectl import KUBECTL_BINARIES, Kubectl  # noqa: E402


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


@pytest.fixture
def private_apiserver(etcd: Etcd, apiserver: APIServer, tmp_path: Path) -> Iterator[APIServer]:
    """An API server of the test's own on the shared etcd and prefix, so the test may stop and restart it."""
    server = APIServer(etcd.url, tmp_path, prefix=apiserver.prefix).start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=sorted(KUBECTL_BINARIES))
def kubectl(request: pytest.FixtureRequest, apiserver: APIServer, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """kubectl 1.32 and 1.20, each test runs once with each."""
    binary = KUBECTL_BINARIES[request.param]
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make deps`")
    return Kubectl(binary, apiserver.url, tmp_path_factory.mktemp(f"kubectl-{request.param}"), request.param)


@pytest.fixture(scope="session")
def kubectl132(apiserver: APIServer, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """kubectl 1.32 alone, for tests of server-side behaviour (controllers) that kubectl merely drives: running
    them once per kubectl version would prove nothing more about the server and double their time."""
    binary = KUBECTL_BINARIES["1.32"]
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make deps`")
    return Kubectl(binary, apiserver.url, tmp_path_factory.mktemp("kubectl-1.32-only"), "1.32")
