"""The host-gw pod network's pure part: Nodes in, routes and NAT rules out."""

from __future__ import annotations

from kubeling.network import hostgw
from support.builders import node


def test_a_route_to_every_other_node_with_a_pod_cidr_and_an_address():
    nodes = [node("a", pod_cidr="10.244.0.0/24", ip="172.30.0.2"), node("b", pod_cidr="10.244.1.0/24", ip="172.30.0.3"),
             node("c", ip="172.30.0.4"), node("d", pod_cidr="10.244.3.0/24")]
    assert hostgw.desired_routes(nodes, "a") == {"10.244.1.0/24": "172.30.0.3"}


def test_route_changes_replace_moved_routes_and_delete_those_of_gone_nodes():
    current = {"10.244.1.0/24": "172.30.0.3", "10.244.2.0/24": "172.30.0.9", "10.244.7.0/24": "172.30.0.7"}
    wanted = {"10.244.1.0/24": "172.30.0.3", "10.244.2.0/24": "172.30.0.4", "10.244.3.0/24": "172.30.0.5"}
    replace, delete = hostgw.route_changes(current, wanted)
    assert replace == [["ip", "route", "replace", "10.244.2.0/24", "via", "172.30.0.4", "proto", "77"],
                       ["ip", "route", "replace", "10.244.3.0/24", "via", "172.30.0.5", "proto", "77"]]
    assert delete == [["ip", "route", "del", "10.244.7.0/24", "proto", "77"]]


def test_parse_routes_reads_ip_route_output():
    out = "10.244.1.0/24 via 172.30.0.3 dev eth0 \n10.244.2.0/24 via 172.30.0.4 dev eth0 onlink\n"
    assert hostgw.parse_routes(out) == {"10.244.1.0/24": "172.30.0.3", "10.244.2.0/24": "172.30.0.4"}


def test_pods_are_masqueraded_only_when_leaving_the_cluster_cidr():
    text = hostgw.iptables_rules("10.244.0.0/16", "10.244.1.0/24")
    lines = [line for line in text.splitlines() if line.startswith("-A KUBELING-POSTROUTING")]
    assert "-j RETURN" in lines[0] and "0x4000" in lines[0]
    assert "-s 10.244.0.0/16 -d 10.244.0.0/16" in lines[1] and lines[1].endswith("-j ACCEPT")
    assert "-s 10.244.1.0/24 ! -d 10.244.0.0/16" in lines[2] and lines[2].endswith("-j MASQUERADE")
    assert "-A KUBELING-FORWARD -d 10.244.0.0/16" in text and "-A KUBELING-FORWARD -s 10.244.0.0/16" in text
    assert "MASQUERADE" not in hostgw.iptables_rules("10.244.0.0/16", None)
