"""Security end to end: TLS on every hop, who may come in (authentication), and what they may do (authorization).

One etcd that only talks TLS and demands client certificates, and one API server with a serving certificate, a
client CA, a token file, service-account keys and `--authorization-mode=Node,RBAC` (the default once TLS is on).
Users are client certificates from the test CA (tests/support/pki.py), bearer tokens from the token file, and a
service-account token issued by `kubectl create token`; the real kubectl (1.32 and 1.20) and the Python client talk
to the server over https only, since kubectl sends no credential over plain HTTP.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from cluster import ROOT, APIServer, free_port
from support.pki import CA, Pair, signing_key

pytestmark = pytest.mark.e2e

KUBECTL = {"1.32": Path("/usr/bin/kubectl"), "1.20": ROOT / ".cache/kubectl-1.20/usr/bin/kubectl"}
ADMIN_TOKEN = "admin-" + uuid.uuid4().hex
BOB_TOKEN = "bob-" + uuid.uuid4().hex
SECRET_VALUE = "s3cr3t-" + uuid.uuid4().hex[:8]
TIMEOUT = 10


class Secure:
    """The secured control plane and the credentials handed out for it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ca = CA.create(workdir / "ca", "kubeling-test-ca")
        self.other_ca = CA.create(workdir / "other-ca", "someone-else")
        ca = self.ca
        self.apiserver_cert = ca.issue("kube-apiserver", server=True, client=False, sans=["127.0.0.1", "localhost"])
        self.etcd_cert = ca.issue("etcd", server=True, sans=["127.0.0.1", "localhost"])
        self.etcd_client = ca.issue("kube-apiserver-etcd-client")
        self.admin = ca.issue("kubernetes-admin", ["system:masters"])
        self.alice = ca.issue("alice", ["dev"])
        self.node1 = ca.issue("system:node:n1", ["system:nodes"])
        self.expired = ca.issue("alice", ["dev"], expired=True, filename="alice-expired")
        self.stranger = self.other_ca.issue("kubernetes-admin", ["system:masters"])
        self.kubelet_client = ca.issue("kube-apiserver-kubelet-client", ["system:masters"])
        self.kubelet_serving = ca.issue("kubelet-n1", server=True, client=False, sans=["127.0.0.1"])
        tokens = workdir / "tokens.csv"
        tokens.write_text(f'{ADMIN_TOKEN},token-admin,100,"system:masters"\n{BOB_TOKEN},bob,101,"dev,qa"\n')
        self.sa_key, self.sa_pub = signing_key(workdir / "sa")
        self.etcd_proc: subprocess.Popen | None = None
        self.etcd_url = ""
        self.server: APIServer | None = None

    # etcd: https only, client certificates required

    def start_etcd(self) -> None:
        port, peer = free_port(), free_port()
        self.etcd_url = f"https://127.0.0.1:{port}"
        log = open(self.workdir / "etcd.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.etcd_proc = subprocess.Popen(
            [shutil.which("etcd") or "/usr/bin/etcd", "--data-dir", str(self.workdir / "etcd-data"), "--name", "sec",
             "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
             "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls",
             f"http://127.0.0.1:{peer}", "--initial-cluster", f"sec=http://127.0.0.1:{peer}",
             "--client-cert-auth", "--trusted-ca-file", str(self.ca.cert),
             "--cert-file", str(self.etcd_cert.cert), "--key-file", str(self.etcd_cert.key)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if self.etcd_get("/health").status_code == 200:
                    return
            if self.etcd_proc.poll() is not None:
                raise RuntimeError("etcd exited; see etcd.log")
            time.sleep(0.2)
        raise TimeoutError("etcd did not come up")

    def etcd_get(self, path: str, cert: Pair | None = None) -> requests.Response:
        pair = cert or self.etcd_client
        return requests.get(self.etcd_url + path, verify=str(self.ca.cert), cert=(str(pair.cert), str(pair.key)),
                            timeout=5)

    def start_apiserver(self) -> None:
        self.secure_port = free_port()
        self.server = APIServer(self.etcd_url, self.workdir, prefix="/secure", extra=[
            "--etcd-cafile", str(self.ca.cert), "--etcd-certfile", str(self.etcd_client.cert),
            "--etcd-keyfile", str(self.etcd_client.key),
            "--secure-port", str(self.secure_port), "--bind-address", "127.0.0.1",
            "--tls-cert-file", str(self.apiserver_cert.cert), "--tls-private-key-file", str(self.apiserver_cert.key),
            "--client-ca-file", str(self.ca.cert), "--token-auth-file", str(self.workdir / "tokens.csv"),
            "--service-account-signing-key-file", str(self.sa_key), "--service-account-key-file", str(self.sa_pub),
            "--kubelet-client-certificate", str(self.kubelet_client.cert),
            "--kubelet-client-key", str(self.kubelet_client.key), "--kubelet-certificate-authority", str(self.ca.cert),
            "--max-requests-inflight", "32", "--v", "2",
        ])
        self.server.start()  # waits for /readyz on the loopback plain port, which anyone may read
        self.url = f"https://127.0.0.1:{self.secure_port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.etcd_proc is not None and self.etcd_proc.poll() is None:
            self.etcd_proc.terminate()
            self.etcd_proc.wait(10)

    def apiserver_log(self) -> str:
        assert self.server is not None
        return (self.workdir / f"apiserver-{self.server.port}.log").read_text(errors="replace")

    # Clients

    def call(self, method: str, path: str, *, cert: Pair | None = None, token: str | None = None,
             body: Any = None, content_type: str = "application/json") -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None:
            headers["Content-Type"] = content_type
        return requests.request(method, self.url + path, headers=headers, verify=str(self.ca.cert),
                                cert=(str(cert.cert), str(cert.key)) if cert else None,
                                data=None if body is None else json.dumps(body), timeout=TIMEOUT)

    def kubeconfig(self, name: str, *, cert: Pair | None = None, token: str | None = None) -> Path:
        user: dict[str, str] = {"token": token} if token else {}
        if cert is not None:
            user = {"client-certificate-data": cert.cert_data(), "client-key-data": cert.key_data()}
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": self.url,
                                                    "certificate-authority": str(self.ca.cert)}}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": name}}],
        }))
        return path


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    plane = Secure(tmp_path_factory.mktemp("secure"))
    try:
        plane.start_etcd()
        plane.start_apiserver()
        yield plane
    finally:
        plane.stop()


class Kubectl:
    """A real kubectl with its own kubeconfig (a user) and discovery cache."""

    def __init__(self, version: str, kubeconfig: Path, cache: Path) -> None:
        self.version, self.kubeconfig, self.cache = version, kubeconfig, cache

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        command = [str(KUBECTL[self.version]), f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache}", *args]
        return subprocess.run(command, input=input, capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(self.cache)})

    def __call__(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.returncode == 0, f"kubectl {' '.join(args)} failed: {result.stderr}"
        return result.stdout


@pytest.fixture(scope="module", params=sorted(KUBECTL))
def version(request: pytest.FixtureRequest) -> str:
    if not KUBECTL[request.param].exists():
        pytest.fail(f"{KUBECTL[request.param]} is missing: run `make deps`")
    return request.param


def kubectl_as(secure: Secure, version: str, name: str, **credential: Any) -> Kubectl:
    cache = secure.workdir / f"cache-{name}-{version}"
    cache.mkdir(exist_ok=True)
    return Kubectl(version, secure.kubeconfig(name, **credential), cache)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def eventually(check: Any, timeout: float = 10.0) -> Any:
    """Retry `check` until it stops raising AssertionError (RBAC changes reach the authorizer's cache quickly)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def make_namespace(secure: Secure) -> str:
    ns = unique("sec")
    response = secure.call("POST", "/api/v1/namespaces", cert=secure.admin, body={"metadata": {"name": ns}})
    assert response.status_code == 201, response.text
    return ns


# Authentication


def assert_unauthorized(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    status = response.json()
    assert (status["kind"], status["reason"], status["message"]) == ("Status", "Unauthorized", "Unauthorized")


def test_anonymous_requests_are_refused_but_health_and_version_answer(secure: Secure) -> None:
    assert_unauthorized(secure.call("GET", "/api/v1/namespaces"))
    assert_unauthorized(secure.call("GET", "/apis"))
    for path in ("/healthz", "/livez", "/readyz"):
        response = secure.call("GET", path)
        assert (response.status_code, response.text) == (200, "ok")
    assert secure.call("GET", "/version").json()["gitVersion"].startswith("v1.")
    # The loopback plain-HTTP port is no back door once TLS is on: no credential, no entry.
    assert_unauthorized(requests.get(f"{secure.server.url}/api/v1/namespaces", timeout=TIMEOUT))


def test_bad_credentials_are_refused_with_401(secure: Secure) -> None:
    assert_unauthorized(secure.call("GET", "/api/v1/namespaces", cert=secure.stranger))  # signed by another CA
    assert_unauthorized(secure.call("GET", "/api/v1/namespaces", cert=secure.expired))
    assert_unauthorized(secure.call("GET", "/api/v1/namespaces", token="not-a-token"))
    assert_unauthorized(secure.call("GET", "/api/v1/namespaces", token="a.b.c"))  # not a JWT we signed
    # The same requests with good credentials get in.
    assert secure.call("GET", "/api/v1/namespaces", cert=secure.admin).status_code == 200
    assert secure.call("GET", "/api/v1/namespaces", token=ADMIN_TOKEN).status_code == 200


def test_whoami_reports_certificate_and_token_identities(secure: Secure, version: str) -> None:
    if version == "1.20":
        pytest.skip("kubectl auth whoami appeared in 1.26")
    alice = kubectl_as(secure, version, "alice", cert=secure.alice)
    out = alice("auth", "whoami")
    assert out.split("\n")[0].split() == ["ATTRIBUTE", "VALUE"]
    assert "Username    alice" in out and "Groups      [dev system:authenticated]" in out
    bob = kubectl_as(secure, version, "bob", token=BOB_TOKEN)
    out = bob("auth", "whoami")
    assert "Username    bob" in out and "[dev qa system:authenticated]" in out


# Authorization


def grant_pod_reader(admin: Kubectl, ns: str) -> None:
    admin("create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods", "-n", ns)
    admin("create", "rolebinding", "read-pods", "--role=pod-reader", "--user=alice", "--group=dev", "-n", ns)


def test_a_role_allows_exactly_what_it_says(secure: Secure, version: str) -> None:
    admin = kubectl_as(secure, version, "admin", cert=secure.admin)
    alice = kubectl_as(secure, version, "alice", cert=secure.alice)
    bob = kubectl_as(secure, version, "bob", token=BOB_TOKEN)
    ns, elsewhere = make_namespace(secure), make_namespace(secure)
    admin("create", "secret", "generic", "db", f"--from-literal=password={SECRET_VALUE}", "-n", ns)

    # Before the binding: nothing.
    denied = alice.run("get", "pods", "-n", ns)
    assert denied.returncode != 0
    assert (f'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API '
            f'group "" in the namespace "{ns}"') in denied.stderr

    grant_pod_reader(admin, ns)
    assert "read-pods   Role/pod-reader" in admin("get", "rolebindings", "-n", ns)
    for user in (alice, bob):  # a client certificate (User alice) and a token (Group dev)
        out = eventually(lambda user=user: user("get", "pods", "-n", ns) + "ok")
        assert out == "ok"

    # What the Role does not say is forbidden: other resources, other verbs, other namespaces.
    secrets = alice.run("get", "secrets", "-n", ns)
    assert secrets.returncode != 0
    assert (f'secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace '
            f'"{ns}"') in secrets.stderr
    assert SECRET_VALUE not in secrets.stderr
    create = alice.run("create", "configmap", "c1", "--from-literal=a=b", "-n", ns)
    assert ('configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the '
            f'namespace "{ns}"') in create.stderr
    other = bob.run("get", "pods", "-n", elsewhere)
    assert f'User "bob" cannot list resource "pods" in API group "" in the namespace "{elsewhere}"' in other.stderr
    nodes = alice.run("get", "nodes")
    assert 'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope' \
        in nodes.stderr


def test_forbidden_is_a_status_with_reason_forbidden(secure: Secure) -> None:
    ns = make_namespace(secure)
    response = secure.call("GET", f"/api/v1/namespaces/{ns}/secrets/db", cert=secure.alice)
    assert response.status_code == 403
    status = response.json()
    assert status["reason"] == "Forbidden" and status["code"] == 403
    assert status["message"] == (f'secrets "db" is forbidden: User "alice" cannot get resource "secrets" in API '
                                 f'group "" in the namespace "{ns}"')
    assert status["details"] == {"name": "db", "kind": "secrets"}


def test_a_kubelet_may_write_its_own_node_only(secure: Secure, version: str) -> None:
    for name in ("n1", "n2"):
        response = secure.call("POST", "/api/v1/nodes", cert=secure.admin, body={"metadata": {"name": name}})
        assert response.status_code in (201, 409), response.text
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
    own = secure.call("PATCH", "/api/v1/nodes/n1/status", cert=secure.node1, body=ready,
                      content_type="application/merge-patch+json")
    assert own.status_code == 200, own.text
    other = secure.call("PATCH", "/api/v1/nodes/n2/status", cert=secure.node1, body=ready,
                        content_type="application/merge-patch+json")
    assert other.status_code == 403
    assert other.json()["message"] == 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'

    node = kubectl_as(secure, version, "node-n1", cert=secure.node1)
    assert "node/n1 labeled" in node("label", "node", "n1", f"seen-by-{version.replace('.', '')}=yes", "--overwrite")
    refused = node.run("label", "node", "n2", "seen=yes", "--overwrite")
    assert 'Error from server (Forbidden): nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"' \
        in refused.stderr
    assert "n1" in node("get", "nodes")  # reading nodes is part of a kubelet's job

    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {"holderIdentity": "n1"}}
    leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    created = secure.call("POST", leases, cert=secure.node1, body={**lease, "metadata": {"name": "n1"}})
    assert created.status_code in (201, 409), created.text
    stolen = secure.call("POST", leases, cert=secure.node1, body={**lease, "metadata": {"name": "n2"}})
    assert stolen.status_code == 403
    assert "can only access node lease with the same name as the requesting node" in stolen.json()["message"]


def test_kubectl_auth_can_i_for_three_identities(secure: Secure, version: str) -> None:
    admin = kubectl_as(secure, version, "admin", cert=secure.admin)
    alice = kubectl_as(secure, version, "alice", cert=secure.alice)
    node = kubectl_as(secure, version, "node-n1", cert=secure.node1)
    ns = make_namespace(secure)
    grant_pod_reader(admin, ns)

    def answer(user: Kubectl, *args: str) -> str:
        result = user.run("auth", "can-i", *args)
        assert result.returncode in (0, 1), result.stderr  # kubectl exits 1 for "no"
        return result.stdout.strip()

    assert answer(admin, "delete", "nodes") == "yes"
    assert answer(admin, "create", "clusterroles") == "yes"
    def alice_may_list_pods() -> None:
        assert answer(alice, "list", "pods", "-n", ns) == "yes"

    eventually(alice_may_list_pods)
    assert answer(alice, "get", "pods", "-n", "default") == "no"
    assert answer(alice, "list", "secrets", "-n", ns) == "no"
    assert answer(alice, "delete", "pods", "-n", ns) == "no"
    assert answer(node, "get", "pods") == "yes"
    assert answer(node, "update", "nodes/n1") == "yes"
    assert answer(node, "update", "nodes/n2").startswith("no")
    assert answer(node, "create", "secrets", "-n", ns) == "no - can only read resources of this type"


def test_service_account_token_works_with_the_python_client(secure: Secure) -> None:
    admin = kubectl_as(secure, "1.32", "admin", cert=secure.admin)
    ns = make_namespace(secure)
    admin("create", "serviceaccount", "robot", "-n", ns)
    admin("create", "rolebinding", "robot-view", "--clusterrole=view", f"--serviceaccount={ns}:robot", "-n", ns)
    admin("create", "configmap", "settings", "--from-literal=colour=blue", "-n", ns)
    token = admin("create", "token", "robot", "-n", ns, "--duration=15m").strip()
    assert token.count(".") == 2

    cfg = client.Configuration()
    cfg.host = secure.url
    cfg.ssl_ca_cert = str(secure.ca.cert)
    cfg.api_key = {"authorization": token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    with client.ApiClient(cfg) as api:
        core = client.CoreV1Api(api)
        maps = eventually(lambda: core.list_namespaced_config_map(ns))
        assert [m.metadata.name for m in maps.items] == ["settings"]
        with pytest.raises(ApiException) as refused:
            core.list_namespaced_secret(ns)
        assert refused.value.status == 403
        assert (f'User \\"system:serviceaccount:{ns}:robot\\" cannot list resource \\"secrets\\"'
                in refused.value.body or f'User "system:serviceaccount:{ns}:robot"' in refused.value.body)
        review = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
        assert review.status.user_info.username == f"system:serviceaccount:{ns}:robot"
        assert set(review.status.user_info.groups) == {"system:serviceaccounts", f"system:serviceaccounts:{ns}",
                                                       "system:authenticated"}

    # The token dies with its service account.
    admin("delete", "serviceaccount", "robot", "-n", ns)
    eventually(lambda: assert_unauthorized(secure.call("GET", f"/api/v1/namespaces/{ns}/configmaps", token=token)))


def test_a_kubelet_gets_tokens_and_secrets_only_for_its_own_pods(secure: Secure) -> None:
    from kubeling.api.resources import lookup
    from kubeling.client import errors
    from kubeling.client.api import Client
    from kubeling.client.config import ClientConfig

    ns = make_namespace(secure)
    for kind, body in (("serviceaccounts", {"metadata": {"name": "app"}}),
                       ("serviceaccounts", {"metadata": {"name": "other"}}),
                       ("secrets", {"metadata": {"name": "mounted"}, "stringData": {"k": "v"}}),
                       ("secrets", {"metadata": {"name": "unrelated"}, "stringData": {"k": "v"}}),
                       ("pods", {"metadata": {"name": "p1"}, "spec": {
                           "nodeName": "n1", "serviceAccountName": "app",
                           "volumes": [{"name": "s", "secret": {"secretName": "mounted"}}],
                           "containers": [{"name": "c", "image": "busybox"}]}})):
        created = secure.call("POST", f"/api/v1/namespaces/{ns}/{kind}", cert=secure.admin, body=body)
        assert created.status_code == 201, created.text

    kubelet = Client(ClientConfig(server=secure.url, client_cert=str(secure.node1.cert),
                                  client_key=str(secure.node1.key), ca_file=str(secure.ca.cert)), retries=0)
    pod = kubelet.get(lookup("", "pods"), "p1", ns)
    request = kubelet.create_token(ns, "app", pod=pod, expiration_seconds=600)
    assert request["kind"] == "TokenRequest" and request["status"]["token"].count(".") == 2
    with pytest.raises(errors.Forbidden) as refused:
        kubelet.create_token(ns, "other")
    assert "no relationship found between node 'n1' and this object" in str(refused.value)
    assert kubelet.get(lookup("", "secrets"), "mounted", ns)["data"] == {"k": "dg=="}
    with pytest.raises(errors.Forbidden):
        kubelet.get(lookup("", "secrets"), "unrelated", ns)
    with pytest.raises(errors.Forbidden):
        kubelet.list(lookup("", "secrets"), ns)  # a kubelet never lists secrets

    # The bound token names the pod, and stops working once the pod is gone.
    review = secure.call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", token=request["status"]["token"],
                         body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert review.status_code == 201, review.text
    assert review.json()["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"] == ["p1"]
    assert secure.call("DELETE", f"/api/v1/namespaces/{ns}/pods/p1?gracePeriodSeconds=0",
                       cert=secure.admin).status_code == 200
    deleted = secure.call("DELETE", f"/api/v1/namespaces/{ns}/pods/p1?gracePeriodSeconds=0", cert=secure.node1)
    assert deleted.status_code in (200, 404)
    eventually(lambda: assert_unauthorized(secure.call("GET", "/api", token=request["status"]["token"])))


def test_the_client_checks_the_servers_certificate(secure: Secure) -> None:
    from kubeling.api.resources import lookup
    from kubeling.client import errors
    from kubeling.client.api import Client
    from kubeling.client.config import ClientConfig

    namespaces = lookup("", "namespaces")
    mine = dict(client_cert=str(secure.admin.cert), client_key=str(secure.admin.key))
    trusting = Client(ClientConfig(server=secure.url, ca_file=str(secure.ca.cert), **mine), retries=0)
    assert trusting.get(namespaces, "default")["metadata"]["name"] == "default"
    # A server whose certificate the wrong CA would have to vouch for is never talked to.
    wary = Client(ClientConfig(server=secure.url, ca_file=str(secure.other_ca.cert), **mine), retries=0)
    with pytest.raises(errors.Unavailable) as refused:
        wary.get(namespaces, "default")
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    # Without a client certificate the server answers, and says who we are not.
    anonymous = Client(ClientConfig(server=secure.url, ca_file=str(secure.ca.cert)), retries=0)
    with pytest.raises(errors.ApiError) as unauthorized:
        anonymous.get(namespaces, "default")
    assert unauthorized.value.status == 401


def test_token_request_validation(secure: Secure) -> None:
    ns = make_namespace(secure)
    assert secure.call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", cert=secure.admin,
                       body={"metadata": {"name": "short"}}).status_code == 201
    response = secure.call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/short/token", cert=secure.admin,
                           body={"spec": {"expirationSeconds": 60}})
    assert response.status_code == 422
    assert "may not specify a duration less than 10 minutes" in response.json()["message"]
    missing = secure.call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/nobody/token", cert=secure.admin,
                          body={"spec": {}})
    assert missing.status_code == 404


# Other hops


def test_etcd_refuses_clients_without_a_certificate(secure: Secure) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(secure.etcd_url + "/health", verify=str(secure.ca.cert), timeout=5)
    with pytest.raises(requests.exceptions.SSLError):
        secure.etcd_get("/health", cert=secure.stranger)
    assert secure.etcd_get("/health").status_code == 200


class FakeKubelet:
    """The kubelet's HTTPS log endpoint, answering only callers with a certificate from the cluster CA."""

    def __init__(self, secure: Secure) -> None:
        import http.server
        import ssl
        import threading

        callers: list[str] = []
        self.callers = callers

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                subject = dict(x[0] for x in self.connection.getpeercert()["subject"])
                callers.append(subject["commonName"])
                body = f"log of {self.path}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(secure.ca.cert))
        context.verify_mode = ssl.CERT_REQUIRED  # the kubelet refuses callers without the API server's certificate
        context.load_cert_chain(str(secure.kubelet_serving.cert), str(secure.kubelet_serving.key))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_pod_logs_reach_the_kubelet_over_tls_with_the_apiserver_certificate(secure: Secure) -> None:
    kubelet = FakeKubelet(secure)
    try:
        node = unique("logs-node")
        created = secure.call("POST", "/api/v1/nodes", cert=secure.admin, body={"metadata": {"name": node}})
        assert created.status_code == 201, created.text
        status = {"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                             "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}}
        assert secure.call("PATCH", f"/api/v1/nodes/{node}/status", cert=secure.admin, body=status,
                           content_type="application/merge-patch+json").status_code == 200
        ns = make_namespace(secure)
        # No controller-manager here to make the namespace's default ServiceAccount, which a pod needs.
        assert secure.call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", cert=secure.admin,
                           body={"metadata": {"name": "default"}}).status_code == 201
        pod = {"metadata": {"name": "web"}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]}}
        assert secure.call("POST", f"/api/v1/namespaces/{ns}/pods", cert=secure.admin, body=pod).status_code == 201
        logs = secure.call("GET", f"/api/v1/namespaces/{ns}/pods/web/log", cert=secure.admin)
        assert (logs.status_code, logs.text) == (200, f"log of /containerLogs/{ns}/web/c\n")
        assert kubelet.callers == ["kube-apiserver-kubelet-client"]
        # Without the API server's certificate the kubelet lets nobody in.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"https://127.0.0.1:{kubelet.port}/containerLogs/{ns}/web/c", verify=str(secure.ca.cert),
                         timeout=5)
        # And reading logs is an RBAC permission like any other: pods/log.
        denied = secure.call("GET", f"/api/v1/namespaces/{ns}/pods/web/log", cert=secure.alice)
        assert denied.status_code == 403
        assert 'cannot get resource "pods/log" in API group ""' in denied.json()["message"]
    finally:
        kubelet.stop()


def test_secrets_never_reach_the_log(secure: Secure) -> None:
    ns = make_namespace(secure)
    created = secure.call("POST", f"/api/v1/namespaces/{ns}/secrets", token=ADMIN_TOKEN,
                          body={"metadata": {"name": "api-key"}, "stringData": {"key": SECRET_VALUE}})
    assert created.status_code == 201, created.text
    assert "stringData" not in created.json()  # merged into data, as upstream
    bad = secure.call("POST", f"/api/v1/namespaces/{ns}/secrets", token=ADMIN_TOKEN,
                      body={"metadata": {"name": "broken"}, "data": {"key": SECRET_VALUE + "!"}})
    assert bad.status_code == 422
    assert SECRET_VALUE not in bad.text
    log = secure.apiserver_log()
    assert f"/api/v1/namespaces/{ns}/secrets 201" in log  # --v 2: one line per request, method, path and status
    for secret in (SECRET_VALUE, ADMIN_TOKEN, BOB_TOKEN):
        assert secret not in log
