"""Protobuf request bodies decode to the same dict their JSON form would be.

The fixtures under fixtures/protobuf/ are real kubectl 1.32.4 traffic: each `<name>.bin` is the body kubectl
POSTed to a recording server on 127.0.0.1, and `<name>.json` is what the same command printed with
`--dry-run=client -o json`. They were captured once with the commands in CAPTURED (each run with
`--server=http://127.0.0.1:PORT`); the live test at the bottom repeats the comparison against the installed kubectl.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.apiserver import protobuf

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"

CAPTURED = {
    "namespace": "create namespace demo",
    "deployment": "create deployment web --image=nginx:1.25 --replicas=3 --port=80",
    "deployment-zero": "create deployment idle --image=busybox --image=nginx --replicas=0",
    "configmap": "create configmap cfg --from-literal=a=1",
    "configmap-files": "create configmap files --from-file=blob.bin --from-file=hello.txt",
    "secret": "create secret generic s --from-literal=p=x",
    "secret-tls-like": "create secret generic creds --type=kubernetes.io/basic-auth "
    "--from-literal=username=admin --from-literal='password=p@ss w0rd'",
    "service-nodeport": "create service nodeport web --tcp=80:8080 --node-port=30080",
    "service-clusterip": "create service clusterip web2 --tcp=5678:8080 --tcp=443:8443",
    "service-headless": "create service clusterip hl --clusterip=None",
    "service-externalname": "create service externalname ex --external-name=example.com",
    "job": "create job j --image=busybox -- echo hi",
    "cronjob": "create cronjob c --image=busybox --schedule='*/1 * * * *'",
    "cronjob-restart": "create cronjob nightly --image=busybox --schedule='0 3 * * *' --restart=Never -- date",
    "serviceaccount": "create serviceaccount sa",
}


def _without_null_timestamps(obj: Any) -> Any:
    """kubectl -o json prints `creationTimestamp: null`; decode() omits zero times instead."""
    if isinstance(obj, dict):
        return {k: _without_null_timestamps(v) for k, v in obj.items() if not (k == "creationTimestamp" and v is None)}
    if isinstance(obj, list):
        return [_without_null_timestamps(v) for v in obj]
    return obj


def _fixture(name: str) -> tuple[bytes, dict[str, Any]]:
    body = (FIXTURES / f"{name}.bin").read_bytes()
    expected = json.loads((FIXTURES / f"{name}.json").read_text())
    return body, _without_null_timestamps(expected)


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_kubectl_body_decodes_to_its_json_form(name: str) -> None:
    body, expected = _fixture(name)
    assert body.startswith(b"k8s\x00")
    assert protobuf.decode(body) == expected


def test_deployment_fields_from_kubectl() -> None:
    obj = protobuf.decode(_fixture("deployment")[0])
    assert (obj["kind"], obj["apiVersion"]) == ("Deployment", "apps/v1")
    assert obj["metadata"] == {"name": "web", "labels": {"app": "web"}}
    spec = obj["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["strategy"] == {}
    container = spec["template"]["spec"]["containers"][0]
    assert container == {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}], "resources": {}}


def test_explicit_zero_replicas_survive() -> None:
    # replicas is a *int32: absent means "default to 1", so a sent 0 must not be dropped.
    obj = protobuf.decode(_fixture("deployment-zero")[0])
    assert obj["spec"]["replicas"] == 0
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["busybox", "nginx"]


def test_bytes_become_base64() -> None:
    assert protobuf.decode(_fixture("secret")[0])["data"] == {"p": "eA=="}
    configmap = protobuf.decode(_fixture("configmap-files")[0])
    assert configmap["data"] == {"hello.txt": "hello\n"}
    assert configmap["binaryData"] == {"blob.bin": "AAH+/2Jpbg=="}


def test_service_ports_and_int_or_string() -> None:
    spec = protobuf.decode(_fixture("service-nodeport")[0])["spec"]
    assert spec["type"] == "NodePort"
    assert spec["ports"] == [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080}]
    assert protobuf.decode(_fixture("service-headless")[0])["spec"]["clusterIP"] == "None"


# --- hand-built bodies for what kubectl create never sends ---


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _str(number: int, text: str) -> bytes:
    return _bytes(number, text.encode())


def _msg(number: int, *parts: bytes) -> bytes:
    return _bytes(number, b"".join(parts))


def _entry(number: int, key: str, value: bytes) -> bytes:
    return _msg(number, _str(1, key), value)


def _envelope(api_version: str, kind: str, *parts: bytes) -> bytes:
    return b"k8s\x00" + _msg(1, _str(1, api_version), _str(2, kind)) + _msg(2, *parts) + _str(3, "") + _str(4, "")


def test_eviction_keeps_a_zero_grace_period() -> None:
    body = _envelope(
        "policy/v1",
        "Eviction",
        _msg(1, _str(1, "p1"), _str(2, ""), _str(3, "default"), _int(7, 0), _msg(8)),
        _msg(2, _int(1, 0), _msg(2, _str(1, "uid-1")), _str(4, "Foreground")),
    )
    assert protobuf.decode(body) == {
        "kind": "Eviction",
        "apiVersion": "policy/v1",
        "metadata": {"name": "p1", "namespace": "default"},
        "deleteOptions": {
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "uid-1"},
            "propagationPolicy": "Foreground",
        },
    }


def test_binding_and_timestamps() -> None:
    body = _envelope(
        "v1",
        "Binding",
        _msg(1, _str(1, "p1"), _msg(8, _int(1, 1735689600)), _msg(9, _int(1, 1735689660), _int(2, 5))),
        _msg(2, _str(1, "Node"), _str(3, "node-1")),
    )
    obj = protobuf.decode(body)
    assert obj["metadata"] == {
        "name": "p1",
        "creationTimestamp": "2025-01-01T00:00:00Z",
        "deletionTimestamp": "2025-01-01T00:01:00Z",
    }
    assert obj["target"] == {"kind": "Node", "name": "node-1"}


def _int_or_string(number: int, value: int | str) -> bytes:
    if isinstance(value, str):
        return _msg(number, _int(1, 1), _int(2, 0), _str(3, value))
    return _msg(number, _int(1, 0), _int(2, value), _str(3, ""))


def test_pod_with_probes_volumes_env_and_affinity() -> None:
    container = _msg(
        2,
        _str(1, "app"),
        _str(2, "nginx"),
        _msg(7, _str(1, "POD_NAME"), _str(2, ""), _msg(3, _msg(1, _str(1, "v1"), _str(2, "metadata.name")))),
        _msg(7, _str(1, "PASSWORD"), _msg(3, _msg(4, _msg(1, _str(1, "creds")), _str(2, "password")))),
        _msg(19, _str(1, ""), _msg(2, _msg(1, _str(1, "cfg")))),
        _msg(8, _entry(1, "cpu", _msg(2, _str(1, "500m"))), _entry(2, "memory", _msg(2, _str(1, "64Mi")))),
        _msg(9, _str(1, "data"), _int(2, 1), _str(3, "/data")),
        _msg(10, _msg(1, _msg(2, _str(1, "/healthz"), _int_or_string(2, "http"))), _int(2, 5), _int(4, 0)),
        _msg(11, _msg(1, _msg(1, _str(1, "cat"), _str(1, "/tmp/ready"))), _int(6, 3)),
        _msg(22, _msg(1, _msg(3, _int_or_string(1, 8080)))),
        _msg(15, _int(2, 0), _int(4, 1000)),
        _int(18, 0),
    )
    spec = _msg(
        2,
        _msg(1, _str(1, "data"), _msg(2, _msg(2, _str(1, ""), _msg(2, _str(1, "1Gi"))))),
        _msg(1, _str(1, "cfg"), _msg(2, _msg(19, _msg(1, _str(1, "cfg")), _int(3, 0o644)))),
        _msg(1, _str(1, "host"), _msg(2, _msg(1, _str(1, "/var/log"), _str(2, "Directory")))),
        container,
        _str(3, "Always"),
        _int(4, 0),
        _entry(7, "disk", _str(2, "ssd")),
        _int(11, 0),
        _msg(14, _bytes(4, _varint(1) + _varint(2))),
        _msg(18, _msg(1, _msg(1, _msg(1, _msg(1, _str(1, "zone"), _str(2, "In"), _str(3, "a")))))),
        _msg(22, _str(1, "node.kubernetes.io/not-ready"), _str(2, "Exists"), _str(4, "NoExecute"), _int(5, 300)),
        _int(30, 0),
    )
    obj = protobuf.decode(_envelope("v1", "Pod", _msg(1, _str(1, "web")), spec, _msg(3)))
    assert obj["status"] == {}
    pod = obj["spec"]
    assert pod["volumes"] == [
        {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
    ]
    assert pod["restartPolicy"] == "Always"
    assert pod["terminationGracePeriodSeconds"] == 0
    assert pod["enableServiceLinks"] is False
    assert "hostNetwork" not in pod  # a non-pointer false is omitempty in JSON
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["securityContext"] == {"supplementalGroups": [1, 2]}
    assert pod["affinity"] == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
            }
        }
    }
    assert pod["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ]
    (c,) = pod["containers"]
    assert c["env"] == [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
    ]
    assert c["envFrom"] == [{"configMapRef": {"name": "cfg"}}]
    assert c["resources"] == {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}}
    assert c["volumeMounts"] == [{"name": "data", "readOnly": True, "mountPath": "/data"}]
    assert c["livenessProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 5}
    assert c["readinessProbe"] == {"exec": {"command": ["cat", "/tmp/ready"]}, "failureThreshold": 3}
    assert c["startupProbe"] == {"tcpSocket": {"port": 8080}}
    assert c["securityContext"] == {"privileged": False, "runAsUser": 1000}
    assert "tty" not in c


def test_rolling_update_percentages_and_negative_ints() -> None:
    spec = _msg(
        2,
        _int(1, 2),
        _msg(4, _str(1, "RollingUpdate"), _msg(2, _int_or_string(1, "25%"), _int_or_string(2, 1))),
        _int(5, -1),  # invalid, but must decode as -1 so validation can say so
    )
    obj = protobuf.decode(_envelope("apps/v1", "Deployment", _msg(1, _str(1, "web")), spec))
    assert obj["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1},
    }
    assert obj["spec"]["minReadySeconds"] == -1


def test_unknown_fields_are_skipped() -> None:
    fixed = _varint(98 << 3 | 5) + bytes(4) + _varint(97 << 3 | 1) + bytes(8)  # unknown fixed32 and fixed64
    meta = _msg(1, _str(1, "demo"), _str(99, "future"), _int(100, 7), fixed)
    group = _varint(101 << 3 | 3) + _str(1, "inside a group") + _varint(101 << 3 | 4)
    obj = protobuf.decode(_envelope("v1", "Namespace", meta + group, _msg(7, _str(1, "ignored"))))
    assert obj == {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "demo"}}


# --- errors ---


def _status(body: bytes) -> StatusError:
    with pytest.raises(StatusError) as caught:
        protobuf.decode(body)
    assert caught.value.code == 400
    return caught.value


def test_body_without_magic_is_rejected() -> None:
    assert "magic" in _status(b'{"kind":"Namespace"}').message


def test_truncated_body_is_rejected() -> None:
    body, _ = _fixture("deployment")
    _status(body[:-5])
    _status(body[:6])


def test_malformed_wire_data_is_rejected() -> None:
    _status(b"k8s\x00\x0f")  # wire type 7 does not exist
    _status(_envelope("v1", "Namespace", _int(1, 5)))  # metadata must be a message, not a varint
    _status(_envelope("v1", "Namespace", _msg(1, _bytes(1, b"\xff\xfe"))))  # invalid UTF-8 name


def test_unknown_kind_names_itself() -> None:
    error = _status(_envelope("networking.k8s.io/v1", "NetworkPolicy", _msg(1, _str(1, "r"))))
    assert error.message == "no protobuf schema for networking.k8s.io/v1/NetworkPolicy; send application/json"
    assert error.reason == "BadRequest"


def test_rbac_role_decodes() -> None:
    rule = _str(1, "get") + _str(1, "list") + _str(2, "") + _str(3, "pods")
    role = protobuf.decode(_envelope("rbac.authorization.k8s.io/v1", "Role", _msg(1, _str(1, "r")) + _msg(2, rule)))
    assert role == {"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "r"},
                    "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]}


def test_is_protobuf() -> None:
    assert protobuf.is_protobuf("application/vnd.kubernetes.protobuf")
    assert protobuf.is_protobuf("application/vnd.kubernetes.protobuf; charset=utf-8")
    assert not protobuf.is_protobuf("application/json")
    assert not protobuf.is_protobuf(None)


# --- live check against the installed kubectl (skipped without it) ---


class _Recorder(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, code: int, obj: dict[str, Any]) -> None:
        payload = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.startswith("/version"):  # keeps Google's kubectl dispatcher on its built-in 1.32
            self._reply(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.4"})
        else:
            self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.bodies.append((self.headers.get("Content-Type", ""), body))
        self._reply(201, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201})


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize(
    "args", [["create", "namespace", "live"], ["create", "deployment", "w", "--image=nginx", "--replicas=2"]]
)
def test_live_kubectl_body_matches_its_dry_run(args: list[str], tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Recorder.bodies = []
    base = ["kubectl", f"--server=http://127.0.0.1:{server.server_port}", f"--cache-dir={tmp_path}"]
    env = {"KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    try:
        subprocess.run([*base, *args], env=env, check=True, capture_output=True, timeout=60)
        dry = subprocess.run(
            [*base, *args, "--dry-run=client", "-o", "json"], env=env, check=True, capture_output=True, timeout=60
        )
    finally:
        server.shutdown()
        server.server_close()
    ((content_type, body),) = _Recorder.bodies
    assert protobuf.is_protobuf(content_type)
    assert protobuf.decode(body) == _without_null_timestamps(json.loads(dry.stdout))
