#!/usr/bin/env python3
"""Build kubeling's wheelhouse on the Ansible controller, so nodes install kubeling without reaching PyPI.

Writes <out>/wheelhouse/ (the kubeling wheel, a wheel for every dependency and one of `installer`, with which
nodes unpack them) and <out>/wheelhouse.tar (exactly the wheels a node installs), and
prints one JSON line for Ansible: {"changed": ..., "wheel": ..., "wheel_sha256": ..., "archive_sha256": ...}.

Reproducible on purpose: the wheel is built from a clean copy of the sources with a fixed SOURCE_DATE_EPOCH and
the archive has fixed owners and times, so an unchanged tree gives byte-identical files and Ansible reports no
change (nodes are only touched, and daemons only restarted, when the code really changed).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# What the wheel is built from; everything else in the repository (tests, venv, artifacts) stays out.
SOURCES = ["pyproject.toml", "README.md", "agents"]
FIXED_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip file can record
# PyPA's wheel installer: nodes unpack the wheels with it (library/node_venv.py), so it travels in the archive.
INSTALLER = "installer>=0.7"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pip(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, env=env)


def build_wheel(project: Path, wheelhouse: Path, local_version: str = "") -> tuple[Path, bool]:
    """The kubeling wheel in `wheelhouse`, rebuilt; True when its bytes differ from the one already there.

    `local_version` ("rc1") makes version 0.1.0+rc1: a new wheel from an unchanged tree, for rolling upgrades."""
    with tempfile.TemporaryDirectory(prefix="kubeling-wheel-") as tmp:
        src, dist = Path(tmp) / "src", Path(tmp) / "dist"
        src.mkdir()
        for name in SOURCES:
            path = project / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
            elif path.exists():
                shutil.copy2(path, src / name)
        if local_version:
            pyproject = src / "pyproject.toml"
            pyproject.write_text(re.sub(r'^version = "([^"+]+)[^"]*"', rf'version = "\1+{local_version}"',
                                        pyproject.read_text(), count=1, flags=re.MULTILINE))
        env = {**os.environ, "SOURCE_DATE_EPOCH": FIXED_EPOCH}
        result = pip("wheel", "-q", "--no-deps", "--wheel-dir", str(dist), str(src), env=env)
        if result.returncode != 0:
            sys.exit(f"building the kubeling wheel failed:\n{result.stdout}{result.stderr}")
        (built,) = dist.glob("kubeling-*.whl")
        target = wheelhouse / built.name
        if target.exists() and sha256(target) == sha256(built):
            return target, False
        for old in wheelhouse.glob("kubeling-*.whl"):
            old.unlink()
        shutil.copy2(built, target)
        return target, True


def choose_wheels(wheel: Path, wheelhouse: Path, chosen: Path) -> None:
    """Copy into `chosen` the wheels a node installs: the ones pip resolves for the kubeling wheel and the installer
    (so older versions kept in the wheelhouse stay out). From the wheelhouse alone when it has them all; otherwise
    the missing ones are fetched from the package index into the wheelhouse first."""
    def resolve(wheel_dir: Path, *index: str) -> subprocess.CompletedProcess:
        return pip("wheel", "-q", *index, "--find-links", str(wheelhouse), "--wheel-dir", str(wheel_dir), str(wheel),
                   INSTALLER)

    if resolve(chosen, "--no-index").returncode == 0:
        return
    online = resolve(wheelhouse)
    if online.returncode != 0:
        sys.exit(f"fetching kubeling's dependencies failed:\n{online.stdout}{online.stderr}")
    offline = resolve(chosen, "--no-index")
    if offline.returncode != 0:
        sys.exit(f"choosing the wheels for the archive failed:\n{offline.stdout}{offline.stderr}")


def write_archive(chosen: Path, archive: Path) -> bool:
    """One tar of the chosen wheels (sorted, fixed owner/time/mode); True when it differs from the existing
    archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(chosen.glob("*.whl")):
            info = tarfile.TarInfo(path.name)
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, int(FIXED_EPOCH)
            with path.open("rb") as data:
                tar.addfile(info, data)
    content = buffer.getvalue()
    if archive.exists() and archive.read_bytes() == content:
        return False
    archive.write_bytes(content)
    return True


def source_digest(project: Path, local_version: str) -> str:
    """A digest of everything the wheelhouse is made from (paths and contents), to skip rebuilding an unchanged tree."""
    # This script too: what goes into the archive is decided here.
    digest = hashlib.sha256(local_version.encode() + b"\0" + Path(__file__).read_bytes() + b"\0")
    for name in SOURCES:
        root = project / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if path.exists() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="the repository root (with pyproject.toml)")
    parser.add_argument("--out", type=Path, required=True, help="artifacts directory")
    parser.add_argument("--local-version", default="", help="a PEP 440 local version label for the wheel, e.g. rc1")
    parser.add_argument("--no-build", action="store_true",
                        help="only report the wheelhouse that exists (built earlier), whatever the tree holds now")
    args = parser.parse_args()
    wheelhouse = args.out / "wheelhouse"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    # One build at a time per artifacts directory (Molecule scenarios may run side by side).
    lock = (args.out / ".wheelhouse.lock").open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    archive, stamp = args.out / "wheelhouse.tar", wheelhouse / ".source-sha256"
    if args.local_version and not re.fullmatch(r"[a-zA-Z0-9]+(\.[a-zA-Z0-9]+)*", args.local_version):
        sys.exit(f"--local-version {args.local_version!r}: letters, digits and dots only")
    digest = source_digest(args.project.resolve(), args.local_version)
    wheels = list(wheelhouse.glob("kubeling-*.whl"))
    if args.no_build:
        if len(wheels) != 1 or not archive.exists():
            sys.exit(f"--no-build: no wheelhouse in {args.out}; build one first")
        wheel, wheel_changed, archive_changed = wheels[0], False, False
    elif len(wheels) == 1 and archive.exists() and stamp.exists() and stamp.read_text() == digest:
        wheel, wheel_changed, archive_changed = wheels[0], False, False
    else:
        wheel, wheel_changed = build_wheel(args.project.resolve(), wheelhouse, args.local_version)
        with tempfile.TemporaryDirectory() as chosen:
            choose_wheels(wheel, wheelhouse, Path(chosen))
            archive_changed = write_archive(Path(chosen), archive)
        stamp.write_text(digest)
    print(json.dumps({"changed": wheel_changed or archive_changed, "wheel": wheel.name,
                      "wheel_sha256": sha256(wheel), "archive": str(archive), "archive_sha256": sha256(archive)}))


if __name__ == "__main__":
    main()
