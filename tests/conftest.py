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


KUBECTL_BINARIES = {
    # /usr/bin/kubectl is a dispatcher that picks kubectl 1.32 because the server reports v1.32.
    "1.32": Path("/usr/bin/kubectl"),
    "1.20": ROOT / ".cache/kubectl-1.20/usr/bin/kubectl",
}


class Kubectl:
    """Runs a real kubectl binary against the test API server, with its own discovery cache."""

    def __init__(self, binary: Path, server: str, cache_dir: Path, version: str) -> None:
        self.binary, self.server, self.cache_dir, self.version = binary, server, cache_dir, version

    def command(self, *args: str) -> list[str]:
        return [str(self.binary), f"--server={self.server}", f"--cache-dir={self.cache_dir}", *args]

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60):
        import subprocess

        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.cache_dir), "KUBECONFIG": "/dev/null"}
        result = subprocess.run(self.command(*args), input=input, capture_output=True, text=True,
                                timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def __call__(self, *args: str, **kwargs) -> str:
        return self.run(*args, **kwargs).stdout


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
