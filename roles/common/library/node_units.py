#!/usr/bin/python
"""Ansible module: several systemd units enabled (or not) and started (or stopped), in one task. A
systemd_service task per unit costs a round trip each; this looks at them all at once and acts only on those
that differ."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_units
short_description: Ensure systemd units are enabled at boot and started (or not), in one round trip
description:
  - Looks at each unit in O(names) with C(systemctl is-enabled) and C(systemctl is-active), then enables or
    disables it and starts or stops it where that differs from O(enabled) and O(state).
  - Reports C(changed) only when some unit differed. Supports check mode and diff mode.
  - Restarting a unit whose configuration changed is left to a handler (M(ansible.builtin.systemd_service) with
    C(state=restarted)); run this after the handlers, so that a new unit is started once.
version_added: "0.1.0"
author: kubeling
options:
  names:
    description: The units, e.g. C(etcd) or C(kubeling-kubelet.service).
    type: list
    elements: str
    required: true
  enabled:
    description: Whether the units start at boot.
    type: bool
    default: true
  state:
    description: Whether the units run now.
    type: str
    choices: [started, stopped]
    default: started
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - Kept in the common role's C(library/), like M(node_files).
seealso:
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Ensure the daemons are enabled at boot and started
  node_units:
    names: [kubeling-apiserver, kubeling-scheduler, kubeling-controller-manager]
    enabled: true
    state: started
"""

RETURN = r"""
changed_units:
  description: The units that differed (and were enabled, disabled, started or stopped, unless in check mode).
  returned: always
  type: list
  elements: str
  sample: [kubeling-kubelet]
"""

# Imports after the documentation, as in Ansible's own modules.
from ansible.module_utils.basic import AnsibleModule


# `systemctl is-active` answers that mean the unit runs, or is on its way (systemd's Restart=).
RUNNING = ("active", "activating", "reloading")


def look(module: AnsibleModule, systemctl: str, unit: str) -> dict:
    """The unit's "enabled" and "active" answers from systemctl ("unknown" when it has none)."""
    answers = {}
    for question in ("is-enabled", "is-active"):
        _, out, _ = module.run_command([systemctl, question, unit])
        answers[question[3:]] = out.strip() or "unknown"
    return answers


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "required": True},
            "enabled": {"type": "bool", "default": True},
            "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
        },
        supports_check_mode=True,
    )
    systemctl = module.get_bin_path("systemctl", required=True)
    want = {"enabled": "enabled" if module.params["enabled"] else "disabled",
            "active": "active" if module.params["state"] == "started" else "inactive"}
    diffs, changed_units = [], []
    for unit in module.params["names"]:
        have = look(module, systemctl, unit)
        actions = []
        if have["enabled"] != want["enabled"]:
            actions.append("enable" if module.params["enabled"] else "disable")
        if (have["active"] in RUNNING) != (module.params["state"] == "started"):
            actions.append("start" if module.params["state"] == "started" else "stop")
        if not actions:
            continue
        changed_units.append(unit)
        diffs.append({"before_header": unit, "after_header": unit, "before": have, "after": want})
        if module.check_mode:
            continue
        for action in actions:
            rc, out, err = module.run_command([systemctl, action, unit])
            if rc != 0:
                module.fail_json(msg=f"systemctl {action} {unit} failed: {(err or out).strip()}", rc=rc,
                                 changed_units=changed_units)
    module.exit_json(changed=bool(changed_units), changed_units=changed_units, diff=diffs)


if __name__ == "__main__":
    main()
