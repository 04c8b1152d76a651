"""`make up PROVIDER=docker` end to end: four systemd containers provisioned by the playbooks, the smoke suite over
TLS (tests/cluster_smoke, which also scans every node's open ports), then the idempotence of site.yml (changed=0
and not one certificate touched), Secrets encrypted at rest and the day-2 playbooks (rotate-encryption-key,
etcd-backup and etcd-restore, scale, remove-node, upgrade, rotate-certs, reset, site again). Timings go to
artifacts/provisioning-timings.json (docs/benchmarks.md quotes them).
Part of `make test`; `make test-provisioning` runs it with tests/e2e/test_molecule.py alone.

One long test on purpose: every step needs the cluster the previous one left. It replaces any Docker cluster
`make up PROVIDER=docker` made before (`make down` first), and removes it at the end.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml
from cryptography import x509

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = Path(sys.executable).parent / "ansible-playbook"
KUBECONFIG = ROOT / "artifacts" / "admin.conf"
LOG = ROOT / "artifacts" / "provisioning-test.log"
TIMINGS = ROOT / "artifacts" / "provisioning-timings.json"
EXTRA_WORKER = "worker-3"
NODES = ("etcd-1", "master-1", "worker-1", "worker-2")
# What runs where: etcd on its node, the control plane on the master, Docker and the node agents on each worker.
UNITS = {"etcd-1": ["etcd"],
         "master-1": ["kubeling-apiserver", "kubeling-scheduler", "kubeling-controller-manager"],
         "worker-1": ["docker", "kubeling-kubelet", "kubeling-proxy", "kubeling-network", "kubeling-dns",
                      "kubeling-dashboard"],
         "worker-2": ["docker", "kubeling-kubelet", "kubeling-proxy", "kubeling-network", "kubeling-dns",
                      "kubeling-dashboard"]}
# Where certificates live: every node's /etc/kubeling (pki/, the kubeconfigs, the bundle they came in) and, on the
# controller, artifacts/pki and artifacts/admin.conf.
NODE_PKI_DIRS = ("/etc/kubeling",)
PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s+(.+?)\s+-----END CERTIFICATE-----", re.S)
KUBECONFIG_CERT = re.compile(rb"^\s*(?:client-certificate|certificate-authority)-data:\s*(\S+)", re.M)
# Prints every file under the given directories, base64-encoded, as JSON {path: data} (runs on a node).
READ_FILES = ("import base64, json, os, sys\n"
              "out = {}\n"
              "for top in sys.argv[1:]:\n"
              "    for d, _, names in os.walk(top):\n"
              "        for n in names:\n"
              "            p = os.path.join(d, n)\n"
              "            with open(p, 'rb') as f: out[p] = base64.b64encode(f.read()).decode()\n"
              "print(json.dumps(out))\n")

pytestmark = pytest.mark.e2e


def run(*argv: str, timeout: float, env: dict[str, str] | None = None) -> tuple[str, float]:
    """Run a command from the repository root, logging its output; (output, seconds). Fails with the tail."""
    began = time.monotonic()
    result = subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    took = time.monotonic() - began
    output = result.stdout + result.stderr
    with LOG.open("a") as log:
        log.write(f"\n===== {' '.join(argv)} ({took:.0f}s, exit {result.returncode})\n{output}")
    assert result.returncode == 0, f"{' '.join(argv)} failed ({result.returncode}):\n{output[-6000:]}"
    return output, took


def playbook(name: str, *args: str, timeout: float = 600) -> tuple[str, float]:
    return run(str(ANSIBLE), "-i", "inventory/docker", *args, f"playbooks/{name}", timeout=timeout)


def changed_counts(output: str) -> dict[str, int]:
    """PLAY RECAP: host → changed."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def kubectl(*args: str, timeout: float = 30, input: str | None = None) -> str:
    result = subprocess.run(["/usr/bin/kubectl", f"--kubeconfig={KUBECONFIG}", *args], capture_output=True,
                            text=True, timeout=timeout, input=input)
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def node_exec(node: str, *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", f"kubeling-{node}", *cmd], capture_output=True, text=True, timeout=60)


def certificates_in(files: dict[str, bytes]) -> dict[str, x509.Certificate]:
    """Every X.509 certificate in these files (PEM blocks, also inside tars, and kubeconfigs' *-data fields), by
    "path#index"."""
    found: dict[str, x509.Certificate] = {}
    for path, data in sorted(files.items()):
        ders = [base64.b64decode(b"".join(body.split())) for body in PEM_CERT.findall(data)]
        for field in KUBECONFIG_CERT.findall(data):
            ders += [base64.b64decode(b"".join(body.split())) for body in PEM_CERT.findall(base64.b64decode(field))]
        for index, der in enumerate(ders):
            found[f"{path}#{index}"] = x509.load_der_x509_certificate(der)
    return found


def all_certificates() -> dict[str, x509.Certificate]:
    """Every certificate on every node of the cluster and in the controller's artifacts, by "node:path#index"."""
    found: dict[str, x509.Certificate] = {}
    for node in NODES:
        result = node_exec(node, "python3", "-c", READ_FILES, *NODE_PKI_DIRS)
        assert result.returncode == 0, f"{node}: {result.stderr}"
        files = {path: base64.b64decode(data) for path, data in json.loads(result.stdout).items()}
        found.update({f"{node}:{key}": cert for key, cert in certificates_in(files).items()})
    local = {str(p): p.read_bytes() for p in (ROOT / "artifacts" / "pki").rglob("*") if p.is_file()}
    local[str(KUBECONFIG)] = KUBECONFIG.read_bytes()
    found.update({f"controller:{key}": cert for key, cert in certificates_in(local).items()})
    return found


def fingerprints(certs: dict[str, x509.Certificate]) -> dict[str, tuple[str, int]]:
    return {key: (cert.fingerprint(cert.signature_hash_algorithm).hex(), cert.serial_number)
            for key, cert in certs.items()}


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


# Cluster DNS on the workers (the cluster_dns role) is plain DNS on 53 and plain metrics on 9153, as CoreDNS's: no
# certificate to compare (the smoke suite's port scan knows the same exception).
PLAIN_PORTS = {"53", "9153"}


def served_certificates() -> dict[str, str]:
    """SHA-256 fingerprint of the certificate each TLS port open off loopback presents (etcd, API server,
    kubelets), as a client on the controller sees it: "node address:port" → fingerprint."""
    served = {}
    for node in NODES:
        address = node_exec(node, "sh", "-c", "ip -4 -o route get 192.0.2.1").stdout.split()
        address = address[address.index("src") + 1]
        listening = node_exec(node, "ss", "-Hltn").stdout.split("\n")[:-1]
        for line in listening:
            host, _, port = line.split()[3].rpartition(":")
            if host.startswith("127.") or host in ("[::1]", "::1") or port in PLAIN_PORTS:
                continue
            target = f"{address}:{port}"
            shown = subprocess.run(["openssl", "s_client", "-connect", target, "-servername", node],
                                   input="", capture_output=True, text=True, timeout=30).stdout
            pem = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", shown, re.S)
            assert pem, f"{node} {target}: no certificate presented:\n{shown[-2000:]}"
            cert = x509.load_pem_x509_certificate(pem.group(0).encode())
            served[f"{node} {target}"] = cert.fingerprint(cert.signature_hash_algorithm).hex()
    return served


def running_units() -> dict[str, list[str]]:
    """node → its units from UNITS that systemd reports active and enabled."""
    running = {}
    for node, units in UNITS.items():
        script = 'for u; do echo "$u $(systemctl is-active "$u") $(systemctl is-enabled "$u" 2>/dev/null)"; done'
        lines = node_exec(node, "sh", "-c", script, "sh", *units).stdout.splitlines()
        running[node] = [line.split()[0] for line in lines if line.split()[1:] == ["active", "enabled"]]
    return running


def ready_nodes() -> set[str]:
    items = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    return {n["metadata"]["name"] for n in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}


def leftovers(node: str) -> list[str]:
    """What reset.yml must have removed: our units, directories, chains and routes."""
    script = ("ls -d /etc/kubeling /opt/kubeling /var/lib/kubeling /var/lib/etcd/kubeling* "
              "/etc/systemd/system/kubeling-* /etc/systemd/system/etcd.service.d/kubeling.conf 2>/dev/null; "
              "iptables-save | grep -E '^:(KUBE|KUBELING)-' ; ip -4 route show proto 77")
    return node_exec(node, "sh", "-c", script).stdout.split("\n")[:-1]


ETCD_DATA_DIR = "/var/lib/etcd/kubeling"
ETCDCTL = ["env", "ETCDCTL_API=3", "etcdctl", "--endpoints=https://127.0.0.1:2379",
           "--cacert=/etc/kubeling/pki/etcd/ca.crt", "--cert=/etc/kubeling/pki/etcd/peer.crt",
           "--key=/etc/kubeling/pki/etcd/peer.key"]


def in_etcd_files(text: str) -> list[str]:
    """The files of etcd's data directory on the etcd node that hold `text` (grep on the raw bytes)."""
    result = node_exec("etcd-1", "grep", "--recursive", "--files-with-matches", "--binary-files=text",
                       "--fixed-strings", text, ETCD_DATA_DIR)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.split()


def stored_secrets() -> dict[str, bytes]:
    """Every Secret's raw value in etcd, by key, as etcdctl on the etcd node reads it."""
    result = node_exec("etcd-1", *ETCDCTL, "get", "/registry/secrets/", "--prefix", "--write-out=json")
    assert result.returncode == 0, result.stderr
    kvs = json.loads(result.stdout).get("kvs", [])
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]) for kv in kvs}


def writing_key() -> str:
    """The name of the key the API servers encrypt with (the first one in the controller's configuration)."""
    config = yaml.safe_load((ROOT / "artifacts" / "pki" / "encryption-config.yaml").read_text())
    return config["resources"][0]["providers"][0]["aescbc"]["keys"][0]["name"]


def check_secrets_at_rest(tmp_path: Path, timings: dict[str, float]) -> None:
    """A Secret's value and its base64 form are nowhere in etcd's files, kubectl still reads it, and the key
    rotation playbook leaves every Secret encrypted with the new key."""
    name, value, plain = f"at-rest-{uuid.uuid4().hex[:6]}", f"secret-{uuid.uuid4().hex}", f"plain-{uuid.uuid4().hex}"
    kubectl("create", "secret", "generic", name, "--from-literal", f"password={value}")
    kubectl("create", "configmap", name, "--from-literal", f"note={plain}")
    # The ConfigMap is not encrypted: its value in etcd's files shows that grep would find the Secret's too.
    assert in_etcd_files(plain), "the ConfigMap's value should be readable in etcd's files"
    shown = kubectl("get", "secret", name, "-o", "jsonpath={.data.password}")
    assert base64.b64decode(shown).decode() == value
    for form in (value, shown):
        assert in_etcd_files(form) == [], f"{form!r} is in etcd's files"
    first = writing_key()
    assert all(v.startswith(f"k8s:enc:aescbc:v1:{first}:".encode()) for v in stored_secrets().values())

    _, timings["rotate-encryption-key.yml"] = playbook("rotate-encryption-key.yml", timeout=900)
    second = writing_key()
    assert second != first
    stored = stored_secrets()
    assert stored and all(v.startswith(f"k8s:enc:aescbc:v1:{second}:".encode()) for v in stored.values()), \
        {k: v[:40] for k, v in stored.items()}
    assert first not in (ROOT / "artifacts" / "pki" / "encryption-config.yaml").read_text()  # the old key is gone
    assert base64.b64decode(kubectl("get", "secret", name, "-o", "jsonpath={.data.password}")).decode() == value


def playbook_refused(name: str, *args: str) -> str:
    """Run a playbook that must fail; its output."""
    result = subprocess.run([str(ANSIBLE), "-i", "inventory/docker", *args, f"playbooks/{name}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    with LOG.open("a") as log:
        log.write(f"\n===== {name} {' '.join(args)} (expected to fail, exit {result.returncode})\n"
                  f"{result.stdout}{result.stderr}")
    assert result.returncode != 0, f"{name} {args} should have failed:\n{result.stdout[-3000:]}"
    return result.stdout + result.stderr


def check_backup_and_restore(tmp_path: Path, timings: dict[str, float]) -> None:
    """etcd-backup, then a namespace full of objects is deleted, then etcd-restore: everything is back and its
    pods run. A truncated snapshot is refused before anything stops."""
    namespace = f"backup-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    kubectl("create", "deployment", "web", "-n", namespace, "--image=kubeling/web:1", "--replicas=2")
    kubectl("create", "configmap", "settings", "-n", namespace, "--from-literal", "mode=fast")
    kubectl("create", "secret", "generic", "creds", "-n", namespace, "--from-literal", "token=t0ken")
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=180s", timeout=190)

    backups = ROOT / "artifacts" / "etcd-backups"
    before = set(backups.glob("*.db")) if backups.is_dir() else set()
    output, timings["etcd-backup.yml"] = playbook("etcd-backup.yml")
    (snapshot,) = set(backups.glob("etcd-snapshot-*.db")) - before
    assert str(snapshot) in output

    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(snapshot.read_bytes()[: snapshot.stat().st_size // 2])
    refused = playbook_refused("etcd-restore.yml", "-e", f"snapshot={truncated}")
    assert "Nothing was stopped or changed" in refused and "truncated" in refused, refused[-3000:]
    assert node_exec("master-1", "systemctl", "is-active", "kubeling-apiserver").stdout.strip() == "active"
    assert node_exec("etcd-1", "systemctl", "is-active", "etcd").stdout.strip() == "active"
    assert namespace in kubectl("get", "namespaces", "-o", "name")

    kubectl("delete", "namespace", namespace, "--timeout=180s", timeout=190)
    assert namespace not in kubectl("get", "namespaces", "-o", "name")

    _, timings["etcd-restore.yml"] = playbook("etcd-restore.yml", "-e", f"snapshot={snapshot}", timeout=900)
    assert f"namespace/{namespace}" in kubectl("get", "namespaces", "-o", "name")
    assert kubectl("get", "configmap", "settings", "-n", namespace, "-o", "jsonpath={.data.mode}") == "fast"
    token = kubectl("get", "secret", "creds", "-n", namespace, "-o", "jsonpath={.data.token}")
    assert base64.b64decode(token) == b"t0ken"
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=180s", timeout=190)
    # Running for real: each pod answers an exec (its containers exist again on a worker).
    pods = kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "name").split()
    assert len(pods) == 2, pods
    for pod in pods:
        deadline = time.monotonic() + 180
        while True:
            done = subprocess.run(["/usr/bin/kubectl", f"--kubeconfig={KUBECONFIG}", "exec", "-n", namespace,
                                   pod, "--", "echo", "alive"], capture_output=True, text=True, timeout=60)
            if done.returncode == 0 and done.stdout.strip() == "alive":
                break
            assert time.monotonic() < deadline, f"{pod} does not run after the restore: {done.stderr}"
            time.sleep(3)
    assert ready_nodes() == {"worker-1", "worker-2"}


class AvailabilityWatch:
    """Polls a Deployment's availableReplicas in the background; `.lowest` is the least value seen."""

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name, self.lowest, self.samples = namespace, name, None, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                status = json.loads(kubectl("get", "deployment", self.name, "-n", self.namespace, "-o", "json",
                                            timeout=10))["status"]
            except (AssertionError, subprocess.TimeoutExpired, ValueError):
                continue  # the API server restarts during an upgrade: not the Deployment's availability
            available = status.get("availableReplicas", 0)
            self.lowest = available if self.lowest is None else min(self.lowest, available)
            self.samples += 1

    def __enter__(self) -> AvailabilityWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def test_make_up_docker_then_day_two_playbooks(tmp_path: Path) -> None:
    LOG.parent.mkdir(exist_ok=True)
    LOG.write_text("")
    timings: dict[str, float] = {}
    run("make", "down", "PROVIDER=docker", timeout=300)
    try:
        output, timings["make up (to all nodes Ready)"] = run("make", "up", "PROVIDER=docker", timeout=1200)
        assert "kubectl --kubeconfig artifacts/admin.conf get nodes" in output
        # ... and how to open the live view (docs/architecture.md): kubectl proxy, then the service proxy's path.
        assert "artifacts/admin.conf proxy" in output
        assert "/api/v1/namespaces/kube-system/services/https:kubeling-dashboard:https/proxy/" in output
        assert ready_nodes() == {"worker-1", "worker-2"}
        assert running_units() == UNITS

        # TLS only: the admin kubeconfig names an https server and authenticates with a client certificate (no
        # token, no password), and so does every kubeconfig and flags file on the nodes.
        admin = KUBECONFIG.read_text()
        servers = re.findall(r"^\s*server: (\S+)", admin, re.M)
        assert servers and all(url.startswith("https://") for url in servers), servers
        assert re.search(r"^\s*client-certificate-data: \S+", admin, re.M)
        assert re.search(r"^\s*client-key-data: \S+", admin, re.M)
        assert not re.search(r"^\s*(token|username|password|insecure-skip-tls-verify):", admin, re.M), admin
        for node in NODES:
            configs = node_exec(node, "sh", "-c", "cat /etc/kubeling/*.conf /etc/kubeling/*.env").stdout
            assert configs and "http://" not in configs, f"{node} uses plain HTTP:\n{configs}"
            servers = re.findall(r"^\s*server: (\S+)", configs, re.M)
            assert all(url.startswith("https://") for url in servers), f"{node}: {servers}"

        _, timings["smoke suite"] = run(sys.executable, "-m", "pytest", "tests/cluster_smoke", "-q", "-x",
                                        "-p", "no:cacheprovider", timeout=900,
                                        env={"KUBELING_SMOKE_KUBECONFIG": str(KUBECONFIG)})

        certs = fingerprints(all_certificates())
        served = served_certificates()
        output, timings["site.yml again (idempotent)"] = playbook("site.yml")
        changed = changed_counts(output)
        assert set(NODES) <= set(changed), changed
        assert all(count == 0 for count in changed.values()), f"second run changed: {changed}"
        # Not one certificate (or serial) changed anywhere, and the daemons still serve the same ones.
        assert fingerprints(all_certificates()) == certs
        assert served_certificates() == served

        check_secrets_at_rest(tmp_path, timings)
        check_backup_and_restore(tmp_path, timings)

        # scale.yml: one more worker, in an inventory of its own beside inventory/docker.
        run("scripts/docker-cluster.sh", "start", EXTRA_WORKER, timeout=120)
        extra = tmp_path / "extra.yml"
        extra.write_text(json.dumps({"nodes": {
            "vars": {"ansible_connection": "docker", "ansible_python_interpreter": "/usr/bin/python3"},
            "children": {"workers": {"hosts": {EXTRA_WORKER: {"ansible_host": f"kubeling-{EXTRA_WORKER}"}}}}}}))
        _, timings["scale.yml (one worker)"] = playbook("scale.yml", "-i", str(extra), "--limit", EXTRA_WORKER)
        assert EXTRA_WORKER in ready_nodes()
        _, timings["remove-node.yml"] = playbook("remove-node.yml", "-i", str(extra), "-e", f"node={EXTRA_WORKER}")
        assert EXTRA_WORKER not in kubectl("get", "nodes", "-o", "name")
        assert leftovers(EXTRA_WORKER) == []
        run("docker", "rm", "-f", "-v", f"kubeling-{EXTRA_WORKER}", timeout=120)

        # upgrade.yml: a new wheel, node by node, while a Deployment keeps all its pods available.
        namespace = f"upgrade-{uuid.uuid4().hex[:6]}"
        kubectl("create", "namespace", namespace)
        kubectl("create", "deployment", "web", "-n", namespace, "--image=kubeling/web:1", "--replicas=2")
        kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s", timeout=130)
        # `kubectl why` on the master as an administrator logged in there runs it: the plugin the control_plane role
        # links onto the PATH, reading root's ~/.kube/config (the admin kubeconfig, roles/kubeconfig).
        why = node_exec("master-1", "kubectl", "why", "deploy/web", "-n", namespace)
        assert why.returncode == 0, why.stderr
        assert why.stdout.startswith(f"deployment/web in namespace {namespace}: 2/2 ready"), why.stdout
        label = f"up{uuid.uuid4().hex[:6]}"
        with AvailabilityWatch(namespace, "web") as watch:
            _, timings["upgrade.yml (new wheel, serial)"] = playbook(
                "upgrade.yml", "-e", f"common_kubeling_local_version={label}", timeout=900)
        assert watch.samples > 10 and watch.lowest == 2, f"available replicas fell to {watch.lowest}"
        for node in NODES:
            shown = node_exec(node, "/opt/kubeling/venv/bin/python", "-c",
                              "import importlib.metadata as m; print('Version:', m.version('kubeling'))").stdout
            assert f"Version: 0.1.0+{label}" in shown, f"{node}: {shown}"

        # rotate-certs.yml: every leaf certificate renewed (files on every node and the controller, and what each
        # TLS port serves), the CAs kept; the Deployment stays available throughout, the nodes Ready after, and
        # the cluster answers with the new admin.conf.
        before = all_certificates()
        served = served_certificates()
        with AvailabilityWatch(namespace, "web") as watch:
            _, timings["rotate-certs.yml"] = playbook("rotate-certs.yml", timeout=900)
        assert watch.samples > 10 and watch.lowest == 2, f"available replicas fell to {watch.lowest} in rotation"
        after = all_certificates()
        assert set(after) == set(before)
        cas = {key for key, cert in before.items() if is_ca(cert)}
        assert cas and len(cas) < len(before)
        assert {key: fingerprints(after)[key] for key in cas} == {key: fingerprints(before)[key] for key in cas}
        old, new = fingerprints(before), fingerprints(after)
        unchanged = [key for key in set(before) - cas if old[key][0] == new[key][0] or old[key][1] == new[key][1]]
        assert not unchanged, f"not renewed: {unchanged}"
        renewed = served_certificates()
        assert set(renewed) == set(served)
        assert not [port for port in served if served[port] == renewed[port]], (served, renewed)
        assert ready_nodes() == {"worker-1", "worker-2"}
        kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s", timeout=70)

        _, timings["reset.yml"] = playbook("reset.yml")
        for node in NODES:
            assert leftovers(node) == [], f"{node} still has: {leftovers(node)}"

        _, timings["site.yml after reset"] = playbook("site.yml")
        assert ready_nodes() == {"worker-1", "worker-2"}
    finally:
        TIMINGS.write_text(json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=2) + "\n")
        subprocess.run(["make", "down", "PROVIDER=docker"], cwd=ROOT, capture_output=True, timeout=300)
