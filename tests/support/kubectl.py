"""The real kubectl binaries the tests drive: 1.32 (the machine's dispatcher) and 1.20 (Debian's, unpacked)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

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
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.cache_dir), "KUBECONFIG": "/dev/null"}
        result = subprocess.run(self.command(*args), input=input, capture_output=True, text=True,
                                timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def __call__(self, *args: str, **kwargs) -> str:
        return self.run(*args, **kwargs).stdout

    def forget_discovery(self) -> None:
        """Drop kubectl's cached discovery, as a user does after removing an API (a deleted CRD): kubectl trusts
        its cache for hours, and `kubectl get all` would still expand to the removed resource."""
        shutil.rmtree(self.cache_dir / "discovery", ignore_errors=True)
        shutil.rmtree(self.cache_dir / ".kube" / "cache" / "discovery", ignore_errors=True)
