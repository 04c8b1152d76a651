"""`kubectl why` is installed where the issue says: the package's `kubectl-why` console script (so the project venv
and every master's wheel have it), `kubeling why` beside the other subcommands, and the control_plane role puts the
script on the masters' PATH, where kubectl looks for plugins.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from kubeling.cli import COMPONENTS

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_installs_the_kubectl_why_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["kubectl-why"].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    assert COMPONENTS["why"][0] == module  # `kubeling why` runs the same code


def test_the_plugin_answers_help_as_kubectl_passes_it() -> None:
    """kubectl runs `kubectl-why <args>` for `kubectl why <args>`: the entry point parses them itself."""
    result = subprocess.run([sys.executable, "-c", "import sys; from kubeling.why.cli import main; sys.exit(main())",
                             "--help"], capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(ROOT / "agents"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "pod" in result.stdout and "-o" in result.stdout


def test_the_control_plane_role_puts_the_plugin_on_the_masters_path() -> None:
    tasks = yaml.safe_load((ROOT / "roles/control_plane/tasks/main.yml").read_text())
    links = [t["ansible.builtin.file"] for t in tasks if "ansible.builtin.file" in t]
    plugin = next(link for link in links if link.get("dest") == "/usr/local/bin/kubectl-why")
    assert plugin["state"] == "link" and plugin["src"].endswith("/kubectl-why")
    # The link's source is the console script beside the `kubeling` the role's units run.
    assert "control_plane_kubeling | dirname" in plugin["src"]


def test_without_kubeconfig_or_env_the_plugin_reads_home_kube_config_as_kubectl_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a master, root's ~/.kube/config is the admin kubeconfig (roles/kubeconfig): `kubectl get` reads it with
    no flag, and so must `kubectl why`."""
    from kubeling.why.cli import kubeconfig_path

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig_path(None) is None
    home = tmp_path / ".kube" / "config"
    home.parent.mkdir()
    home.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team"}}]}))
    assert kubeconfig_path(None) == str(home)
    monkeypatch.setenv("KUBECONFIG", "/elsewhere:/other")
    assert kubeconfig_path(None) == "/elsewhere"
    assert kubeconfig_path("/given") == "/given"
