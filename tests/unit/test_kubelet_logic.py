"""The kubelet's pure pieces: $(VAR) expansion, env resolution, back-off, atomic volume writes, pod phase."""

from __future__ import annotations

import base64
import os

import pytest

from kubeling.kubelet import envvars, status
from kubeling.kubelet.backoff import Backoff
from kubeling.kubelet.volumes import write_atomic


def test_expansion_follows_upstream_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert envvars.expand("$(A)-$(B)", env) == "1-two"
    assert envvars.expand("$$(A)", env) == "$(A)"
    assert envvars.expand("$(MISSING)", env) == "$(MISSING)"
    assert envvars.expand("$A $", env) == "$A $"


def test_env_resolution_order_and_errors() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}},
           "spec": {"nodeName": "n1"}}
    cms = {("ns", "cm"): {"data": {"k": "v", "bad key": "skipped"}}}
    secrets = {("ns", "s"): {"data": {"pw": base64.b64encode(b"hunter2").decode()}}}
    container = {
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                {"name": "WHO", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "BOTH", "value": "$(CM_k)/$(PW)"}],
    }
    env = envvars.container_env(pod, container, lambda ns, n: cms.get((ns, n)), lambda ns, n: secrets.get((ns, n)),
                                pod_ip="10.0.0.2", host_ip="192.0.2.1")
    assert env == {"CM_k": "v", "PW": "hunter2", "WHO": "x", "BOTH": "v/hunter2"}
    missing = {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope"}}}]}
    with pytest.raises(envvars.ConfigError, match="couldn't find key nope in ConfigMap ns/cm"):
        envvars.container_env(pod, missing, lambda ns, n: cms.get((ns, n)), lambda ns, n: None)


def test_backoff_doubles_and_caps() -> None:
    now = [1000.0]
    backoff = Backoff(clock=lambda: now[0])
    assert backoff.remaining_since("k", now[0]) == 0
    backoff.next("k", now[0])
    assert backoff.get("k") == 10
    assert backoff.remaining_since("k", now[0]) == 10
    now[0] += 4
    assert backoff.remaining_since("k", now[0] - 4) == 6
    for expected in (20, 40, 80, 160, 300, 300):
        backoff.next("k", now[0])
        assert backoff.get("k") == expected
    now[0] += 601  # quiet for twice the maximum: forgotten
    assert backoff.remaining_since("k", now[0]) == 0


def test_atomic_write_swaps_data_and_removes_stale_names(tmp_path) -> None:
    assert write_atomic(tmp_path, {"a": (b"1", 0o644), "dir/b": (b"2", 0o400)})
    assert (tmp_path / "a").read_text() == "1"
    assert (tmp_path / "dir" / "b").read_text() == "2"
    assert os.readlink(tmp_path / "a") == "..data/a"
    assert not write_atomic(tmp_path, {"a": (b"1", 0o644), "dir/b": (b"2", 0o400)})  # unchanged: no write
    old = os.readlink(tmp_path / "..data")
    assert write_atomic(tmp_path, {"a": (b"new", 0o644)})
    assert (tmp_path / "a").read_text() == "new"
    assert not (tmp_path / "dir").exists()
    assert not (tmp_path / old).exists()


def _st(state: dict, last: dict | None = None) -> dict:
    return {"state": state, "lastState": last or {}}


def test_phase_as_upstream() -> None:
    running, waiting = _st({"running": {}}), _st({"waiting": {"reason": "ContainerCreating"}})
    ok, bad = _st({"terminated": {"exitCode": 0}}), _st({"terminated": {"exitCode": 1}})
    crashloop = _st({"waiting": {"reason": "CrashLoopBackOff"}}, {"terminated": {"exitCode": 1}})
    assert status.phase({}, [], [waiting]) == "Pending"
    assert status.phase({}, [], [running, ok]) == "Running"
    assert status.phase({"restartPolicy": "Always"}, [], [crashloop]) == "Running"
    assert status.phase({"restartPolicy": "Never"}, [], [ok, bad]) == "Failed"
    assert status.phase({"restartPolicy": "OnFailure"}, [], [ok]) == "Succeeded"
    assert status.phase({"restartPolicy": "Never"}, [bad], [waiting]) == "Failed"
    assert status.phase({"restartPolicy": "Always"}, [bad], [waiting]) == "Pending"


def test_qos_class() -> None:
    def spec(resources: dict) -> dict:
        return {"containers": [{"resources": resources}]}

    assert status.qos_class(spec({})) == "BestEffort"
    assert status.qos_class(spec({"limits": {"cpu": "1", "memory": "1Gi"},
                                  "requests": {"cpu": "1000m", "memory": "1Gi"}})) == "Guaranteed"
    assert status.qos_class(spec({"requests": {"cpu": "100m"}})) == "Burstable"
