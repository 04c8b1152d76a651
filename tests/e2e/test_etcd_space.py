"""etcd out of space, against a real etcd with a small `--quota-backend-bytes`: a write gets a clear Status at once
(500, etcd's own message, as upstream) instead of a hang or a retried 503; reads go on; the procedure of
docs/reliability.md (compact, defragment, disarm the alarm) brings writes back. The fault battery runs the same case
on the HA cluster (tests/ha/test_faults.py)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cluster import APIServer, Etcd

QUOTA = 24 * 2**20
BLOB = "x" * (512 * 1024)


@pytest.fixture(scope="module")
def small_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Etcd, str]]:
    workdir: Path = tmp_path_factory.mktemp("etcdspace")
    etcd = Etcd(workdir, quota_bytes=QUOTA).start()
    try:
        server = APIServer(etcd.url, workdir).start()
        try:
            yield etcd, server.url
        finally:
            server.stop()
    finally:
        etcd.stop()


def etcdctl(etcd: Etcd, *args: str) -> str:
    result = subprocess.run(["etcdctl", f"--endpoints={etcd.url}", *args], capture_output=True, text=True,
                            timeout=120, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_full_etcd_refuses_writes_with_a_status_and_recovers_after_compaction_and_defragmentation(
        small_etcd: tuple[Etcd, str]) -> None:
    etcd, server = small_etcd
    url = f"{server}/api/v1/namespaces/default/configmaps"
    requests.post(url, json={"metadata": {"name": "filler"}, "data": {"blob": "0"}}, timeout=30).raise_for_status()
    refused = None
    for attempt in range(2 * QUOTA // len(BLOB)):  # the history of one object fills the quota
        began = time.monotonic()
        response = requests.put(f"{url}/filler", json={"metadata": {"name": "filler"},
                                                       "data": {"blob": f"{attempt}{BLOB}"}}, timeout=60)
        if response.status_code != 200:
            refused, took = response, time.monotonic() - began
            break
    assert refused is not None, "etcd never ran out of space"
    status = refused.json()
    assert (refused.status_code, status["kind"], status["code"]) == (500, "Status", 500), status
    assert "etcdserver: mvcc: database space exceeded" in status["message"]
    assert took < 10, f"the refused write took {took:.1f}s"
    assert requests.get(url, timeout=30).status_code == 200  # reads go on
    assert "NOSPACE" in etcdctl(etcd, "alarm", "list")

    revision = json.loads(etcdctl(etcd, "endpoint", "status", "-w", "json"))[0]["Status"]["header"]["revision"]
    etcdctl(etcd, "compact", str(revision))
    etcdctl(etcd, "defrag")
    etcdctl(etcd, "alarm", "disarm")
    assert etcdctl(etcd, "alarm", "list").strip() == ""
    response = requests.put(f"{url}/filler", json={"metadata": {"name": "filler"}, "data": {"blob": "small"}},
                            timeout=30)
    assert response.status_code == 200, response.text
