"""The kubelet in a secured cluster: its API over TLS for the API server only, a node identity that may read only
what its own pods use, and service-account tokens mounted into pods.

One API server with TLS, a client CA, a service-account signing key and `--authorization-mode=Node,RBAC`; a
controller-manager (as system:kube-controller-manager) running the serviceaccount and root-ca-cert-publisher
controllers; one kubelet on the real Docker engine that talks to the API server as `system:node:<name>` and serves
its own API with a serving certificate, requiring client certificates from the cluster CA.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubelet_harness import (
    KubeletProcess,
    container,
    free_pod_cidr,
    node_containers,
    pod,
    running,
)

from cluster import APIServer, Component, free_port
from support.pki import CA, Pair, signing_key

pytestmark = pytest.mark.e2e

KUBECTL = "/usr/bin/kubectl"
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TIMEOUT = 10


class Cluster:
    def __init__(self, workdir: Path, etcd_url: str) -> None:
        self.workdir = workdir
        suffix = uuid.uuid4().hex[:6]
        self.node, self.network = f"tls-node-{suffix}", f"kubeling-s{suffix}"
        ca = self.ca = CA.create(workdir / "ca", "kubeling-tls-test-ca")
        self.stranger = CA.create(workdir / "other-ca", "someone-else").issue("kube-apiserver-kubelet-client",
                                                                              ["system:masters"])
        self.apiserver_cert = ca.issue("kube-apiserver", server=True, client=False, sans=["127.0.0.1", "localhost"])
        self.kubelet_client = ca.issue("kube-apiserver-kubelet-client", ["system:masters"])
        self.kubelet_serving = ca.issue(f"{self.node}-serving", server=True, client=False, sans=["127.0.0.1"])
        self.node_client = ca.issue(f"system:node:{self.node}", ["system:nodes"])
        self.admin = ca.issue("kubernetes-admin", ["system:masters"])
        self.controller_manager = ca.issue("system:kube-controller-manager")
        sa_key, sa_pub = signing_key(workdir / "sa")
        self.secure_port = free_port()
        self.url = f"https://127.0.0.1:{self.secure_port}"
        self.server = APIServer(etcd_url, workdir, prefix=f"/kubelet-tls-{suffix}", extra=[
            "--secure-port", str(self.secure_port), "--bind-address", "127.0.0.1",
            "--tls-cert-file", str(self.apiserver_cert.cert), "--tls-private-key-file", str(self.apiserver_cert.key),
            "--client-ca-file", str(ca.cert), "--authorization-mode", "Node,RBAC",
            "--service-account-signing-key-file", str(sa_key), "--service-account-key-file", str(sa_pub),
            "--kubelet-client-certificate", str(self.kubelet_client.cert),
            "--kubelet-client-key", str(self.kubelet_client.key), "--kubelet-certificate-authority", str(ca.cert),
        ])
        self.controllers = Component("controller-manager", self.url, workdir, [
            "--kubeconfig", str(self.kubeconfig("controller-manager", self.controller_manager)),
            "--controllers", "serviceaccount,root-ca-cert-publisher", "--leader-elect=false",
            "--root-ca-file", str(ca.cert)])
        self.kubelet = KubeletProcess(self.url, workdir, self.node, self.network, pod_cidr=free_pod_cidr(), extra=[
            "--kubeconfig", str(self.kubeconfig("kubelet", self.node_client)),
            "--tls-cert-file", str(self.kubelet_serving.cert),
            "--tls-private-key-file", str(self.kubelet_serving.key), "--client-ca-file", str(ca.cert)])

    def kubeconfig(self, name: str, cert: Pair) -> Path:
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": self.url, "certificate-authority": str(self.ca.cert)}}],
            "users": [{"name": name, "user": {"client-certificate": str(cert.cert), "client-key": str(cert.key)}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": name}}],
        }))
        return path

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
             content_type: str = "application/json") -> requests.Response:
        """A request as the admin (client certificate), or as the bearer of `token`."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None:
            headers["Content-Type"] = content_type
        cert = None if token else (str(self.admin.cert), str(self.admin.key))
        return requests.request(method, self.url + path, headers=headers, verify=str(self.ca.cert), cert=cert,
                                data=None if body is None else json.dumps(body), timeout=TIMEOUT)

    def kubectl(self, *args: str, check: bool = True) -> str:
        cache = self.workdir / "kubectl-cache"
        result = subprocess.run([KUBECTL, f"--kubeconfig={self.kubeconfig('admin', self.admin)}",
                                 f"--cache-dir={cache}", *args], capture_output=True, text=True, timeout=30,
                                env={"PATH": "/usr/bin:/bin", "HOME": str(cache)})
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)} failed:\n{result.stderr}"
            return result.stdout
        return result.stdout + result.stderr

    def get(self, path: str) -> dict[str, Any] | None:
        response = self.call("GET", path)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return response.json()

    def namespace(self) -> str:
        """A fresh namespace, once its default ServiceAccount and kube-root-ca.crt exist (the controllers')."""
        ns = f"tls-{uuid.uuid4().hex[:8]}"
        assert self.call("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}).status_code == 201
        eventually(lambda: self.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default"), "the default account")
        eventually(lambda: self.get(f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"), "kube-root-ca.crt")
        return ns

    def create(self, ns: str, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        response = self.call("POST", f"/api/v1/namespaces/{ns}/{plural}", obj)
        assert response.status_code == 201, response.text
        return response.json()

    def wait_running(self, ns: str, name: str, timeout: float = 30) -> dict[str, Any]:
        return eventually(lambda: (p := self.get(f"/api/v1/namespaces/{ns}/pods/{name}")) and running(p) and p,
                          f"pod {ns}/{name} running", timeout)

    def logs_until(self, ns: str, name: str, wanted: str, timeout: float = 20) -> str:
        def logs() -> str | None:
            out = self.kubectl("logs", "-n", ns, name, check=False)
            return out if wanted in out else None

        return eventually(logs, f"{wanted!r} in the logs of {name}", timeout)


def eventually(check: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def plane(secure_plane: Cluster) -> Cluster:
    """The session's secured cluster (tests/e2e/conftest.py), which the stream tests share."""
    return secure_plane


def exec_in(plane: Cluster, uid: str, name: str, *command: str) -> str:
    """`docker exec` in the pod's container `name` (k8s_<name>_…)."""
    ids = [cid for cid, docker_name in node_containers(plane.node, uid).items()
           if docker_name.startswith(f"k8s_{name}_")]
    assert ids, f"no container {name} for pod {uid}"
    return subprocess.run(["docker", "exec", ids[0], *command], capture_output=True, text=True, check=True,
                          timeout=10).stdout


def test_kubectl_logs_reach_the_tls_kubelet_and_nobody_else_gets_in(plane: Cluster) -> None:
    ns = plane.namespace()
    plane.create(ns, "pods", pod("talker", plane.node, [container("c", "echo hello-over-tls; exec sleep 3600")]))
    plane.wait_running(ns, "talker")
    assert plane.logs_until(ns, "talker", "hello-over-tls") == "hello-over-tls\n"

    # The API server's client certificate opens the kubelet API; nothing else does.
    api = f"https://127.0.0.1:{plane.kubelet.port}"
    listed = requests.get(f"{api}/pods", verify=str(plane.ca.cert), timeout=TIMEOUT,
                          cert=(str(plane.kubelet_client.cert), str(plane.kubelet_client.key)))
    assert listed.status_code == 200 and "talker" in [p["metadata"]["name"] for p in listed.json()["items"]]
    log_path = f"{api}/containerLogs/{ns}/talker/c"
    with pytest.raises(requests.exceptions.ConnectionError):  # no client certificate: the handshake fails
        requests.get(log_path, verify=str(plane.ca.cert), timeout=TIMEOUT)
    with pytest.raises(requests.exceptions.ConnectionError):  # one from another CA: the same
        requests.get(log_path, verify=str(plane.ca.cert), timeout=TIMEOUT,
                     cert=(str(plane.stranger.cert), str(plane.stranger.key)))
    with pytest.raises(requests.exceptions.ConnectionError):  # and there is no plain HTTP on the port
        requests.get(f"http://127.0.0.1:{plane.kubelet.port}/pods", timeout=TIMEOUT)
    # The plain /healthz stays on loopback for local health checks, and tells nothing else.
    health = f"http://127.0.0.1:{plane.kubelet.healthz_port}"
    assert requests.get(f"{health}/healthz", timeout=TIMEOUT).text == "ok"
    assert requests.get(f"{health}/pods", timeout=TIMEOUT).status_code == 404


def test_a_node_identity_runs_pods_with_configmaps_and_secrets(plane: Cluster) -> None:
    ns = plane.namespace()
    plane.create(ns, "configmaps", {"metadata": {"name": "settings"}, "data": {"color": "teal"}})
    plane.create(ns, "secrets", {"metadata": {"name": "creds"},
                                   "data": {"password": base64.b64encode(b"first").decode()}})
    app = container("app", 'echo "color=$COLOR"; last=; while true; do cur=$(cat /etc/creds/password); '
                           'if [ "$cur" != "$last" ]; then echo "password=$cur"; last=$cur; fi; sleep 0.2; done',
                    env=[{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}}],
                    volumeMounts=[{"name": "creds", "mountPath": "/etc/creds"}])
    plane.create(ns, "pods", pod("reader", plane.node, [app],
                                   volumes=[{"name": "creds", "secret": {"secretName": "creds"}}]))
    plane.wait_running(ns, "reader")
    out = plane.logs_until(ns, "reader", "password=first")
    assert out.splitlines()[:2] == ["color=teal", "password=first"]

    # The kubelet follows the Secret by name, so the mounted file follows its changes.
    patch = {"data": {"password": base64.b64encode(b"second").decode()}}
    assert plane.call("PATCH", f"/api/v1/namespaces/{ns}/secrets/creds", patch,
                        content_type="application/merge-patch+json").status_code == 200
    plane.logs_until(ns, "reader", "password=second", timeout=15)

    # It never asked for more than it may read: no request of the kubelet's was refused.
    assert "forbidden" not in plane.kubelet.logs().lower()


def test_pods_get_a_working_service_account_token(plane: Cluster) -> None:
    ns = plane.namespace()
    plane.create(ns, "services", {"metadata": {"name": "web-front"},
                                    "spec": {"ports": [{"name": "http", "port": 80}], "selector": {"app": "x"}}})
    created = plane.create(ns, "pods", pod("sa", plane.node, [container("app", "exec sleep 3600")]))
    spec = created["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    volume = next(v for v in spec["volumes"] if v["name"].startswith("kube-api-access-"))
    assert len(volume["name"]) == len("kube-api-access-") + 5
    assert volume["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}
    assert spec["containers"][0]["volumeMounts"] == [{"name": volume["name"], "readOnly": True,
                                                      "mountPath": TOKEN_DIR}]
    plane.wait_running(ns, "sa")
    uid = created["metadata"]["uid"]

    assert exec_in(plane, uid, "app", "cat", f"{TOKEN_DIR}/namespace") == ns
    assert exec_in(plane, uid, "app", "cat", f"{TOKEN_DIR}/ca.crt") == plane.ca.cert.read_text()
    token = exec_in(plane, uid, "app", "cat", f"{TOKEN_DIR}/token")
    review = plane.call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", token=token,
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert review.status_code == 201, review.text
    user = review.json()["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{ns}:default"
    assert user["extra"]["authentication.kubernetes.io/pod-name"] == ["sa"]
    refused = plane.call("GET", f"/api/v1/namespaces/{ns}/secrets", token=token)
    assert refused.status_code == 403
    assert f'User "system:serviceaccount:{ns}:default" cannot list resource "secrets"' in refused.json()["message"]

    # The environment points in-cluster clients at the API server's Service, and links the namespace's Services.
    kubernetes = plane.get("/api/v1/namespaces/default/services/kubernetes")
    front = plane.get(f"/api/v1/namespaces/{ns}/services/web-front")
    env = dict(line.split("=", 1) for line in exec_in(plane, uid, "app", "env").splitlines() if "=" in line)
    ip = front["spec"]["clusterIP"]
    assert {k: env.get(k) for k in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
                                    "KUBERNETES_SERVICE_PORT_HTTPS", "KUBERNETES_PORT")} == {
        "KUBERNETES_SERVICE_HOST": kubernetes["spec"]["clusterIP"], "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": f"tcp://{kubernetes['spec']['clusterIP']}:443"}
    assert {k: v for k, v in env.items() if k.startswith("WEB_FRONT_")} == {
        "WEB_FRONT_SERVICE_HOST": ip, "WEB_FRONT_SERVICE_PORT": "80", "WEB_FRONT_SERVICE_PORT_HTTP": "80",
        "WEB_FRONT_PORT": f"tcp://{ip}:80", "WEB_FRONT_PORT_80_TCP": f"tcp://{ip}:80",
        "WEB_FRONT_PORT_80_TCP_PROTO": "tcp", "WEB_FRONT_PORT_80_TCP_PORT": "80", "WEB_FRONT_PORT_80_TCP_ADDR": ip}


def test_service_account_admission_refusals_and_opt_outs(plane: Cluster) -> None:
    ns = plane.namespace()
    refused = plane.kubectl("run", "lost", "-n", ns, "--image=kubeling/busybox:1", "--restart=Never",
                              "--overrides", json.dumps({"spec": {"serviceAccountName": "nobody"}}), check=False)
    assert (f'Error from server (Forbidden): pods "lost" is forbidden: error looking up service account '
            f'{ns}/nobody: serviceaccount "nobody" not found') in refused

    plain = plane.create(ns, "pods", pod("plain", plane.node, [container("app", "sleep 3600")],
                                           automountServiceAccountToken=False))
    assert "volumes" not in plain["spec"] or not plain["spec"]["volumes"]
    assert "volumeMounts" not in plain["spec"]["containers"][0]
    plane.create(ns, "serviceaccounts", {"metadata": {"name": "quiet"}, "automountServiceAccountToken": False})
    quiet = plane.create(ns, "pods", pod("quiet", plane.node, [container("app", "sleep 3600")],
                                           serviceAccountName="quiet"))
    assert not quiet["spec"].get("volumes")
    # The pod's own word wins over its account's.
    loud = plane.create(ns, "pods", pod("loud", plane.node, [container("app", "sleep 3600")],
                                          serviceAccountName="quiet", automountServiceAccountToken=True))
    assert [v["name"][:16] for v in loud["spec"]["volumes"]] == ["kube-api-access-"]
