"""The control_plane role: three daemons under systemd, the API server over TLS only."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")

UNITS = ("kubeling-apiserver", "kubeling-scheduler", "kubeling-controller-manager")
FETCH = ("python3 -c 'import ssl, sys, urllib.request; "
         "ctx = ssl.create_default_context(cafile=\"/etc/kubeling/pki/ca.crt\"); "
         "print(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=5).read().decode())' ")


def test_daemons_are_running_and_enabled(host):
    for unit in UNITS:
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit
        assert "Restart=always" in host.file(f"/etc/systemd/system/{unit}.service").content_string


def test_ports(host):
    assert host.socket("tcp://0.0.0.0:6443").is_listening
    # Health endpoints of the scheduler and controller-manager: loopback only.
    assert host.socket("tcp://127.0.0.1:10259").is_listening
    assert host.socket("tcp://127.0.0.1:10257").is_listening
    assert not host.socket("tcp://0.0.0.0:8080").is_listening


def test_files_and_modes(host):
    assert host.file("/etc/kubeling/apiserver.env").mode == 0o644
    assert "--tls-cert-file=/etc/kubeling/pki/apiserver.crt" in host.file("/etc/kubeling/apiserver.env").content_string
    assert "--encryption-provider-config=/etc/kubeling/pki/encryption-config.yaml" in host.file(
        "/etc/kubeling/apiserver.env").content_string
    for key in ("apiserver.key", "sa.key", "admin.key", "encryption-config.yaml"):
        assert host.file(f"/etc/kubeling/pki/{key}").mode == 0o600, key
    assert host.file("/etc/kubeling/scheduler.conf").mode == 0o600


def test_healthz_answers_over_tls(host):
    result = host.run(FETCH + "https://127.0.0.1:6443/healthz")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_kubectl_on_the_master_uses_the_admin_kubeconfig(host):
    result = host.run("kubectl get --raw=/readyz")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_default_storage_class_exists(host):
    result = host.run("kubectl --kubeconfig=/etc/kubeling/admin.conf get storageclass local-path --no-headers")
    assert result.rc == 0, result.stderr
    assert result.stdout.split()[:4] == ["local-path", "(default)", "kubeling.io/local-path", "Delete"]
