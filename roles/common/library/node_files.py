#!/usr/bin/python
"""Ansible module: several files and directories on a node, each with its wanted content, mode and owner, in one
task. A template task per file costs a round trip each, changed or not; this looks at them all at once and writes
only those that differ, so an unchanged node costs one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_files
short_description: Ensure files and directories have the wanted content, mode and owner, in one round trip
description:
  - Creates each directory in O(directories) that is missing, and sets its mode, owner and group where they differ.
  - Writes each file in O(files) whose content differs (atomically, through a temporary file beside it), and sets
    its mode, owner and group where they differ.
  - Directories are handled before files, so a file may go into a directory of the same task.
  - Reports C(changed) only when something on the node differed. Supports check mode and diff mode.
  - The roles pass rendered templates as O(files[].content), for example
    C(lookup('ansible.builtin.template', 'x.j2')); the result is what M(ansible.builtin.template) would write,
    without a module run per file.
version_added: "0.1.0"
author: kubeling
options:
  files:
    description: Files and their wanted content.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file. Its directory must exist.
        type: path
        required: true
      content:
        description: The file's whole text.
        type: str
        required: true
      mode:
        description: Permissions, as an octal string.
        type: str
        default: "0644"
      owner:
        description: Owning user.
        type: str
        default: root
      group:
        description: Owning group.
        type: str
        default: root
  directories:
    description: Directories that must exist (parents are not created).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory.
        type: path
        required: true
      mode:
        description: Permissions, as an octal string.
        type: str
        default: "0755"
      owner:
        description: Owning user.
        type: str
        default: root
      group:
        description: Owning group.
        type: str
        default: root
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - Kept in the common role's C(library/); Ansible makes it available to every role once the play has loaded
    C(common), and C(ansible.cfg) names that directory for playbooks that do not run C(common).
seealso:
  - module: ansible.builtin.template
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Ensure etcd's data directory and flags file are in place
  node_files:
    directories:
      - {path: /var/lib/etcd/kubeling, mode: "0700", owner: etcd, group: etcd}
    files:
      - path: /etc/kubeling/etcd.env
        content: "{{ lookup('ansible.builtin.template', 'etcd.env.j2') }}"
  notify: Restart etcd

- name: Ensure each daemon's unit and flags file are up to date
  node_files:
    files:
      - path: /etc/systemd/system/{{ item.unit }}.service
        content: "{{ lookup('ansible.builtin.template', 'kubeling.service.j2') }}"
      - path: "{{ item.env_file }}"
        content: "{{ lookup('ansible.builtin.template', 'flags.env.j2') }}"
  loop: "{{ control_plane_daemons }}"
  notify: Restart {{ item.unit }}
"""

RETURN = r"""
changed_paths:
  description: The files and directories that differed (and were put right, unless in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/kubeling/etcd.env]
"""

# Imports after the documentation, as in Ansible's own modules.
import grp
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

ENTRY = {
    "path": {"type": "path", "required": True},
    "mode": {"type": "str"},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
}


def describe(info: os.stat_result) -> dict:
    """A file's or directory's mode, owner and group, as the task states them."""
    return {
        "mode": "%04o" % stat.S_IMODE(info.st_mode),
        "owner": pwd.getpwuid(info.st_uid).pw_name,
        "group": grp.getgrgid(info.st_gid).gr_name,
    }


def wanted(entry: dict) -> dict:
    return {"mode": "%04o" % int(entry["mode"], 8), "owner": entry["owner"], "group": entry["group"]}


def set_attributes(path: str, want: dict) -> None:
    os.chown(path, pwd.getpwnam(want["owner"]).pw_uid, grp.getgrnam(want["group"]).gr_gid)
    os.chmod(path, int(want["mode"], 8))


def ensure_directory(module: AnsibleModule, entry: dict) -> dict | None:
    """Returns a diff when the directory differs (after creating or fixing it, outside check mode)."""
    path, want = entry["path"], wanted(entry)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        before = {"state": "absent"}
    else:
        if not stat.S_ISDIR(info.st_mode):
            module.fail_json(msg=f"{path} exists and is not a directory")
        before = {"state": "directory", **describe(info)}
    after = {"state": "directory", **want}
    if before == after:
        return None
    if not module.check_mode:
        if before["state"] == "absent":
            os.mkdir(path)
        set_attributes(path, want)
    return {"before_header": path, "after_header": path, "before": before, "after": after}


def ensure_file(module: AnsibleModule, entry: dict) -> dict | None:
    """Returns a diff when the file differs (after writing it, outside check mode)."""
    path, want = entry["path"], wanted(entry)
    content = entry["content"].encode()
    try:
        with open(path, "rb") as f:
            old = f.read()
        info = os.stat(path)
    except FileNotFoundError:
        old, attributes = None, None
    else:
        attributes = describe(info)
    if old == content and attributes == want:
        return None
    if not module.check_mode:
        if old == content:
            set_attributes(path, want)
        else:
            fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".ansible-node-files-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
                set_attributes(temporary, want)
                os.replace(temporary, path)
            except BaseException:
                if os.path.exists(temporary):
                    os.unlink(temporary)
                raise
    if old == content:
        return {"before_header": path, "after_header": path, "before": attributes, "after": want}
    header = path if attributes in (None, want) else "%s (%s)" % (path, "%(mode)s %(owner)s %(group)s" % want)
    before = "" if old is None else old.decode(errors="replace")
    return {"before_header": path, "after_header": header, "before": before, "after": entry["content"]}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "default": [], "options": {
                **ENTRY, "mode": {"type": "str", "default": "0644"}, "content": {"type": "str", "required": True}}},
            "directories": {"type": "list", "elements": "dict", "default": [], "options": {
                **ENTRY, "mode": {"type": "str", "default": "0755"}}},
        },
        supports_check_mode=True,
    )
    diffs, changed_paths = [], []
    for entry in module.params["directories"]:
        diff = ensure_directory(module, entry)
        if diff:
            diffs.append(diff)
            changed_paths.append(entry["path"])
    for entry in module.params["files"]:
        diff = ensure_file(module, entry)
        if diff:
            diffs.append(diff)
            changed_paths.append(entry["path"])
    module.exit_json(changed=bool(changed_paths), changed_paths=changed_paths, diff=diffs)


if __name__ == "__main__":
    main()
