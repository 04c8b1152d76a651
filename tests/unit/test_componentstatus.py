"""componentstatuses: each etcd server's /health, the control loops' Leases, upstream's columns."""

import datetime
from datetime import UTC

from kubeling.api import printers
from kubeling.api.resources import lookup
from kubeling.apiserver import componentstatus


class _Etcd:
    endpoints = ["http://127.0.0.1:2379", "http://127.0.0.1:2479"]

    def health(self, index):
        return (True, '{"health":"true"}') if index == 0 else (False, "connection refused")


class _Store:
    def __init__(self, leases):
        self.etcd, self.leases = _Etcd(), leases

    def try_get(self, rtype, namespace, name):
        return self.leases.get(name)


class _Registry:
    def __init__(self, leases):
        self.store = _Store(leases)


def lease(holder, seconds_ago):
    renewed = datetime.datetime.now(UTC) - datetime.timedelta(seconds=seconds_ago)
    return {"spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                     "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}


def test_statuses_come_from_etcd_health_and_fresh_leases():
    registry = _Registry({"kube-scheduler": lease("master1_42", 2), "kube-controller-manager": lease("m2_7", 60)})
    found = {s["metadata"]["name"]: s["conditions"][0] for s in componentstatus.statuses(registry)}
    assert list(found) == ["controller-manager", "etcd-0", "etcd-1", "scheduler"]
    assert found["etcd-0"] == {"type": "Healthy", "status": "True", "message": '{"health":"true"}'}
    assert found["etcd-1"]["status"] == "False" and found["etcd-1"]["error"] == "connection refused"
    assert found["scheduler"]["message"] == "ok (leader master1_42)"
    assert found["controller-manager"]["status"] == "False"
    assert "within 15s" in found["controller-manager"]["error"]


def test_table_has_upstreams_columns():
    registry = _Registry({"kube-scheduler": lease("master1_42", 2), "kube-controller-manager": lease("m", 1)})
    table = printers.to_table(lookup("", "componentstatuses"), componentstatus.statuses(registry))
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Message", "Error"]
    rows = {row["cells"][0]: row["cells"][1:] for row in table["rows"]}
    assert rows["etcd-1"] == ["Unhealthy", "", "connection refused"]
    assert rows["scheduler"] == ["Healthy", "ok (leader master1_42)", ""]
