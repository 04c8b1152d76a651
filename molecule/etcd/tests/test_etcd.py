"""The etcd role: Debian's etcd running with our settings, TLS required for clients."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")

PKI = "/etc/kubeling/pki/etcd"
ETCDCTL = f"ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert={PKI}/ca.crt"


def test_etcd_is_running_and_enabled(host):
    etcd = host.service("etcd")
    assert etcd.is_running
    assert etcd.is_enabled


def test_etcd_listens_for_clients_and_peers(host):
    assert host.socket("tcp://127.0.0.1:2379").is_listening
    assert any(s.endswith(":2380") for s in host.socket.get_listening_sockets())


def test_keys_are_private_and_data_dir_belongs_to_etcd(host):
    key = host.file(f"{PKI}/server.key")
    assert (key.mode, key.user, key.group) == (0o640, "root", "etcd")
    data = host.file("/var/lib/etcd/kubeling")
    assert (data.is_directory, data.mode, data.user) == (True, 0o700, "etcd")
    assert host.file("/etc/kubeling/etcd.env").mode == 0o644


def test_health_with_a_client_certificate(host):
    result = host.run(f"{ETCDCTL} --cert={PKI}/peer.crt --key={PKI}/peer.key endpoint health")
    assert result.rc == 0, result.stderr
    assert "is healthy" in result.stdout + result.stderr


def test_a_client_without_a_certificate_is_refused(host):
    result = host.run(f"{ETCDCTL} --command-timeout=3s get /registry --prefix --keys-only")
    assert result.rc != 0
