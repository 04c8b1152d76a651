"""Two real nodes: systemd containers running Docker, `kubeling kubelet`, `kubeling proxy` and `kubeling network`.

The control plane (etcd, API server, controller-manager with the endpoint and nodeipam controllers) runs on the
host, on 127.0.0.1 only. Nodes reach it through tests/support/relay.py: a UNIX socket on the host, bind-mounted
into each node, where a second relay listens on 127.0.0.1:8080. Kubeling itself is the repository bind-mounted
read-only, run by a venv made inside each node from a wheelhouse the host fills from PyPI (cached in .cache/).

Traffic goes only to the node containers and the pods inside them, all made by this test.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import pytest
import requests

from cluster import ROOT, APIServer, Component
from support.relay import Relay

pytestmark = pytest.mark.e2e

NODE_IMAGE = "kubeling/node:debian12"
POD_IMAGES = ["kubeling/busybox:1", "kubeling/pause:1"]
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"  # the API server's default --service-cluster-ip-range
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
# Packages the node agents import beyond pyproject's dependencies (the kubelet drives Docker through `docker`).
EXTRA_WHEELS = ["docker"]
# The flags a node container needs (see docs/networking.md: `--privileged` is refused on the test machine).
NODE_FLAGS = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
    # /proc/sys is read-only inside: set what Docker, the network and the proxy need at creation time.
    "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "net.ipv4.conf.all.route_localnet=1",
    "--stop-signal", "SIGRTMIN+3",
]
PY = "/opt/kubeling/bin/python"
API = "http://127.0.0.1:8080"
DEADLINE = 90.0  # seconds for any one thing to converge


def sh(*args: str, input: bytes | None = None, check: bool = True, timeout: float = 120) -> str:
    result = subprocess.run(list(args), input=input, capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.decode()[-2000:]}")
    return result.stdout.decode()


def eventually(check, what: str, timeout: float = DEADLINE, interval: float = 0.2):
    """Call `check` until it returns something truthy; bounded in time."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, requests.RequestException, subprocess.TimeoutExpired) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


def wheelhouse() -> Path:
    """Wheels for every runtime dependency, for Debian's python3 in the nodes (offline once filled)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    deps += [d for d in EXTRA_WHEELS if not any(x.startswith(d) for x in deps)]
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(WHEELHOUSE)]
    offline = subprocess.run([*pip, "--no-index", "--find-links", str(WHEELHOUSE), *deps], capture_output=True)
    if offline.returncode != 0:
        sh(*pip, *deps, timeout=300)
    return WHEELHOUSE


class Node:
    def __init__(self, name: str, network: str, api_dir: Path, wheels: Path) -> None:
        self.name = name
        sh("docker", "run", "-d", "--name", name, "--hostname", name, "--network", network, *NODE_FLAGS,
           "-v", f"{ROOT}:/kubeling/src:ro", "-v", f"{wheels}:/kubeling/wheels:ro", "-v", f"{api_dir}:/kubeling/api",
           "--label", "io.kubeling.test=two-nodes", NODE_IMAGE)
        self.ip = json.loads(sh("docker", "inspect", name))[0]["NetworkSettings"]["Networks"][network]["IPAddress"]

    def exec(self, *cmd: str, input: bytes | None = None, check: bool = True, timeout: float = 60) -> str:
        return sh("docker", "exec", *(["-i"] if input else []), self.name, *cmd, input=input, check=check,
                  timeout=timeout)

    def unit(self, name: str, *cmd: str) -> None:
        """A transient systemd service: systemd supervises it and journald keeps its logs."""
        self.exec("systemd-run", f"--unit={name}", "--collect", "--setenv=PYTHONPATH=/kubeling/src/agents",
                  "--setenv=PYTHONDONTWRITEBYTECODE=1", *cmd)

    def setup(self) -> None:
        # Guard: Service traffic that no proxy rule rewrote must not leave for the real network (the node's
        # default route leads out of this machine). Filter OUTPUT/FORWARD see packets after the proxy's DNAT.
        for chain in ("OUTPUT", "FORWARD"):
            self.exec("iptables", "-I", chain, "-d", SERVICE_CIDR, "-j", "REJECT")
        eventually(lambda: self.exec("docker", "version", "--format", "{{.Server.Version}}", timeout=10).strip(),
                   f"{self.name}: dockerd answers", timeout=60)
        images = subprocess.run(["docker", "save", *POD_IMAGES], capture_output=True, check=True).stdout
        self.exec("docker", "load", "-q", input=images)
        self.exec("python3", "-m", "venv", "/opt/kubeling")
        self.exec("/opt/kubeling/bin/pip", "install", "-q", "--no-index", "--find-links", "/kubeling/wheels",
                  *[p.name.split("-")[0] for p in Path(WHEELHOUSE).glob("*.whl")], timeout=180)
        self.unit("kubeling-relay", "python3", "/kubeling/src/tests/support/relay.py", "--listen",
                  "tcp:127.0.0.1:8080", "--connect", "unix:/kubeling/api/api.sock", "--lifetime", "1200")
        self.unit("kubeling-kubelet", PY, "-m", "kubeling", "kubelet", "--master", API,
                  f"--hostname-override={self.name}", f"--node-ip={self.ip}",
                  # `kubeling network` masquerades pod egress (and knows the cluster CIDR): the kubelet needn't.
                  "--non-masquerade-cidr=")
        self.unit("kubeling-network", PY, "-m", "kubeling", "network", "--master", API,
                  f"--hostname-override={self.name}", f"--cluster-cidr={CLUSTER_CIDR}")
        self.unit("kubeling-proxy", PY, "-m", "kubeling", "proxy", "--master", API,
                  f"--hostname-override={self.name}", f"--cluster-cidr={CLUSTER_CIDR}")

    def logs(self) -> str:
        units = ("kubeling-relay", "kubeling-kubelet", "kubeling-network", "kubeling-proxy")
        out = [f"===== {self.name}"]
        for unit in units:
            out.append(f"--- {unit}\n" + self.exec("journalctl", "-u", unit, "--no-pager", "-n", "60", check=False))
        return "\n".join(out)

    def get(self, host: str, port: int, count: int = 1) -> list[str]:
        """GET / `count` times from the node's own network namespace; the bodies, "" for a failure."""
        return [a.strip() for a in self.exec("sh", "-c", _get_script("busybox nc", host, port, count),
                                             timeout=10 + 4 * count).split("#")[:-1]]

    def pod_get(self, pod: str, host: str, port: int, count: int = 1) -> list[str]:
        """The same from inside a pod's container (found by the kubelet's labels)."""
        cid = self.exec("docker", "ps", "-q", "--filter", f"label=io.kubernetes.pod.name={pod}",
                        "--filter", "label=io.kubernetes.container.name=web").split()[0]
        return [a.strip() for a in self.exec("docker", "exec", cid, "sh", "-c", _get_script("nc", host, port, count),
                                             timeout=10 + 4 * count).split("#")[:-1]]


def _get_script(nc: str, host: str, port: int, count: int) -> str:
    # nc, not wget: busybox-static's wget crashes after connecting on this Debian build. The body is one line.
    return (f'for i in $(seq {count}); do printf "GET / HTTP/1.0\\r\\n\\r\\n" | {nc} -w 3 {host} {port} '
            f'| tail -n 1; echo "#"; done')


@pytest.fixture(scope="module")
def nodes(etcd, tmp_path_factory):
    info = subprocess.run(["docker", "info"], capture_output=True)
    assert info.returncode == 0, f"Docker is not running (scripts/ensure-docker.sh): {info.stderr.decode()}"
    sh("bash", str(ROOT / "images/node/build.sh"), timeout=900)
    if (ROOT / "scripts/build-images.sh").exists():
        sh("bash", str(ROOT / "scripts/build-images.sh"), timeout=300)
    wheels = wheelhouse()

    uid = uuid.uuid4().hex[:6]
    workdir = tmp_path_factory.mktemp("two-nodes")
    api_dir = workdir / "api"
    api_dir.mkdir()
    server = APIServer(etcd.url, workdir, prefix=f"/two-nodes-{uid}").start()
    cleanup = [server.stop]
    network = f"kl-{uid}"
    made: list[Node] = []
    try:
        manager = Component("controller-manager", server.url, workdir,
                            ["--controllers=endpoint,endpointslice,nodeipam", "--leader-elect=false",
                             f"--cluster-cidr={CLUSTER_CIDR}"]).start()
        cleanup.append(manager.stop)
        relay = Relay(f"unix:{api_dir}/api.sock", f"tcp:127.0.0.1:{server.port}", lifetime=1200).start()
        cleanup.append(relay.stop)
        sh("docker", "network", "create", "--label", "io.kubeling.test=two-nodes", network)
        cleanup.append(lambda: sh("docker", "network", "rm", network, check=False))
        for suffix in ("a", "b"):
            made.append(Node(f"kl-{uid}-{suffix}", network, api_dir, wheels))
            cleanup.append(lambda n=made[-1].name: sh("docker", "rm", "-f", "-v", n, check=False, timeout=60))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(Node.setup, made))

        def ready() -> bool:
            items = requests.get(f"{server.url}/api/v1/nodes", timeout=5).json()["items"]
            ok = {n["metadata"]["name"] for n in items if n.get("spec", {}).get("podCIDR") and any(
                c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))}
            return ok >= {n.name for n in made}

        try:
            eventually(ready, "both nodes Ready with a podCIDR")
        except AssertionError:
            print("\n".join(n.logs() for n in made))
            raise
        yield server, made
        time.sleep(float(os.environ.get("KUBELING_DEBUG_PAUSE", "0")))  # keep the nodes up to look around
        print("\n".join(n.logs() for n in made))  # shown by pytest only when a test failed
        print("--- controller-manager\n" + "\n".join(manager.logs().splitlines()[-40:]))
    finally:
        for step in reversed(cleanup):
            with contextlib.suppress(Exception):
                step()


def create(server: APIServer, path: str, body: dict) -> dict:
    response = requests.post(f"{server.url}{path}", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def web_pod(name: str, node: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {
            "nodeName": node, "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "web", "image": "kubeling/busybox:1", "imagePullPolicy": "Never",
                "command": ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
            }],
        },
    }


def test_services_and_pod_network_across_two_nodes(nodes):
    server, (a, b) = nodes
    ns = f"two-{uuid.uuid4().hex[:6]}"
    create(server, "/api/v1/namespaces", {"metadata": {"name": ns}})
    for name, node in (("web-a", a), ("web-b", b)):
        create(server, f"/api/v1/namespaces/{ns}/pods", web_pod(name, node.name))
    service = create(server, f"/api/v1/namespaces/{ns}/services", {
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
    })
    cluster_ip, node_port = service["spec"]["clusterIP"], service["spec"]["ports"][0]["nodePort"]

    def pod_ips() -> dict[str, str] | None:
        items = requests.get(f"{server.url}/api/v1/namespaces/{ns}/pods", timeout=5).json()["items"]
        ips = {p["metadata"]["name"]: p["status"].get("podIP") for p in items}
        return ips if len(ips) == 2 and all(ips.values()) else None

    ips = eventually(pod_ips, "both pods have an IP")
    pod_cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"]
                 for n in requests.get(f"{server.url}/api/v1/nodes", timeout=5).json()["items"]}
    for pod, node in (("web-a", a), ("web-b", b)):
        prefix = pod_cidrs[node.name].rsplit(".", 1)[0] + "."
        assert ips[pod].startswith(prefix), f"{pod} {ips[pod]} is not in {node.name}'s {pod_cidrs[node.name]}"

    def endpoints_ready() -> bool:
        eps = requests.get(f"{server.url}/api/v1/namespaces/{ns}/endpoints/web", timeout=5)
        addresses = [x["ip"] for s in (eps.json().get("subsets") or []) for x in s.get("addresses") or []]
        return eps.status_code == 200 and sorted(addresses) == sorted(ips.values())

    try:
        eventually(endpoints_ready, "the endpoint controller lists both pods")
    except AssertionError:
        for path in ("pods", "endpoints/web"):
            print(requests.get(f"{server.url}/api/v1/namespaces/{ns}/{path}", timeout=5).text)
        raise
    endpoints_seen = time.monotonic()
    both = {"web-a", "web-b"}

    # Both proxies program the two endpoints promptly (min sync period 1 s; docker exec polling adds a little).
    def programmed(node: Node) -> bool:
        save = node.exec("iptables-save", "-t", "nat")
        return len(re.findall(rf'--comment "?{ns}/web:http"? .*-j DNAT', save)) == 2

    for node in (a, b):
        eventually(lambda n=node: programmed(n), f"{node.name}: rules for both endpoints", timeout=30)
    assert time.monotonic() - endpoints_seen < 5

    # A pod on node A reaches a pod on node B by its IP (and back): host-gw routes, no NAT between pods.
    assert a.pod_get("web-a", ips["web-b"], 8080) == ["web-b"]
    assert b.pod_get("web-b", ips["web-a"], 8080) == ["web-a"]

    # The ClusterIP and the NodePort (on either node's address, and on 127.0.0.1) answer from both nodes,
    # spread over both endpoints: 20 random picks all landing on one of two is a 1-in-500,000 event.
    for node in (a, b):
        assert set(node.get(cluster_ip, 80, 20)) == both
        for address in (a.ip, b.ip, "127.0.0.1"):
            assert set(node.get(address, node_port, 20)) == both, f"{node.name} → {address}:{node_port}"

    # From inside pods, through the ClusterIP; each pod also reaches itself (hairpin: masquerade + hairpin mode).
    for node, pod in ((a, "web-a"), (b, "web-b")):
        assert set(node.pod_get(pod, cluster_ip, 80, 20)) == both

    # Deleting the Service removes its rules on every node.
    response = requests.delete(f"{server.url}/api/v1/namespaces/{ns}/services/web", timeout=10)
    assert response.status_code == 200, response.text

    def rules_gone(node: Node) -> bool:
        save = node.exec("iptables-save")
        return f"{ns}/web" not in save and not re.search(rf"-d {re.escape(cluster_ip)}/32", save)

    for node in (a, b):
        eventually(lambda n=node: rules_gone(n), f"{node.name}: rules of {ns}/web removed", timeout=15)
        save = node.exec("iptables-save", "-t", "nat")
        assert ":KUBE-SERVICES" in save and ":KUBE-POSTROUTING" in save  # our other chains stay
    for node in (a, b):
        assert set(node.get(cluster_ip, 80, 1)) == {""}


def test_routes_follow_the_nodes(nodes):
    """Each node routes the other's pod CIDR via its address; a new Node gets a route, a deleted one loses it."""
    server, (a, b) = nodes
    cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"]
             for n in requests.get(f"{server.url}/api/v1/nodes", timeout=5).json()["items"]}
    for here, there in ((a, b), (b, a)):
        routes = here.exec("ip", "-4", "route", "show", "proto", "77")
        assert f"{cidrs[there.name]} via {there.ip}" in routes, routes
        nat = here.exec("iptables", "-t", "nat", "-S", "KUBELING-POSTROUTING")
        assert f"-s {cidrs[here.name]} ! -d {CLUSTER_CIDR}" in nat and "MASQUERADE" in nat

    # A Node object only (no machine behind it, so no packet is ever sent): an address on the nodes' segment.
    ghost_ip = a.ip.rsplit(".", 1)[0] + ".250"
    ghost = f"ghost-{uuid.uuid4().hex[:6]}"
    create(server, "/api/v1/nodes", {"metadata": {"name": ghost}, "spec": {"podCIDR": "10.244.250.0/24"},
                                     "status": {"addresses": [{"type": "InternalIP", "address": ghost_ip}]}})
    try:
        for node in (a, b):
            eventually(lambda n=node: f"10.244.250.0/24 via {ghost_ip}" in n.exec("ip", "route", "show", "proto", "77"),
                       f"{node.name}: route to {ghost}", timeout=15)
    finally:
        requests.delete(f"{server.url}/api/v1/nodes/{ghost}", timeout=10)
    for node in (a, b):
        eventually(lambda n=node: "10.244.250.0/24" not in n.exec("ip", "route", "show", "proto", "77"),
                   f"{node.name}: route to deleted {ghost} removed", timeout=15)
