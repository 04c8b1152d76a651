"""docs/architecture.md stays true: what it links and names exists, and its picture shows every component.

- Every link into the tree (`../agents/…`, `../roles/…`) points at a file or directory that exists; a link whose text
  is a code name (`Class.method` or `function`) points at a Python file that defines it.
- The component table's processes are `kubeling` subcommands, its systemd units are units the roles install, and
  it has a row for every component the seeds name.
- The picture's source (docs/architecture.dot) names every seed component and every controller the controller manager
  runs; the modules, subcommands, units and roles its labels name exist; and the rendered picture checked in beside
  it (architecture.svg) shows every line of the source's labels.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest

from kubeling.cli import COMPONENTS
from kubeling.controllermanager import CONTROLLERS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DOC = (DOCS / "architecture.md").read_text()
DOT = (DOCS / "architecture.dot").read_text()
SVG = (DOCS / "architecture.svg").read_text()

# The components the seeds (the explanations of Kubernetes' architecture kubeling follows) name.
SEED_COMPONENTS = ("API server", "etcd", "scheduler", "controller manager", "kubelet", "kube-proxy",
                   "container runtime", "kubectl", "load balancer", "DNS", "pod network")

LINK = re.compile(r"\[([^\]]+)\]\((\.\./[^)#\s]+)(?:#[^)]*)?\)")
CODE_NAME = re.compile(r"^`([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)`$")


def links() -> list[tuple[str, str]]:
    return LINK.findall(DOC)


def definitions(path: Path) -> set[str]:
    """`function`, `Class` and `Class.method` for everything defined at the top of a module or in its classes."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(f"{node.name}.{item.name}" for item in node.body
                         if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return names


def test_the_document_links_into_the_tree() -> None:
    targets = {target for _, target in links()}
    assert any(t.startswith("../agents/") for t in targets) and any(t.startswith("../roles/") for t in targets)


@pytest.mark.parametrize(("text", "target"), sorted(set(links())))
def test_every_linked_path_and_code_name_exists(text: str, target: str) -> None:
    path = (DOCS / target).resolve()
    assert path.exists(), f"[{text}]({target}): {path.relative_to(ROOT)} does not exist"
    name = CODE_NAME.match(text)
    if name and path.suffix == ".py":
        defined = definitions(path)
        assert name.group(1) in defined, f"{path.relative_to(ROOT)} defines no {name.group(1)}"


def table_rows() -> list[list[str]]:
    section = DOC.split("| component |", 1)[1].split("\n\n", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in section.splitlines()[2:] if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows]


def installed_units() -> set[str]:
    """The units the roles install or start: their `unit:` entries, and the Debian packages' own units."""
    units = set()
    for path in (ROOT / "roles").glob("*/vars/main.yml"):
        units.update(re.findall(r"^\s*- unit: (\S+)", path.read_text(), re.M))
    if (ROOT / "roles/etcd").is_dir():
        units.add("etcd")  # Debian's etcd-server unit, with the role's drop-in
    if (ROOT / "roles/container_runtime").is_dir():
        units.add("docker")  # Debian's docker.io unit
    return units


def test_the_table_has_a_row_for_every_seed_component() -> None:
    components = {row[0] for row in table_rows()}
    assert set(SEED_COMPONENTS) <= components, set(SEED_COMPONENTS) - components


def test_the_tables_processes_and_units_exist() -> None:
    units = installed_units()
    for row in table_rows():
        component, process, unit = row[0], row[3], row[4]
        for command in re.findall(r"`kubeling ([a-z-]+)`", process):
            assert command in COMPONENTS, f"{component}: no `kubeling {command}` subcommand"
        for name in re.findall(r"`([a-z0-9-]+)`(?! \(HA only\))", unit):
            assert name in units, f"{component}: no role installs the unit {name}"


def dot_labels() -> list[str]:
    """Every line of every label in the picture's source."""
    lines = []
    for label in re.findall(r'label="((?:[^"\\]|\\.)*)"', DOT):
        lines.extend(line for line in label.replace('\\"', '"').split("\\n") if line)
    return lines


def test_the_picture_names_every_seed_component_and_controller() -> None:
    text = " ".join(dot_labels()).lower()
    missing = [c for c in SEED_COMPONENTS if c.lower() not in text]
    assert not missing, f"docs/architecture.dot does not show {missing}"
    missing = [c for c in CONTROLLERS if c not in text]
    assert not missing, f"docs/architecture.dot does not name the controllers {missing}"


def test_the_pictures_modules_subcommands_units_and_roles_exist() -> None:
    """What the picture's labels name (a path under agents/, a `kubeling` subcommand, a unit, a role) exists."""
    text = "\n".join(dot_labels())
    paths = re.findall(r"\b(agents/kubeling/[A-Za-z0-9_/.]+?)(?::|$)", text, re.M)
    assert paths, "the picture names no module"
    for path in paths:
        assert (ROOT / path).exists(), f"docs/architecture.dot names {path}, which does not exist"
    for command in re.findall(r"^kubeling ([a-z-]+)", text, re.M):
        assert command in COMPONENTS, f"docs/architecture.dot names `kubeling {command}`, no such subcommand"
    units = installed_units()
    for unit in re.findall(r"^unit (\S+)$", text, re.M):
        assert unit in units, f"docs/architecture.dot names the unit {unit}, which no role installs"
    roles = re.findall(r"roles? ([a-z_]+(?:, [a-z_]+)*)", " ".join(dot_labels()))
    for role in {name for group in roles for name in group.split(", ")}:
        assert (ROOT / "roles" / role).is_dir(), f"docs/architecture.dot names the role {role}, which does not exist"


def test_the_rendered_picture_is_the_sources() -> None:
    """The checked-in SVG shows every line of the source's labels: render it again after changing the source
    (`dot -Tsvg docs/architecture.dot -o docs/architecture.svg`)."""
    shown = {html.unescape(text) for text in re.findall(r"<text[^>]*>([^<]*)</text>", SVG)}
    missing = [line for line in dot_labels() if line not in shown]
    assert not missing, f"docs/architecture.svg is older than its source: it lacks {missing}"
    assert "architecture.svg" in DOC
