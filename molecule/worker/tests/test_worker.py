"""The worker and pod_network roles: kubelet, proxy and network under systemd, the node Ready."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")

UNITS = ("kubeling-kubelet", "kubeling-proxy", "kubeling-network")


def test_daemons_are_running_and_enabled(host):
    for unit in UNITS:
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit
    assert host.service("docker").is_running


def test_kubeling_is_one_whole_installation_linked_into_place(host):
    venv = host.file("/opt/kubeling/venv")
    assert venv.is_symlink and venv.linked_to.startswith("/opt/kubeling/venv-"), venv.linked_to
    # Exactly the wheelhouse's wheels, unpacked (roles/common/library/node_venv.py): no pip, kubeling runs.
    assert not host.file(f"{venv.linked_to}/bin/pip").exists
    version = host.run("kubeling --version")
    assert version.rc == 0 and version.stdout.startswith("kubeling 0.1.0"), version.stderr
    assert host.file("/opt/kubeling/installed").content_string.strip() == host.run(
        "sha256sum /opt/kubeling/wheelhouse.tar").stdout.split()[0]


def test_ports(host):
    assert host.socket("tcp://0.0.0.0:10250").is_listening  # the kubelet API, TLS
    for port in (10248, 10256, 10266):  # health endpoints: loopback only
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening, port


def test_files_and_modes(host):
    for name in ("kubelet.conf", "proxy.conf"):
        assert host.file(f"/etc/kubeling/{name}").mode == 0o600, name
    for key in ("kubelet.key", "kubelet-client.key", "proxy.key"):
        assert host.file(f"/etc/kubeling/pki/{key}").mode == 0o600, key


def test_healthz(host):
    for port in (10248, 10256, 10266):
        result = host.run(f"python3 -c 'import urllib.request; print(urllib.request.urlopen("
                          f"\"http://127.0.0.1:{port}/healthz\", timeout=5).read().decode())'")
        assert result.rc == 0 and result.stdout.strip() == "ok", (port, result.stderr)


def test_the_node_is_ready(host):
    name = host.backend.get_hostname()
    result = host.run(f"kubectl get node {name} --no-headers")
    assert result.rc == 0, result.stderr
    assert result.stdout.split()[1] == "Ready"
