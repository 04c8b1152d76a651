"""Kernel switches under /proc/sys that the node agents need turned on."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def ensure_enabled(path: str, otherwise: str) -> None:
    """Write 1 to a /proc/sys switch unless it is on already; when that is not allowed (a read-only /proc/sys in
    a container), log what will not work (`otherwise`) and go on."""
    try:
        with open(path) as f:
            if f.read().strip() == "1":
                return
        with open(path, "w") as f:
            f.write("1")
    except OSError as exc:
        log.warning("cannot enable %s (%s): %s", path, exc, otherwise)
