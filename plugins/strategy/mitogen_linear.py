"""Ansible's `linear` strategy, run over Mitogen when it is installed (the default in ansible.cfg).

Without it, each task on each node is a new `docker exec` (or SSH session) starting a Python that unpacks the
module and imports Ansible's module library again: about 0.35 s of two shared cores per task and node, most of a
warm `make up`. Mitogen (https://mitogen.networkgenomics.com/ansible_detailed.html) keeps one Python per node for
the whole run and sends it the modules, so a task costs a message. The tasks, their order and their results are
Ansible's own: only how they reach the node changes (docs/benchmarks.md, "Warm make up").

Mitogen switches the connections it knows by their short names (`docker`, `ssh`, `local`); a connection named
by its full name (`community.docker.docker`) is left to Ansible. Without Mitogen installed this is plain
`linear`: `ANSIBLE_STRATEGY=linear` gives the same. ansible-core 2.19 warns that strategy plugins from outside
ansible.builtin are deprecated; should a release drop them, `strategy = linear` in ansible.cfg is the way back.
"""

from __future__ import annotations

from ansible.plugins.strategy.linear import StrategyModule as LinearStrategy

try:
    from ansible_mitogen.strategy import StrategyMixin
except ImportError:  # Mitogen is not installed: Ansible's own linear strategy

    class StrategyMixin:  # type: ignore[no-redef]
        """Nothing to add."""


class StrategyModule(StrategyMixin, LinearStrategy):
    """The linear strategy, its connections replaced by Mitogen's."""
