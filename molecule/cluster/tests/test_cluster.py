"""A whole cluster from playbooks/site.yml: every node's daemons up, both workers Ready."""

import os

import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("all")

UNITS = {
    "etcd": ["etcd"],
    "masters": ["kubeling-apiserver", "kubeling-scheduler", "kubeling-controller-manager"],
    "workers": ["kubeling-kubelet", "kubeling-proxy", "kubeling-network", "kubeling-dns", "kubeling-dashboard"],
}


def groups_of(host):
    name = host.backend.get_hostname()
    return [group for group in UNITS if name in RUNNER.get_hosts(group)]


def test_units_are_running_and_enabled(host):
    for group in groups_of(host):
        for unit in UNITS[group]:
            service = host.service(unit)
            assert service.is_running, unit
            assert service.is_enabled, unit


def test_workers_are_ready(host):
    if "masters" not in groups_of(host):
        return
    result = host.run("kubectl get nodes --no-headers")
    assert result.rc == 0, result.stderr
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert rows == {name: "Ready" for name in RUNNER.get_hosts("workers")}


def test_the_kube_dns_service_answers_through_the_proxy(host):
    """From a worker: the kube-dns Service's address, through kube-proxy to a `kubeling dns` daemon."""
    if "workers" not in groups_of(host):
        return
    address = host.run("grep -o 'cluster-dns=[0-9.]*' /etc/kubeling/kubelet.env").stdout.strip().split("=")[1]
    result = host.run(f"busybox nslookup -type=TXT dns-version.cluster.local {address}")
    assert result.rc == 0 and "1.1.0" in result.stdout, result.stdout + result.stderr
