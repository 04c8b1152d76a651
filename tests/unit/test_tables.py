"""Tables for `kubectl get`: columns, cells and row objects as upstream's printers produce them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubeling.api import resources
from kubeling.api.errors import StatusError
from kubeling.api.printers import column_definitions, human_duration, label_selector_string, to_table
from kubeling.api.resources import ResourceType

NOW = datetime(2025, 1, 10, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rtype(plural: str, group: str = "") -> ResourceType:
    found = resources.lookup(group, plural)
    assert found is not None
    return found


def meta(name: str = "x", **extra: object) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=5), **extra}


def row(plural: str, obj: dict, group: str = "") -> dict:
    """The cells of one object's row, keyed by column name."""
    table = to_table(rtype(plural, group), [obj], now=NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    (only,) = table["rows"]
    assert len(only["cells"]) == len(names)
    return dict(zip(names, only["cells"], strict=True))


def columns(plural: str, group: str = "") -> list[tuple[str, int]]:
    return [(c["name"], c["priority"]) for c in column_definitions(rtype(plural, group))]


# ---- table shape ----


def test_table_envelope_and_partial_metadata_rows():
    pod = {"metadata": meta("web", labels={"app": "web"}, uid="u1"), "spec": {"containers": [{"name": "c"}]}}
    table = to_table(rtype("pods"), [pod], now=NOW, resource_version="42")
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": pod["metadata"],
    }
    name_col = table["columnDefinitions"][0]
    assert name_col["name"] == "Name" and name_col["format"] == "name" and name_col["type"] == "string"
    assert name_col["description"].startswith("Name must be unique within a namespace.")
    assert all(c["format"] == "" for c in table["columnDefinitions"][1:])


def test_list_metadata_carries_continue_and_remaining_only_when_set():
    table = to_table(rtype("configmaps"), [], resource_version="7", continue_token="tok", remaining=3)
    assert table["metadata"] == {"resourceVersion": "7", "continue": "tok", "remainingItemCount": 3}
    assert table["rows"] == []


def test_include_object_variants():
    cm = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta("cfg"), "data": {"a": "1"}}
    full = to_table(rtype("configmaps"), [cm], include_object="Object", now=NOW)
    assert full["rows"][0]["object"] == cm
    none = to_table(rtype("configmaps"), [cm], include_object="None", now=NOW)
    assert none["rows"][0]["object"] is None
    empty = to_table(rtype("configmaps"), [cm], include_object="", now=NOW)
    assert empty["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_unknown_include_object_is_a_bad_request():
    with pytest.raises(StatusError) as err:
        to_table(rtype("configmaps"), [], include_object="Everything")
    assert err.value.code == 400
    assert err.value.message == 'unrecognized includeObject value: "Everything"'


def test_partial_metadata_is_a_copy():
    cm = {"metadata": meta("cfg", labels={"a": "b"})}
    table = to_table(rtype("configmaps"), [cm], now=NOW)
    table["rows"][0]["object"]["metadata"]["labels"]["a"] = "changed"
    assert cm["metadata"]["labels"] == {"a": "b"}


def test_generic_fallback_is_name_and_age():
    thing = ResourceType(group="example.com", version="v1", kind="Widget", plural="widgets")
    table = to_table(thing, [{"metadata": meta("w1")}], now=NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [("Name", "string"), ("Age", "date")]
    assert table["rows"][0]["cells"] == ["w1", "5m"]


# ---- ages ----


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60 * 25, "3h25m"),
        (5 * 3600, "5h"),
        (8 * 3600 + 59 * 60, "8h"),
        (47 * 3600, "47h"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (3 * 86400, "3d"),
        (45 * 86400, "45d"),
        (729 * 86400, "729d"),
        (2 * 365 * 86400 + 3 * 86400, "2y3d"),
        (3 * 365 * 86400, "3y"),
        (9 * 365 * 86400 + 40 * 86400, "9y"),
    ],
)
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_age_unknown_without_creation_timestamp():
    cells = row("configmaps", {"metadata": {"name": "cfg"}})
    assert cells["Age"] == "<unknown>"


def test_age_reads_fractional_and_offset_timestamps():
    cm = {"metadata": {"name": "cfg", "creationTimestamp": "2025-01-10T12:57:00.250000+02:00"}}
    assert row("configmaps", cm)["Age"] == "62m"


# ---- label selectors ----


def test_label_selector_string():
    sel = {
        "matchLabels": {"tier": "front", "app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "zone", "operator": "NotIn", "values": ["b"]},
            {"key": "gpu", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector_string(sel) == "app=web,env in (dev,prod),gpu,!legacy,tier=front,zone notin (b)"
    assert label_selector_string({}) == ""
    assert label_selector_string(None) == ""


def test_label_selector_string_rejects_malformed_expressions():
    with pytest.raises(ValueError):
        label_selector_string({"matchExpressions": [{"key": "a", "operator": "Like", "values": ["x"]}]})
    with pytest.raises(ValueError):
        label_selector_string({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})


# ---- pods ----


def test_pod_columns():
    assert columns("pods") == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0),
        ("IP", 1), ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1),
    ]  # fmt: skip


def pod(statuses=None, *, phase="Running", spec_extra=None, status_extra=None, metadata_extra=None) -> dict:
    containers = [{"name": s.get("name", f"c{i}")} for i, s in enumerate(statuses or [{}])]
    return {
        "metadata": meta("p", **(metadata_extra or {})),
        "spec": {"containers": containers, **(spec_extra or {})},
        "status": {"phase": phase, "containerStatuses": statuses or [], **(status_extra or {})},
    }


def running(ready=True, restarts=0, **extra) -> dict:
    return {"ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(minutes=4)}}, **extra}


def test_pod_running_and_ready():
    cells = row("pods", pod([running(), running()], status_extra={"podIP": "10.0.0.5"}, spec_extra={"nodeName": "n1"}))
    assert cells["Ready"] == "2/2"
    assert cells["Status"] == "Running"
    assert cells["Restarts"] == "0"
    assert cells["IP"] == "10.0.0.5"
    assert cells["Node"] == "n1"
    assert cells["Nominated Node"] == "<none>"
    assert cells["Readiness Gates"] == "<none>"


def test_pod_pending_without_statuses():
    cells = row("pods", pod(phase="Pending"))
    assert (cells["Ready"], cells["Status"], cells["IP"], cells["Node"]) == ("0/1", "Pending", "<none>", "<none>")


def test_pod_ip_prefers_pod_ips():
    cells = row("pods", pod(status_extra={"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.9"}]}))
    assert cells["IP"] == "10.0.0.9"


@pytest.mark.parametrize(
    "reason", ["ContainerCreating", "CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff"]
)
def test_pod_waiting_reason_is_the_status(reason):
    cells = row("pods", pod([{"ready": False, "restartCount": 0, "state": {"waiting": {"reason": reason}}}],
                            phase="Pending"))
    assert cells["Status"] == reason
    assert cells["Ready"] == "0/1"


def test_pod_terminated_reasons():
    done = {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    assert row("pods", pod([done], phase="Succeeded"))["Status"] == "Completed"
    signal = {"state": {"terminated": {"exitCode": 137, "signal": 9}}}
    assert row("pods", pod([signal], phase="Failed"))["Status"] == "Signal:9"
    code = {"state": {"terminated": {"exitCode": 3}}}
    assert row("pods", pod([code], phase="Failed"))["Status"] == "ExitCode:3"


def test_pod_first_container_wins_the_status():
    first = {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    second = {"state": {"waiting": {"reason": "ImagePullBackOff"}}}
    assert row("pods", pod([first, second]))["Status"] == "CrashLoopBackOff"


def test_pod_completed_container_beside_running_one():
    done = {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    ready_cond = {"conditions": [{"type": "Ready", "status": "True"}]}
    assert row("pods", pod([done, running()], status_extra=ready_cond))["Status"] == "Running"
    not_ready = {"conditions": [{"type": "Ready", "status": "False"}]}
    assert row("pods", pod([done, running()], status_extra=not_ready))["Status"] == "NotReady"


def test_pod_status_reason_overrides_phase():
    cells = row("pods", pod(phase="Failed", status_extra={"reason": "Evicted"}))
    assert cells["Status"] == "Evicted"


def test_pod_scheduling_gated():
    gated = {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}
    assert row("pods", pod(phase="Pending", status_extra=gated))["Status"] == "SchedulingGated"


def test_pod_terminating():
    deleting = {"deletionTimestamp": ago(seconds=3)}
    assert row("pods", pod([running()], metadata_extra=deleting))["Status"] == "Terminating"
    done = {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    assert row("pods", pod([done], phase="Succeeded", metadata_extra=deleting))["Status"] == "Completed"
    lost = pod([running()], metadata_extra=deleting, status_extra={"reason": "NodeLost"})
    assert row("pods", lost)["Status"] == "Unknown"


def init_pod(init_statuses, n_init=2) -> dict:
    p = pod(phase="Pending")
    p["spec"]["initContainers"] = [{"name": f"init{i}"} for i in range(n_init)]
    p["status"]["initContainerStatuses"] = init_statuses
    p["status"]["containerStatuses"] = [{"state": {"waiting": {"reason": "PodInitializing"}}}]
    return p


def test_pod_init_progress():
    waiting = {"name": "init0", "state": {"waiting": {"reason": "PodInitializing"}}}
    assert row("pods", init_pod([waiting, dict(waiting, name="init1")]))["Status"] == "Init:0/2"
    done = {"name": "init0", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    runs = {"name": "init1", "state": {"running": {}}}
    assert row("pods", init_pod([done, runs]))["Status"] == "Init:1/2"


def test_pod_init_failures():
    crash = {"name": "init0", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    cells = row("pods", init_pod([crash]))
    assert cells["Status"] == "Init:CrashLoopBackOff"
    assert cells["Restarts"] == "4"
    err = {"name": "init0", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    assert row("pods", init_pod([err]))["Status"] == "Init:Error"
    sig = {"name": "init0", "state": {"terminated": {"exitCode": 2, "signal": 15}}}
    assert row("pods", init_pod([sig]))["Status"] == "Init:Signal:15"
    code = {"name": "init0", "state": {"terminated": {"exitCode": 2}}}
    assert row("pods", init_pod([code]))["Status"] == "Init:ExitCode:2"


def test_pod_sidecar_counts_as_a_container():
    p = pod([running()])
    p["spec"]["initContainers"] = [{"name": "proxy", "restartPolicy": "Always"}]
    p["status"]["initContainerStatuses"] = [
        {"name": "proxy", "started": True, "ready": True, "restartCount": 1, "state": {"running": {}}}
    ]
    cells = row("pods", p)
    assert cells["Ready"] == "2/2"
    assert cells["Status"] == "Running"
    assert cells["Restarts"] == "1"


def test_pod_restarts_with_last_restart_time():
    last = {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=5)}}
    cells = row("pods", pod([running(restarts=3, lastState=last)]))
    assert cells["Restarts"] == "3 (5m ago)"
    assert row("pods", pod([running(restarts=3)]))["Restarts"] == "3"


def test_pod_readiness_gates():
    p = pod([running()], spec_extra={"readinessGates": [{"conditionType": "lb/ok"}, {"conditionType": "x/y"}]},
            status_extra={"conditions": [{"type": "lb/ok", "status": "True"}], "nominatedNodeName": "n2"})
    cells = row("pods", p)
    assert cells["Readiness Gates"] == "1/2"
    assert cells["Nominated Node"] == "n2"


def test_finished_pods_carry_a_completed_row_condition():
    table = to_table(rtype("pods"), [pod(phase="Succeeded"), pod(phase="Running")], now=NOW)
    assert table["rows"][0]["conditions"] == [
        {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}
    ]
    assert "conditions" not in table["rows"][1]


# ---- nodes and namespaces ----


def node(ready="True", labels=None, unschedulable=False) -> dict:
    conditions = [] if ready is None else [{"type": "MemoryPressure", "status": "False"},
                                           {"type": "Ready", "status": ready}]
    return {
        "metadata": {"name": "n1", "creationTimestamp": ago(days=2, hours=3), "labels": labels or {}},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": conditions,
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.4"}],
            "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.1.0", "containerRuntimeVersion": "docker://24.0.7"},
        },
    }


def test_node_columns():
    assert columns("nodes") == [
        ("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0), ("Internal-IP", 1),
        ("External-IP", 1), ("OS-Image", 1), ("Kernel-Version", 1), ("Container-Runtime", 1),
    ]  # fmt: skip


def test_node_cells():
    cells = row("nodes", node())
    assert cells == {
        "Name": "n1", "Status": "Ready", "Roles": "<none>", "Age": "2d3h", "Version": "v1.32.4",
        "Internal-IP": "192.168.1.4", "External-IP": "<none>", "OS-Image": "Debian GNU/Linux 12 (bookworm)",
        "Kernel-Version": "6.1.0", "Container-Runtime": "docker://24.0.7",
    }  # fmt: skip


def test_node_status_variants():
    assert row("nodes", node("False"))["Status"] == "NotReady"
    assert row("nodes", node("Unknown"))["Status"] == "NotReady"
    assert row("nodes", node(None))["Status"] == "Unknown"
    assert row("nodes", node("True", unschedulable=True))["Status"] == "Ready,SchedulingDisabled"


def test_node_roles():
    labels = {
        "node-role.kubernetes.io/worker": "",
        "node-role.kubernetes.io/control-plane": "",
        "node-role.kubernetes.io/": "",
        "kubernetes.io/role": "edge",
        "kubernetes.io/hostname": "n1",
    }
    assert row("nodes", node(labels=labels))["Roles"] == "control-plane,edge,worker"


def test_node_wide_cells_unknown_when_unreported():
    n = node()
    n["status"]["nodeInfo"] = {}
    cells = row("nodes", n)
    assert (cells["OS-Image"], cells["Kernel-Version"], cells["Container-Runtime"]) == ("<unknown>",) * 3


def test_namespace():
    assert columns("namespaces") == [("Name", 0), ("Status", 0), ("Age", 0)]
    ns = {"metadata": {"name": "kube-system", "creationTimestamp": ago(days=45)}, "status": {"phase": "Terminating"}}
    assert row("namespaces", ns) == {"Name": "kube-system", "Status": "Terminating", "Age": "45d"}


# ---- services and endpoints ----


def service(type_="ClusterIP", ports=None, **spec) -> dict:
    return {
        "metadata": meta("web"),
        "spec": {"type": type_, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": ports or [],
                 **spec},
    }


def test_service_columns():
    assert columns("services") == [
        ("Name", 0), ("Type", 0), ("Cluster-IP", 0), ("External-IP", 0), ("Port(s)", 0), ("Age", 0), ("Selector", 1),
    ]  # fmt: skip


def test_service_cluster_ip():
    cells = row("services", service(ports=[{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                                    selector={"tier": "a", "app": "web"}))
    assert cells == {
        "Name": "web", "Type": "ClusterIP", "Cluster-IP": "10.96.0.10", "External-IP": "<none>",
        "Port(s)": "80/TCP,53/UDP", "Age": "5m", "Selector": "app=web,tier=a",
    }  # fmt: skip


def test_service_node_port_and_no_ports():
    cells = row("services", service("NodePort", ports=[{"port": 80, "nodePort": 30080, "protocol": "TCP"}]))
    assert cells["Port(s)"] == "80:30080/TCP"
    assert row("services", service())["Port(s)"] == "<none>"
    assert row("services", service())["Selector"] == "<none>"


def test_service_external_ips():
    assert row("services", service(externalIPs=["1.2.3.4", "5.6.7.8"]))["External-IP"] == "1.2.3.4,5.6.7.8"
    assert row("services", service("LoadBalancer"))["External-IP"] == "<pending>"
    lb = service("LoadBalancer", externalIPs=["9.9.9.9"])
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "3.3.3.3"}, {"hostname": "lb.example.com"}]}}
    assert row("services", lb)["External-IP"] == "3.3.3.3,lb.example.com,9.9.9.9"
    ext = service("ExternalName", externalName="db.example.com", clusterIP="", clusterIPs=[])
    cells = row("services", ext)
    assert (cells["Cluster-IP"], cells["External-IP"]) == ("<none>", "db.example.com")


def test_headless_service_shows_none_cluster_ip():
    assert row("services", service(clusterIP="None", clusterIPs=["None"]))["Cluster-IP"] == "None"


def endpoints(*subsets) -> dict:
    return {"metadata": meta("web"), "subsets": list(subsets)}


def addrs(*ips) -> list[dict]:
    return [{"ip": ip} for ip in ips]


def test_endpoints():
    assert columns("endpoints") == [("Name", 0), ("Endpoints", 0), ("Age", 0)]
    assert row("endpoints", endpoints())["Endpoints"] == "<none>"
    two = endpoints({"addresses": addrs("10.0.0.1", "10.0.0.2"), "ports": [{"port": 80}]})
    assert row("endpoints", two)["Endpoints"] == "10.0.0.1:80,10.0.0.2:80"
    three = endpoints({"addresses": addrs("10.0.0.1", "10.0.0.2", "10.0.0.3"), "ports": [{"port": 80}]})
    assert row("endpoints", three)["Endpoints"] == "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80"


def test_endpoints_truncation_counts_every_address_port_pair():
    five = endpoints({"addresses": addrs(*(f"10.0.0.{i}" for i in range(1, 6))), "ports": [{"port": 80}]})
    assert row("endpoints", five)["Endpoints"] == "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."
    two_ports = endpoints({"addresses": addrs("10.0.0.1", "10.0.0.2"), "ports": [{"port": 80}, {"port": 443}]})
    assert row("endpoints", two_ports)["Endpoints"] == "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."


def test_endpoints_headless_and_ipv6():
    assert row("endpoints", endpoints({"addresses": addrs("10.0.0.7")}))["Endpoints"] == "10.0.0.7"
    v6 = endpoints({"addresses": addrs("fd00::1"), "ports": [{"port": 80}]})
    assert row("endpoints", v6)["Endpoints"] == "[fd00::1]:80"


# ---- workloads ----

TEMPLATE = {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}}
SELECTOR = {"matchLabels": {"app": "web"}}


def test_deployment():
    assert columns("deployments", "apps") == [
        ("Name", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0), ("Age", 0),
        ("Containers", 1), ("Images", 1), ("Selector", 1),
    ]  # fmt: skip
    d = {
        "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert row("deployments", d, "apps") == {
        "Name": "web", "Ready": "2/3", "Up-to-date": 3, "Available": 2, "Age": "5m",
        "Containers": "web,log", "Images": "nginx:1.27,busybox", "Selector": "app=web",
    }  # fmt: skip


def test_new_deployment_without_status():
    d = {"metadata": meta("web"), "spec": {"selector": SELECTOR, "template": TEMPLATE}}
    cells = row("deployments", d, "apps")
    assert (cells["Ready"], cells["Up-to-date"], cells["Available"]) == ("0/1", 0, 0)


def test_replicaset():
    assert columns("replicasets", "apps") == [
        ("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Age", 0),
        ("Containers", 1), ("Images", 1), ("Selector", 1),
    ]  # fmt: skip
    rs = {
        "metadata": meta("web-abc"),
        "spec": {"replicas": 3, "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
                 "template": TEMPLATE},
        "status": {"replicas": 3, "readyReplicas": 1},
    }
    cells = row("replicasets", rs, "apps")
    assert (cells["Desired"], cells["Current"], cells["Ready"]) == (3, 3, 1)
    assert cells["Selector"] == "app in (web)"
    assert [c["type"] for c in column_definitions(rtype("replicasets", "apps"))][1:4] == ["integer"] * 3


def test_statefulset():
    assert columns("statefulsets", "apps") == [("Name", 0), ("Ready", 0), ("Age", 0), ("Containers", 1), ("Images", 1)]
    sts = {"metadata": meta("db"), "spec": {"replicas": 2, "template": TEMPLATE}, "status": {"readyReplicas": 1}}
    assert row("statefulsets", sts, "apps") == {
        "Name": "db", "Ready": "1/2", "Age": "5m", "Containers": "web,log", "Images": "nginx:1.27,busybox",
    }  # fmt: skip


def test_daemonset():
    assert columns("daemonsets", "apps") == [
        ("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0),
        ("Node Selector", 0), ("Age", 0), ("Containers", 1), ("Images", 1), ("Selector", 1),
    ]  # fmt: skip
    template = {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "p", "image": "i"}]}}
    ds = {
        "metadata": meta("proxy"),
        "spec": {"selector": SELECTOR, "template": template},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                   "updatedNumberScheduled": 3, "numberAvailable": 2},
    }
    assert list(row("daemonsets", ds, "apps").values()) == [
        "proxy", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "5m", "p", "i", "app=web",
    ]
    ds["spec"]["template"]["spec"].pop("nodeSelector")
    ds["spec"]["selector"] = {}
    cells = row("daemonsets", ds, "apps")
    assert (cells["Node Selector"], cells["Selector"]) == ("<none>", "<none>")


def job(conditions=None, **spec) -> dict:
    return {
        "metadata": meta("pi"),
        "spec": {"template": TEMPLATE, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                 **spec},
        "status": {"succeeded": 1, "startTime": ago(minutes=3, seconds=20), "conditions": conditions or []},
    }


def test_job_columns_and_running_job():
    assert columns("jobs", "batch") == [
        ("Name", 0), ("Status", 0), ("Completions", 0), ("Duration", 0), ("Age", 0),
        ("Containers", 1), ("Images", 1), ("Selector", 1),
    ]  # fmt: skip
    cells = row("jobs", job(completions=3), "batch")
    assert (cells["Status"], cells["Completions"], cells["Duration"]) == ("Running", "1/3", "3m20s")
    assert cells["Selector"] == "batch.kubernetes.io/controller-uid=u"


def test_job_status_and_completions_variants():
    complete = job([{"type": "Complete", "status": "True"}], completions=1)
    complete["status"]["completionTime"] = ago(minutes=3)
    cells = row("jobs", complete, "batch")
    assert (cells["Status"], cells["Duration"]) == ("Complete", "20s")
    assert row("jobs", job([{"type": "Failed", "status": "True"}]), "batch")["Status"] == "Failed"
    assert row("jobs", job([{"type": "Suspended", "status": "True"}]), "batch")["Status"] == "Suspended"
    assert row("jobs", job([{"type": "FailureTarget", "status": "True"}]), "batch")["Status"] == "FailureTarget"
    assert row("jobs", job([{"type": "Complete", "status": "False"}]), "batch")["Status"] == "Running"
    assert row("jobs", job(parallelism=4), "batch")["Completions"] == "1/1 of 4"
    assert row("jobs", job(), "batch")["Completions"] == "1/1"
    fresh = job()
    del fresh["status"]
    assert (row("jobs", fresh, "batch")["Completions"], row("jobs", fresh, "batch")["Duration"]) == ("0/1", "")


def test_cronjob():
    assert columns("cronjobs", "batch") == [
        ("Name", 0), ("Schedule", 0), ("Timezone", 0), ("Suspend", 0), ("Active", 0), ("Last Schedule", 0),
        ("Age", 0), ("Containers", 1), ("Images", 1), ("Selector", 1),
    ]  # fmt: skip
    cj = {
        "metadata": meta("nightly"),
        "spec": {"schedule": "*/5 * * * *", "suspend": False, "jobTemplate": {"spec": {"template": TEMPLATE}}},
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(seconds=40)},
    }
    assert list(row("cronjobs", cj, "batch").values()) == [
        "nightly", "*/5 * * * *", "<none>", "False", 1, "40s", "5m", "web,log", "nginx:1.27,busybox", "<none>",
    ]
    cj["spec"].pop("suspend")
    cj["spec"]["timeZone"] = "Etc/UTC"
    cj["status"] = {}
    cells = row("cronjobs", cj, "batch")
    assert (cells["Timezone"], cells["Suspend"], cells["Active"], cells["Last Schedule"]) == (
        "Etc/UTC", "<unset>", 0, "<none>",
    )


# ---- config, accounts, leases, events ----


def test_configmap_secret_serviceaccount_lease():
    cm = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert row("configmaps", cm) == {"Name": "cfg", "Data": 3, "Age": "5m"}
    secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    assert row("secrets", secret) == {"Name": "tls", "Type": "kubernetes.io/tls", "Data": 2, "Age": "5m"}
    assert row("secrets", {"metadata": meta("s")})["Type"] == "Opaque"
    sa = {"metadata": meta("default"), "secrets": [{"name": "tok"}]}
    assert row("serviceaccounts", sa) == {"Name": "default", "Secrets": 1, "Age": "5m"}
    lease = {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "host_1234"}}
    assert row("leases", lease, "coordination.k8s.io") == {"Name": "kube-scheduler", "Holder": "host_1234", "Age": "5m"}


def test_event_columns_follow_upstream_order():
    assert columns("events") == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1),
        ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1),
    ]  # fmt: skip
    name_col = column_definitions(rtype("events"))[-1]
    assert name_col["format"] == "name"


def test_event_cells():
    ev = {
        "metadata": meta("web.17a"),
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{web}"},
        "reason": "Pulled", "type": "Normal", "message": "  Successfully pulled image\n",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": ago(hours=1), "lastTimestamp": ago(minutes=2), "count": 4,
    }  # fmt: skip
    assert row("events", ev) == {
        "Last Seen": "2m", "Type": "Normal", "Reason": "Pulled", "Object": "pod/web",
        "Subobject": "spec.containers{web}", "Source": "kubelet, n1", "Message": "Successfully pulled image",
        "First Seen": "60m", "Count": 4, "Name": "web.17a",
    }  # fmt: skip


def test_event_from_the_new_events_api():
    ev = {
        "metadata": meta("e"),
        "involvedObject": {"kind": "Node"},
        "eventTime": "2025-01-10T11:59:30.000000Z",
        "reportingComponent": "default-scheduler",
        "reason": "Scheduled", "type": "Normal", "message": "ok",
    }  # fmt: skip
    cells = row("events", ev)
    assert (cells["Last Seen"], cells["First Seen"], cells["Count"]) == ("30s", "30s", 1)
    assert (cells["Object"], cells["Source"]) == ("node", "default-scheduler")
    ev["series"] = {"count": 7, "lastObservedTime": "2025-01-10T11:59:50.000000Z"}
    cells = row("events", ev)
    assert (cells["Last Seen"], cells["Count"]) == ("10s", 7)


def test_rows_keep_the_given_order():
    objs = [{"metadata": meta(n)} for n in ("b", "a", "c")]
    table = to_table(rtype("configmaps"), objs, now=NOW)
    assert [r["cells"][0] for r in table["rows"]] == ["b", "a", "c"]
