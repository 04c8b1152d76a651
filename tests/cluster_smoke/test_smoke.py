"""What a user does first with a new cluster, with the real kubectl over TLS: the tests run in file order and
share one namespace (and one Deployment) made for this run."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import Cluster, eventually, stretched

WEB_V1, WEB_V2 = "kubeling/web:1", "kubeling/web:2"
CLIENT_IMAGE = "kubeling/busybox:1"
NAMESPACE = f"smoke-{uuid.uuid4().hex[:6]}"
# Pods leave a node that stops answering after this long (instead of the default 300 s); stretched on slow nodes,
# whose heartbeats can come late without anything being wrong.
EVICT_AFTER = round(stretched(5))


def web_deployment(replicas: int, image: str = WEB_V1) -> dict[str, Any]:
    tolerations = [{"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": EVICT_AFTER} for taint in ("not-ready", "unreachable")]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "tolerations": tolerations,
                    "containers": [{
                        "name": "web", "image": image, "ports": [{"containerPort": 80}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 2,
                                           "timeoutSeconds": max(1, round(stretched(1)))},
                    }],
                },
            },
        },
    }


def client_pod(name: str, url: str, node: str | None = None) -> dict[str, Any]:
    """A pod that fetches `url` (retrying a little) and then idles, so `kubectl logs` shows the answer."""
    # `timeout 3 wget`, not `wget -T 3`: busybox 1.35's wget -T crashes (SIGSEGV) on this kernel.
    script = (f'for i in $(seq 30); do if timeout 3 wget -qO- "{url}"; then break; fi; sleep 1; done; '
              "echo fetched; sleep 3600")
    spec: dict[str, Any] = {"containers": [{"name": "client", "image": CLIENT_IMAGE, "command": ["sh", "-c", script]}],
                            "terminationGracePeriodSeconds": 1}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def web_pods(cluster: Cluster) -> list[dict[str, Any]]:
    pods = cluster.json("get", "pods", "-n", NAMESPACE, "-l", "app=web")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def wait_rollout(cluster: Cluster, replicas: int, timeout: float = 180) -> None:
    def done() -> bool:
        status = cluster.json("get", "deployment", "web", "-n", NAMESPACE)["status"]
        return (status.get("updatedReplicas") == replicas and status.get("readyReplicas") == replicas
                and status.get("replicas") == replicas)

    eventually(done, f"deployment web with {replicas} ready, updated replicas", timeout=timeout)


def service_in(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.json("get", "service", name, "-n", namespace)


def service(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.json("get", "service", name, "-n", NAMESPACE)


def node_ips(cluster: Cluster) -> dict[str, str]:
    nodes = cluster.json("get", "nodes")["items"]
    return {n["metadata"]["name"]: next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
            for n in nodes}


def fetch_on_node(cluster: Cluster, node: str, url: str) -> str:
    """GET `url` from the node's own network namespace ("" on failure). Python rather than `busybox wget -T`,
    which crashes (SIGSEGV) in the node image's busybox-static 1.35."""
    script = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"
    result = cluster.on_node(node, "python3", "-c", script, url)
    return result.stdout.strip() if result.returncode == 0 else ""


def logs(cluster: Cluster, pod: str) -> str:
    return cluster.kubectl("logs", pod, "-n", NAMESPACE, check=False).stdout


@pytest.fixture(scope="module", autouse=True)
def namespace(cluster: Cluster):
    cluster.kubectl("create", "namespace", NAMESPACE)
    yield NAMESPACE
    cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_every_worker_is_a_ready_node(cluster: Cluster) -> None:
    table = cluster.kubectl("get", "nodes").stdout
    rows = {line.split()[0]: line.split()[1] for line in table.splitlines()[1:]}
    assert {w: rows.get(w) for w in cluster.workers} == {w: "Ready" for w in cluster.workers}, table


def test_the_live_view_is_served_through_the_service_proxy(cluster: Cluster) -> None:
    """The dashboard role's page, reached as docs/architecture.md tells users to (the proxy path kubectl proxy uses)."""
    path = "/api/v1/namespaces/kube-system/services/https:kubeling-dashboard:https/proxy/"
    page = cluster.kubectl("get", "--raw", path).stdout
    assert "kubeling live view" in page
    assert "function informer" in cluster.kubectl("get", "--raw", path + "app.js").stdout


def test_deployment_rolls_out_on_both_workers(cluster: Cluster) -> None:
    cluster.apply(web_deployment(4))
    result = cluster.kubectl("rollout", "status", "deployment/web", "-n", NAMESPACE,
                             f"--timeout={stretched(180):.0f}s", timeout=200)
    assert "successfully rolled out" in result.stdout
    wait_rollout(cluster, 4)
    pods = web_pods(cluster)
    # On failure, say why a worker got none: each node's taints and Ready condition, and the scheduler's record of
    # its decision for one pod (its filter and score annotations).
    nodes = cluster.kubectl("get", "nodes", "-o", "custom-columns=NAME:.metadata.name,TAINTS:.spec.taints,"
                            "READY:.status.conditions[?(@.type=='Ready')].status", check=False).stdout
    assert {p["spec"]["nodeName"] for p in pods} == set(cluster.workers), (
        f"{nodes}\n{pods[0]['metadata'].get('annotations') if pods else ''}")


def test_kubectl_scale_up_and_down(cluster: Cluster) -> None:
    cluster.kubectl("scale", "deployment/web", "-n", NAMESPACE, "--replicas=6")
    wait_rollout(cluster, 6)
    cluster.kubectl("scale", "deployment/web", "-n", NAMESPACE, "--replicas=2")
    wait_rollout(cluster, 2)
    eventually(lambda: len(web_pods(cluster)) == 2, "two web pods left after scaling down")
    cluster.kubectl("scale", "deployment/web", "-n", NAMESPACE, "--replicas=4")
    wait_rollout(cluster, 4)


def test_cluster_ip_answers_from_every_node(cluster: Cluster) -> None:
    cluster.kubectl("expose", "deployment/web", "-n", NAMESPACE, "--name=web", "--port=80")
    ip = service(cluster, "web")["spec"]["clusterIP"]
    for node in cluster.workers:
        answer = eventually(lambda node=node: fetch_on_node(cluster, node, f"http://{ip}/"),
                            f"http://{ip}/ from {node}", timeout=60)
        assert answer == "kubeling web v1"


def test_cluster_ip_answers_from_a_pod_and_kubectl_logs_shows_it(cluster: Cluster) -> None:
    ip = service(cluster, "web")["spec"]["clusterIP"]
    cluster.apply(client_pod("client", f"http://{ip}/"))
    text = eventually(lambda: "fetched" in logs(cluster, "client") and logs(cluster, "client"),
                      "the client pod's logs")
    assert text.splitlines()[0] == "kubeling web v1", text


def test_cluster_dns_answers_pods_on_every_worker(cluster: Cluster) -> None:
    """Through the kube-dns Service's address (kube-proxy to the `kubeling dns` daemons): a Service by its short
    name and its FQDN, the DNS schema version, a missing name, and a name outside the cluster; then `wget` by
    short name."""
    dns = service_in(cluster, "kube-system", "kube-dns")
    script = ("head -1 /etc/resolv.conf; "
              # busybox's nslookup asks A and AAAA: it prints "Name:" for the A answer.
              f"nslookup web.{NAMESPACE}.svc.cluster.local | grep -q ^Name: && echo fqdn-ok; "
              "nslookup -type=TXT dns-version.cluster.local | grep -q 1.1.0 && echo version-ok; "
              f"nslookup nothing-here.{NAMESPACE}.svc.cluster.local 2>&1 | grep -q NXDOMAIN && echo missing-ok; "
              "for i in $(seq 30); do if timeout 3 wget -qO- http://web/; then break; fi; sleep 1; done; "
              "echo fetched; sleep 3600")
    for node in cluster.workers:
        name = f"dns-{node}"
        cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
                       "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                                "containers": [{"name": "c", "image": CLIENT_IMAGE, "command": ["sh", "-c", script]}]}})
    for node in cluster.workers:
        name = f"dns-{node}"
        text = eventually(lambda name=name: "fetched" in logs(cluster, name) and logs(cluster, name),
                          f"{name}'s logs")
        lines = text.splitlines()
        assert lines[0] == f"nameserver {dns['spec']['clusterIP']}", text
        assert {"fqdn-ok", "version-ok", "missing-ok", "kubeling web v1"} <= set(lines), f"{node}: {text}"


def test_kubectl_exec_runs_in_the_pod_and_returns_its_exit_code(cluster: Cluster) -> None:
    result = cluster.kubectl("exec", "-i", "client", "-n", NAMESPACE, "--", "sh", "-c",
                             "read x; echo got $x; echo oops >&2; exit 3", input="hello\n", check=False)
    assert (result.returncode, result.stdout) == (3, "got hello\n"), result.stderr
    assert "oops" in result.stderr


def test_kubectl_cp_copies_both_ways(cluster: Cluster, tmp_path: Path) -> None:
    payload = os.urandom(1024 * 1024)
    (tmp_path / "up.bin").write_bytes(payload)
    cluster.kubectl("cp", str(tmp_path / "up.bin"), f"{NAMESPACE}/client:/tmp/up.bin")
    remote = cluster.kubectl("exec", "client", "-n", NAMESPACE, "--", "sha256sum", "/tmp/up.bin").stdout
    assert remote.split()[0] == hashlib.sha256(payload).hexdigest()
    cluster.kubectl("cp", f"{NAMESPACE}/client:/tmp/up.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == payload


def test_kubectl_port_forward_reaches_a_web_pod(cluster: Cluster) -> None:
    with cluster.port_forward("deploy/web", "-n", NAMESPACE, ":80") as local_port:
        text = eventually(lambda: requests.get(f"http://127.0.0.1:{local_port}/", timeout=5).text.strip(),
                          "an answer through port-forward", timeout=30)
    assert text == "kubeling web v1"


def test_node_port_answers_on_both_workers(cluster: Cluster) -> None:
    cluster.kubectl("expose", "deployment/web", "-n", NAMESPACE, "--name=web-nodeport", "--port=80",
                    "--type=NodePort")
    port = service(cluster, "web-nodeport")["spec"]["ports"][0]["nodePort"]
    ips = node_ips(cluster)
    for node in cluster.workers:
        url = f"http://{ips[node]}:{port}/"

        def fetch(url: str = url) -> str:
            try:
                return requests.get(url, timeout=3).text.strip()
            except requests.RequestException:
                return ""

        assert eventually(fetch, url, timeout=60) == "kubeling web v1"


def test_pod_to_pod_across_nodes(cluster: Cluster) -> None:
    pods = web_pods(cluster)
    for source in cluster.workers:
        target = next(p for p in pods if p["spec"]["nodeName"] != source and ready(p))
        name = f"p2p-{source}"
        cluster.apply(client_pod(name, f"http://{target['status']['podIP']}/", node=source))
        text = eventually(lambda name=name: "fetched" in logs(cluster, name) and logs(cluster, name),
                          f"{name}'s logs")
        assert text.splitlines()[0] == "kubeling web v1", f"{source} → {target['spec']['nodeName']}: {text}"


def test_rolling_update_to_a_new_image(cluster: Cluster) -> None:
    cluster.kubectl("set", "image", "deployment/web", "-n", NAMESPACE, f"web={WEB_V2}")
    result = cluster.kubectl("rollout", "status", "deployment/web", "-n", NAMESPACE,
                             f"--timeout={stretched(180):.0f}s", timeout=200)
    assert "successfully rolled out" in result.stdout
    wait_rollout(cluster, 4)
    assert {c["image"] for p in web_pods(cluster) for c in p["spec"]["containers"]} == {WEB_V2}
    ip = service(cluster, "web")["spec"]["clusterIP"]
    node = cluster.workers[0]
    answers = eventually(
        lambda: {fetch_on_node(cluster, node, f"http://{ip}/") for _ in range(4)} == {"kubeling web v2"},
        "the Service answering only with v2", timeout=60)
    assert answers


def listeners(cluster: Cluster, node: str) -> list[tuple[str, str, int, str]]:
    """(tcp|udp, address, port, process) of every listening TCP and bound UDP socket in the node's own network
    namespace (`ss -ltnpu`)."""
    result = cluster.on_node(node, "ss", "-Hltnpu")
    assert result.returncode == 0, result.stderr
    found = []
    for line in result.stdout.splitlines():
        fields = line.split()
        address, _, port = fields[4].rpartition(":")
        found.append((fields[0], address.strip("[]").split("%")[0], int(port), " ".join(fields[6:])))
    return found


def speaks_tls(host: str, port: int) -> bool:
    """Whether the port answers a TLS handshake: completing it, or refusing us with a TLS alert (etcd wants a
    client certificate we don't send). A plain-text server breaks the handshake with a non-TLS reply instead."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=5) as raw, context.wrap_socket(raw) as tls:
            return tls.version() is not None
    except ssl.SSLError as exc:
        return "ALERT" in (exc.reason or "").upper()
    except OSError:
        return False


def answer_to_plain_http(host: str, port: int) -> bytes:
    """The first bytes a plain-text HTTP request gets back (b"" when the server hangs up or stays silent)."""
    answer = b""
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        try:
            while len(answer) < 256 and (chunk := conn.recv(256)):
                answer += chunk
        except OSError:  # reset or timed out: no answer
            pass
    return answer


def is_loopback(host: str) -> bool:
    return host.startswith("127.") or host == "::1"


DNS_PORTS = {("udp", 53), ("tcp", 53), ("tcp", 9153)}  # kubeling dns on the workers (the cluster_dns role)


def test_nothing_but_tls_answers_off_loopback(cluster: Cluster) -> None:
    """A port scan of every node: each TCP port listening off loopback, connected to from here (outside the node),
    completes a TLS handshake and answers a plain-text HTTP request with nothing, or a TLS record, never plain
    text; no UDP socket is bound off loopback. Plain-HTTP health endpoints exist only on loopback.

    The one exception is the cluster's DNS on the workers: like every DNS server it answers plain DNS (53/UDP,
    53/TCP), and like CoreDNS it serves its metrics on 9153; the kube-dns Service sends pods there."""
    for node in cluster.running_nodes:
        route = cluster.on_node(node, "ip", "-4", "-o", "route", "get", "192.0.2.1").stdout.split()
        own = route[route.index("src") + 1]  # the address of the default route's interface
        dns = DNS_PORTS if node in cluster.workers else set()
        sockets = [s for s in listeners(cluster, node) if (s[0], s[2]) not in dns]
        exposed = sorted({(own if host in ("0.0.0.0", "*", "::") else host, port, process)
                          for proto, host, port, process in sockets if proto == "tcp" and not is_loopback(host)})
        assert exposed, f"{node}: nothing listens off loopback: {sockets}"
        # VMs get their management address by DHCP: the client's port 68 only takes the server's replies.
        udp = [(host, port, process) for proto, host, port, process in sockets
               if proto == "udp" and not is_loopback(host) and not (port == 68 and "dhclient" in process)]
        assert not udp, f"{node}: UDP sockets off loopback: {udp}"
        # Machines reached over SSH (not containers) run sshd on the port Ansible uses: SSH, not plain text.
        ssh = None if cluster._is_docker(node) else int(cluster.hostvars[node].get("ansible_port", 22))
        plain = [f"{host}:{port} {process}" for host, port, process in exposed
                 if port != ssh and not speaks_tls(host, port)]
        assert not plain, f"{node}: {plain} answer without TLS (listening: {exposed})"
        for host, port, process in exposed:
            answer = answer_to_plain_http(host, port)
            if port == ssh:
                assert answer.startswith(b"SSH-2.0-"), f"{node}: {host}:{port} ({process}) is not SSH: {answer!r}"
                continue
            assert not answer or answer[0] in (0x15, 0x16), \
                f"{node}: {host}:{port} ({process}) answers plain HTTP with plain text: {answer!r}"


def test_pods_come_back_on_the_other_worker_when_one_stops(cluster: Cluster) -> None:
    victim, survivor = cluster.workers[-1], cluster.workers[0]
    cluster.stop_node(victim)
    try:
        def moved() -> bool:
            pods = web_pods(cluster)
            return len(pods) == 4 and all(p["spec"]["nodeName"] == survivor and ready(p) for p in pods)

        eventually(moved, f"all 4 web pods Ready on {survivor} after {victim} stopped", timeout=240, interval=2)
        status = json.loads(cluster.kubectl("get", "node", victim, "-o", "json").stdout)["status"]
        assert any(c["type"] == "Ready" and c["status"] != "True" for c in status["conditions"])
    finally:
        cluster.start_node(victim)
        eventually(lambda: cluster.kubectl("get", "node", victim, "--no-headers").stdout.split()[1] == "Ready",
                   f"{victim} Ready again", timeout=240, interval=2)
