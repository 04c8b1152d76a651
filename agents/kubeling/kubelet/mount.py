"""Mounting network filesystems on the node for pod volumes, and finding what is mounted below a directory.

Upstream's k8s.io/mount-utils (Mounter.Mount runs `mount -t <type> -o <options> <source> <target>`; mount points
are read from /proc/self/mountinfo) as used by pkg/volume/nfs. The NFS client is the kernel's, through
`mount.nfs` from Debian's nfs-common (the worker role installs it).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class MountError(Exception):
    """`mount` or `umount` failed; the message is what it printed."""


def nfs_command(server: str, export: str, target: str, read_only: bool = False) -> list[str]:
    """The command that mounts `server:export` on `target` (upstream's nfs plugin: `-o ro` when read-only)."""
    source = f"[{server}]:{export}" if ":" in server else f"{server}:{export}"  # an IPv6 address in brackets
    command = ["mount", "-t", "nfs"]
    if read_only:
        command += ["-o", "ro"]
    return [*command, source, target]


class Mounter:
    def __init__(self, mountinfo: str = "/proc/self/mountinfo", timeout: float = 60.0) -> None:
        self.mountinfo, self.timeout = mountinfo, timeout

    def mount_nfs(self, server: str, export: str, target: Path, read_only: bool = False) -> None:
        """Mount the export on `target` unless something is mounted there already."""
        target.mkdir(parents=True, exist_ok=True)
        if self.is_mount_point(target):
            return
        self._run(nfs_command(server, export, str(target), read_only))

    def unmount(self, target: Path) -> None:
        self._run(["umount", str(target)])

    def mounts_under(self, directory: Path) -> list[Path]:
        """Mount points at or below `directory`, deepest first (the order to unmount them in)."""
        root = os.path.realpath(directory)
        found = []
        try:
            lines = Path(self.mountinfo).read_text().splitlines()
        except OSError:
            return []
        for line in lines:
            fields = line.split()
            if len(fields) < 5:
                continue
            point = fields[4].replace("\\040", " ")
            if point == root or point.startswith(root + "/"):
                found.append(Path(point))
        return sorted(found, key=lambda p: len(p.parts), reverse=True)

    def is_mount_point(self, path: Path) -> bool:
        real = os.path.realpath(path)
        return any(str(p) == real for p in self.mounts_under(Path(real)))

    def _run(self, command: list[str]) -> None:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MountError(f"{' '.join(command)}: {exc}") from exc
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()
            raise MountError(f"mount failed: exit status {done.returncode}\nMounting command: {command[0]}\n"
                             f"Mounting arguments: {' '.join(command[1:])}\nOutput: {output}")
