"""`molecule test` for every scenario under molecule/ (each role's: etcd, control_plane, worker; and `cluster`, a
whole cluster from playbooks/site.yml): converge, idempotence (a second converge changes nothing), testinfra
verification. They run side by side (their own containers and networks) to keep it short; `cluster`, the longest,
starts first. Logs: artifacts/molecule-<scenario>.log."""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Every directory under molecule/ with a molecule.yml, longest first.
SCENARIOS = sorted((p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml")),
                   key=lambda name: (name != "cluster", name))

pytestmark = pytest.mark.e2e


def molecule(scenario: str) -> tuple[str, int, str]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", "PY_COLORS": "0",
           "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1"}
    result = subprocess.run([str(BIN / "molecule"), "test", "--scenario-name", scenario], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=1200)
    output = result.stdout + result.stderr
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / f"molecule-{scenario}.log").write_text(output)
    return scenario, result.returncode, output


def test_every_scenario_converges_idempotently_and_verifies() -> None:
    assert {"cluster", "etcd", "control_plane", "worker"} <= set(SCENARIOS), SCENARIOS
    # The node image and the pause image (each script skips what exists), and the shared wheelhouse, before the
    # scenarios start: not in several prepare steps at once.
    for script in ("images/node/build.sh", "scripts/build-images.sh"):
        subprocess.run(["bash", str(ROOT / script)], check=True, capture_output=True, timeout=900)
    subprocess.run([sys.executable, str(ROOT / "roles/common/files/build_wheelhouse.py"), f"--project={ROOT}",
                    f"--out={ROOT / 'artifacts'}"], check=True, capture_output=True, timeout=600)
    with concurrent.futures.ThreadPoolExecutor(len(SCENARIOS)) as pool:
        results = list(pool.map(molecule, SCENARIOS))
    failed = {name: output[-5000:] for name, code, output in results if code != 0}
    assert not failed, "\n\n".join(f"===== molecule test -s {name}\n{tail}" for name, tail in failed.items())
    for name, _, output in results:
        clean = re.sub(r"\x1b\[[0-9;]*m", "", output)
        for step in ("converge", "idempotence", "verify", "destroy"):
            assert re.search(rf"{name} (➜|>) {step}: Executed: Successful", clean), f"{name}: {step}"
