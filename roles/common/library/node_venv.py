#!/usr/bin/python
"""Ansible module: kubeling's virtualenv made from the wheelhouse archive, in one round trip.

pip resolves, builds and byte-compiles; a wheelhouse made for this node needs none of that. So this makes a
virtualenv without pip and unpacks every wheel of the archive into it with `installer` (PyPA's reference wheel
installer, shipped in the archive itself), leaving byte-compilation to the daemons' first imports. Each wheelhouse
gets its own directory, `venv-<digest>`; the virtualenv's path is a link to the current one, switched at once,
so a daemon (re)started at any moment finds a whole installation, never a half-written one, and one still
running from the installation before keeps its files until the daemon roles restart it.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_venv
short_description: Ensure kubeling's virtualenv holds exactly the wheels of a wheelhouse archive
description:
  - Makes C(<path>-<digest>) from O(archive) (a tar of wheels with the C(installer) wheel among them) when it is
    not the installation O(path) links to, then points O(path) at it. The installation it replaced stays (running
    daemons import from it until they are restarted); older ones are removed.
  - O(path) may be a plain virtualenv directory made by an earlier kubeling: it is replaced the same way.
  - Writes O(digest) to O(stamp), which tells the next run which wheelhouse the node has.
  - Reports C(changed) only when it installed. Supports check mode.
version_added: "0.1.0"
author: kubeling
options:
  archive:
    description: The wheelhouse archive on the node (a tar of C(.whl) files).
    type: path
    required: true
  digest:
    description: The archive's SHA-256, which names the installation.
    type: str
    required: true
  path:
    description: Where the virtualenv is found (a link to the current installation).
    type: path
    required: true
  stamp:
    description: A file that records O(digest) once the installation is in place.
    type: path
    required: true
  python:
    description: The Python the virtualenv is made from.
    type: path
    default: /usr/bin/python3
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Kept in the common role's C(library/), like M(node_files).
seealso:
  - name: installer
    description: The wheel installer this module uses.
    link: https://installer.pypa.io/
"""

EXAMPLES = r"""
- name: Ensure the virtualenv holds the wheelhouse
  node_venv:
    archive: /opt/kubeling/wheelhouse.tar
    digest: "{{ common_wheelhouse_sha256 }}"
    path: /opt/kubeling/venv
    stamp: /opt/kubeling/installed
"""

RETURN = r"""
installation:
  description: The directory O(path) links to.
  returned: always
  type: str
  sample: /opt/kubeling/venv-3f2a9c0d1e7b
wheels:
  description: The wheels installed (empty when nothing changed).
  returned: always
  type: list
  elements: str
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule


def install_wheels(wheels: list[str], prefix: str, interpreter: str) -> None:
    """Unpack each wheel into the virtualenv at `prefix`, its scripts starting with `interpreter`."""
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    # Where the virtualenv's own Python installs things (its `venv` install scheme).
    shown = subprocess.run([os.path.join(prefix, "bin", "python"), "-c",
                            "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"],
                           capture_output=True, text=True, check=True)
    paths = json.loads(shown.stdout)
    scheme = {name: paths[name] for name in ("purelib", "platlib", "scripts", "data")}
    scheme["headers"] = os.path.join(prefix, "include")
    destination = SchemeDictionaryDestination(scheme, interpreter=interpreter, script_kind="posix")
    for wheel in wheels:
        with WheelFile.open(wheel) as source:
            install(source, destination, additional_metadata={"INSTALLER": b"kubeling node_venv\n"})


def make_installation(archive: str, target: str, python: str, interpreter: str) -> list[str]:
    """A virtualenv of `python` at `target` (made afresh) holding every wheel of `archive`; returns their names."""
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([python, "-m", "venv", "--without-pip", target], capture_output=True, text=True, check=True)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as unpacked:
        with tarfile.open(archive) as tar:
            names = sorted(m.name for m in tar.getmembers() if m.isfile() and m.name.endswith(".whl")
                           and "/" not in m.name)
            for name in names:
                tar.extract(name, unpacked, set_attrs=False)
        paths = [os.path.join(unpacked, name) for name in names]
        tools = [p for p in paths if os.path.basename(p).startswith("installer-")]
        if not tools:
            raise ValueError(f"{archive} has no installer wheel (installer-*.whl); rebuild the wheelhouse")
        sys.path.insert(0, tools[0])  # a wheel of pure Python is importable as it is
        try:
            install_wheels(paths, target, interpreter)
        finally:
            sys.path.remove(tools[0])
    return names


def switch_link(path: str, target: str) -> str | None:
    """Point `path` at `target` in one step; returns the installation it pointed at before, if any (an older plain
    directory at `path` is moved aside to `<path>-before-link` first)."""
    previous = os.path.join(os.path.dirname(path), os.readlink(path)) if os.path.islink(path) else None
    if os.path.isdir(path) and not os.path.islink(path):
        previous = path + "-before-link"
        shutil.rmtree(previous, ignore_errors=True)
        os.rename(path, previous)
    link = path + ".new"
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(os.path.basename(target), link)
    os.replace(link, path)
    return previous


def remove_others(path: str, keep: set[str]) -> None:
    """Installations other than those in `keep` are removed (and a plain directory moved aside)."""
    parent, base = os.path.split(path)
    for name in os.listdir(parent):
        candidate = os.path.join(parent, name)
        if name.startswith(base + "-") and candidate not in keep and os.path.isdir(candidate):
            shutil.rmtree(candidate, ignore_errors=True)


def main() -> None:
    module = AnsibleModule(
        argument_spec={"archive": {"type": "path", "required": True}, "digest": {"type": "str", "required": True},
                       "path": {"type": "path", "required": True}, "stamp": {"type": "path", "required": True},
                       "python": {"type": "path", "default": "/usr/bin/python3"}},
        supports_check_mode=True)
    archive, digest, path, stamp, python = (module.params[k] for k in ("archive", "digest", "path", "stamp", "python"))
    path = path.rstrip("/")
    target = f"{path}-{digest[:12]}"
    current = os.path.join(os.path.dirname(path), os.readlink(path)) if os.path.islink(path) else None
    try:
        with open(stamp) as f:
            recorded = f.read().strip()
    except FileNotFoundError:
        recorded = None
    # The link moves only once an installation is whole, so one it points at needs no second look.
    installed = current == target and os.path.exists(os.path.join(target, "bin", "python"))
    if installed and recorded == digest:
        module.exit_json(changed=False, installation=target, wheels=[])
    if module.check_mode:
        module.exit_json(changed=True, installation=target, wheels=[])
    names: list[str] = []
    if not installed:
        if not os.path.isfile(archive):
            module.fail_json(msg=f"the wheelhouse archive {archive} is not on the node", installation=current or "")
        try:
            names = make_installation(archive, target, python, os.path.join(path, "bin", "python"))
        except subprocess.CalledProcessError as error:  # the installation is left unlinked: the node keeps its own
            shutil.rmtree(target, ignore_errors=True)
            module.fail_json(msg=f"making {target} failed: {' '.join(error.cmd)}: {error.stderr.strip()}",
                             installation=current or "")
        except Exception as error:
            shutil.rmtree(target, ignore_errors=True)
            module.fail_json(msg=f"installing {archive} into {target} failed: {error}", installation=current or "")
        previous = switch_link(path, target)
        # The installation the daemons run from until their handlers restart them stays, for their later imports.
        remove_others(path, {target, previous or target})
    with open(stamp + ".new", "w") as f:
        f.write(digest + "\n")
    os.replace(stamp + ".new", stamp)
    module.exit_json(changed=True, installation=target, wheels=names)


if __name__ == "__main__":
    main()
