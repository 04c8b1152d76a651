"""A pod's resolv.conf for each dnsPolicy, and its /etc/hosts, as upstream's kubelet writes them."""

from __future__ import annotations

from typing import Any

from kubeling.kubelet import dns

NODE = dns.parse_resolv_conf("# the node's\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch lab.example\n"
                             "options edns0\n")


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-0", "namespace": "shop"}, "spec": {"containers": [], **spec}}


def test_cluster_first_searches_the_namespace_then_the_cluster_then_the_node() -> None:
    config = dns.pod_resolv_conf(pod(), ["10.96.0.10"], "cluster.local", NODE)
    assert config.render() == ("nameserver 10.96.0.10\n"
                               "search shop.svc.cluster.local svc.cluster.local cluster.local lab.example\n"
                               "options ndots:5\n")


def test_default_and_host_network_pods_get_the_nodes_resolvers() -> None:
    for spec in ({"dnsPolicy": "Default"}, {"hostNetwork": True}):
        config = dns.pod_resolv_conf(pod(**spec), ["10.96.0.10"], "cluster.local", NODE)
        assert (config.nameservers, config.searches, config.options) == (
            ["192.0.2.1", "192.0.2.2"], ["lab.example"], ["edns0"])
    with_host_net = dns.pod_resolv_conf(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"),
                                        ["10.96.0.10"], "cluster.local", NODE)
    assert with_host_net.nameservers == ["10.96.0.10"]
    # No cluster DNS configured: ClusterFirst falls back to the node's (upstream: a MissingClusterDNS event).
    assert dns.pod_resolv_conf(pod(), [], "cluster.local", NODE).nameservers == ["192.0.2.1", "192.0.2.2"]


def test_none_takes_only_dns_config_and_dns_config_merges_into_the_others() -> None:
    dns_config = {"nameservers": ["1.1.1.1"], "searches": ["a.example"],
                  "options": [{"name": "ndots", "value": "2"}, {"name": "single-request"}]}
    none = dns.pod_resolv_conf(pod(dnsPolicy="None", dnsConfig=dns_config), ["10.96.0.10"], "cluster.local", NODE)
    assert none.render() == "nameserver 1.1.1.1\nsearch a.example\noptions ndots:2 single-request\n"
    merged = dns.pod_resolv_conf(pod(dnsConfig=dns_config), ["10.96.0.10"], "cluster.local", NODE)
    assert merged.nameservers == ["10.96.0.10", "1.1.1.1"]
    assert merged.searches[-1] == "a.example" and merged.options == ["ndots:2", "single-request"]


def test_hosts_file_names_the_pod_by_its_fqdn_when_it_has_a_subdomain() -> None:
    plain = dns.hosts_file(pod(), "10.244.1.5", "cluster.local")
    assert "10.244.1.5\tweb-0\n" in plain and plain.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost")
    member = dns.hosts_file(pod(hostname="web-0", subdomain="nginx",
                                hostAliases=[{"ip": "10.0.0.9", "hostnames": ["db", "db.local"]}]),
                            "10.244.1.5", "cluster.local")
    assert "10.244.1.5\tweb-0.nginx.shop.svc.cluster.local\tweb-0\n" in member
    assert member.endswith("# Entries added by HostAliases.\n10.0.0.9\tdb\tdb.local\n")
    assert dns.domain_name(pod(subdomain="nginx"), "cluster.local") == "nginx.shop.svc.cluster.local"
