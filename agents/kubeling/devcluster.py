"""`make up` / `make down` for a local control plane: etcd and the API server on 127.0.0.1.

State lives in `.run/` (data, logs, pid files) and the admin kubeconfig in `artifacts/admin.conf`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ETCD_URL = "http://127.0.0.1:2379"
API_PORT = 8080

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: kubeling
  cluster: {{server: "http://127.0.0.1:{port}"}}
users:
- name: admin
  user: {{}}
contexts:
- name: kubeling
  context: {{cluster: kubeling, user: admin, namespace: default}}
current-context: kubeling
"""


def _wait(url: str, what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    sys.exit(f"{what} did not come up within {timeout:.0f}s; see {log}")


def _start(name: str, argv: list[str], run_dir: Path) -> None:
    pid_file = run_dir / f"{name}.pid"
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        return
    log = open(run_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the daemon
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(proc.pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def up(root: Path) -> None:
    run_dir, artifacts = root / ".run", root / "artifacts"
    run_dir.mkdir(exist_ok=True)
    artifacts.mkdir(exist_ok=True)
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    _start("etcd", [etcd, "--data-dir", str(run_dir / "etcd"), "--listen-client-urls", ETCD_URL,
                    "--advertise-client-urls", ETCD_URL, "--listen-peer-urls", "http://127.0.0.1:2380"], run_dir)
    _wait(ETCD_URL + "/health", "etcd", run_dir / "etcd.log")
    _start("apiserver", [sys.executable, "-m", "kubeling", "apiserver", "--etcd-servers", ETCD_URL,
                         "--port", str(API_PORT)], run_dir)
    _wait(f"http://127.0.0.1:{API_PORT}/readyz", "the API server", run_dir / "apiserver.log")
    kubeconfig = artifacts / "admin.conf"
    kubeconfig.write_text(KUBECONFIG.format(port=API_PORT))
    print(f"kubeling control plane is up at http://127.0.0.1:{API_PORT}")
    print(f"admin kubeconfig: {kubeconfig}")
    print(f"try: kubectl --kubeconfig {kubeconfig} get namespaces")


def down(root: Path) -> None:
    run_dir = root / ".run"
    for name in ("apiserver", "etcd"):
        pid_file = run_dir / f"{name}.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            if _alive(pid):
                os.killpg(pid, signal.SIGTERM)
            pid_file.unlink()
            print(f"stopped {name}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m kubeling.devcluster")
    parser.add_argument("action", choices=["up", "down"])
    args = parser.parse_args()
    root = Path.cwd()
    up(root) if args.action == "up" else down(root)


if __name__ == "__main__":
    main()
