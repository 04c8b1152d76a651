"""The proxy's rule generation: Services + Endpoints in, `iptables-restore` text out."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from kubeling.proxy import rules
from support import builders

CIDR = "10.244.0.0/16"


def service(name="web", ns="default", kind="ClusterIP", cluster_ip="10.96.0.10", ports=None, **spec):
    ports = ports if ports is not None else [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"type": kind, "clusterIP": cluster_ip, "ports": ports, **spec}}


def endpoints(name="web", ns="default", ips=("10.244.1.2", "10.244.2.2"), port=8080, port_name="http",
              protocol="TCP"):
    """The EndpointSlice of Service `name`, with ready endpoints at `ips`."""
    return builders.endpoint_slice(name, ns, ips=ips, ports=[{"name": port_name, "port": port, "protocol": protocol}])


def render(services, eps, **kwargs):
    kwargs.setdefault("cluster_cidr", CIDR)
    return rules.render(rules.build_state(services, eps), **kwargs)


def nat(text):
    return text.split("*nat\n", 1)[1]


def filt(text):
    return text.split("*nat\n", 1)[0]


def rules_of(text, chain):
    return [line for line in text.splitlines() if line.startswith(f"-A {chain} ")]


def svc_chain_of(text):
    found = set(re.findall(r"KUBE-SVC-[A-Z0-9]{16}", text))
    assert len(found) == 1, found
    return found.pop()


def test_cluster_ip_jumps_to_service_chain_and_splits_randomly_over_endpoints():
    text = render([service()], [endpoints(ips=("10.244.1.2", "10.244.2.2", "10.244.3.2"))])
    svc = svc_chain_of(text)
    assert (f'-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -p tcp -m tcp '
            f"-d 10.96.0.10/32 --dport 80 -j {svc}") in text
    picks = [r for r in rules_of(text, svc) if "KUBE-SEP-" in r]
    assert [re.search(r"--probability (\S+)", r).group(1) if "statistic" in r else None for r in picks] == [
        "0.3333333333", "0.5000000000", None]
    dnats = re.findall(r"DNAT --to-destination (\S+)", text)
    assert dnats == ["10.244.1.2:8080", "10.244.2.2:8080", "10.244.3.2:8080"]


def test_traffic_from_outside_the_pod_network_and_hairpin_traffic_is_masqueraded():
    text = render([service()], [endpoints(ips=("10.244.1.2",))])
    svc = svc_chain_of(text)
    assert f"! -s {CIDR} -d 10.96.0.10/32 --dport 80 -j KUBE-MARK-MASQ" in rules_of(text, svc)[0]
    sep = re.search(r"KUBE-SEP-[A-Z0-9]{16}", text).group(0)
    assert rules_of(text, sep)[0].endswith("-s 10.244.1.2/32 -j KUBE-MARK-MASQ")
    assert "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000" in text
    assert "-j MASQUERADE" in "\n".join(rules_of(text, "KUBE-POSTROUTING"))


def test_masquerade_all_marks_every_cluster_ip_packet():
    text = render([service()], [endpoints()], cluster_cidr=None, masquerade_all=True)
    assert rules_of(text, svc_chain_of(text))[0].endswith("-d 10.96.0.10/32 --dport 80 -j KUBE-MARK-MASQ")


def test_node_port_is_masqueraded_and_reached_through_local_addresses():
    svc = service(kind="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}])
    text = render([svc], [endpoints()])
    chain = svc_chain_of(text)
    assert rules_of(text, "KUBE-NODEPORTS") == [
        '-A KUBE-NODEPORTS -m comment --comment "default/web:http" -p tcp -m tcp --dport 30080 -j KUBE-MARK-MASQ',
        f'-A KUBE-NODEPORTS -m comment --comment "default/web:http" -p tcp -m tcp --dport 30080 -j {chain}',
    ]
    last = rules_of(nat(text), "KUBE-SERVICES")[-1]
    assert last.endswith("-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")


def test_udp_ports_get_udp_matches_and_distinct_chains():
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
    eps = {"metadata": {"namespace": "kube-system", "name": "dns-abc", "labels": {"kubernetes.io/service-name": "dns"}},
           "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.244.1.9"]}],
           "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"},
                     {"name": "dns-tcp", "port": 5353, "protocol": "TCP"}]}
    text = render([service("dns", "kube-system", ports=ports)], [eps])
    assert "-p udp -m udp -d 10.96.0.10/32 --dport 53 -j KUBE-SVC-" in text
    assert "-p tcp -m tcp -d 10.96.0.10/32 --dport 53 -j KUBE-SVC-" in text
    assert len(set(re.findall(r"KUBE-SVC-[A-Z0-9]{16}", text))) == 2


def test_session_affinity_checks_recent_clients_before_choosing():
    text = render([service(sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})],
                  [endpoints()])
    svc_rules = rules_of(text, svc_chain_of(text))
    recent = [r for r in svc_rules if "--rcheck" in r]
    assert len(recent) == 2 and all("--seconds 60 --reap" in r for r in recent)
    assert svc_rules.index(recent[-1]) < min(i for i, r in enumerate(svc_rules) if "statistic" in r)
    assert len(re.findall(r"-m recent --name (KUBE-SEP-\S+) --set -j DNAT", text)) == 2


def test_service_without_endpoints_is_rejected_in_the_filter_table():
    svc = service(kind="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}])
    text = render([svc], [])
    assert "KUBE-SVC-" not in text
    assert ('-A KUBE-SERVICES -m comment --comment "default/web:http has no endpoints" -p tcp -m tcp '
            "-d 10.96.0.10/32 --dport 80 -j REJECT --reject-with icmp-port-unreachable") in filt(text)
    assert "--dst-type LOCAL -p tcp -m tcp --dport 30080 -j REJECT" in filt(text)


def test_endpoints_match_service_ports_by_name_and_ignore_not_ready_addresses():
    eps = endpoints(port_name="other")
    eps["endpoints"].append({"addresses": ["10.244.9.9"], "conditions": {"ready": False}})
    state = rules.build_state([service()], [eps])
    assert [(str(sp), e) for sp, e in state] == [("default/web:http", [])]


def test_headless_and_external_name_services_get_no_cluster_ip_rules():
    headless = service("h", cluster_ip="None")
    external = {"metadata": {"namespace": "default", "name": "x"},
                "spec": {"type": "ExternalName", "externalName": "example.org"}}
    text = render([headless, external], [endpoints("h")])
    assert "cluster IP" not in text and "-d None" not in text


def test_stale_service_chains_are_flushed_and_deleted_in_the_same_transaction():
    text = render([service()], [endpoints()])
    current = set(re.findall(r"KUBE-(?:SVC|SEP)-[A-Z0-9]{16}", text))
    existing = {*current, "KUBE-SVC-GONEGONEGONEGONE", "KUBE-SEP-OLDOLDOLDOLDOLDO", "DOCKER", "KUBELING-POSTROUTING"}
    again = render([service()], [endpoints()], existing_chains=existing)
    assert ":KUBE-SVC-GONEGONEGONEGONE - [0:0]" in again and "-X KUBE-SVC-GONEGONEGONEGONE" in again
    assert "-X KUBE-SEP-OLDOLDOLDOLDOLDO" in again
    assert "DOCKER" not in again and "KUBELING" not in again
    assert not any(f"-X {c}" in again for c in current)


def test_only_our_chains_are_declared_so_noflush_leaves_the_host_alone():
    text = render([service()], [endpoints()])
    declared = {line[1:].split()[0] for line in text.splitlines() if line.startswith(":")}
    assert all(c.startswith("KUBE-") for c in declared)
    assert not re.search(r"-[AIDF] (PREROUTING|OUTPUT|POSTROUTING|INPUT|FORWARD) ", text)


def test_chain_names_are_stable_and_fit_iptables_limits():
    sp = rules.service_ports(service())[0]
    ep = rules.Endpoint("10.244.1.2", 8080)
    assert rules.svc_chain(sp) == rules.svc_chain(rules.service_ports(service())[0])
    assert rules.svc_chain(sp) != rules.svc_chain(rules.service_ports(service(ns="other"))[0])
    assert len(rules.sep_chain(sp, ep)) <= 28
    assert render([service()], [endpoints()]) == render([service()], [endpoints()])


def test_chains_in_reads_iptables_save_output():
    save = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SVC-ABC - [0:0]\n-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n"
    assert rules.chains_in(save) == {"PREROUTING", "KUBE-SVC-ABC"}


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("iptables-restore") or not shutil.which("unshare"),
                    reason="needs root, iptables and unshare (a private network namespace)")
def test_real_iptables_restore_accepts_the_rules_twice_in_a_private_network_namespace():
    svc = service(kind="NodePort", sessionAffinity="ClientIP",
                  ports=[{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"},
                         {"name": "dns", "port": 53, "protocol": "UDP"}], externalIPs=["192.0.2.10"])
    first = render([svc, service("empty", cluster_ip="10.96.0.11")], [endpoints()])
    # Then the Service is deleted: its chains must go, in a second transaction on the same tables.
    script = f"iptables-restore --noflush <<'EOF'\n{first}EOF\niptables-save -t nat"
    out = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=30)
    if out.returncode != 0 and "unshare" in out.stderr:
        pytest.skip(f"cannot create a network namespace: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    existing = rules.chains_in(out.stdout)
    assert any(c.startswith("KUBE-SVC-") for c in existing)
    second = rules.render(rules.build_state([], []), cluster_cidr=CIDR, existing_chains=existing)
    script = (f"iptables-restore --noflush <<'EOF'\n{first}EOF\n"
              f"iptables-restore --noflush <<'EOF'\n{second}EOF\niptables-save")
    out = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "KUBE-SVC-" not in out.stdout and "KUBE-SEP-" not in out.stdout
    assert ":KUBE-SERVICES - [0:0]" in out.stdout


def test_partial_restore_writes_only_the_chains_that_changed():
    before = rules.build_tables(rules.build_state([service(), service("api", cluster_ip="10.96.0.20")],
                                                  [endpoints(), endpoints("api")]), cluster_cidr=CIDR)
    assert rules.restore_text(before, previous=before) == ""
    # One endpoint of web moves: web's KUBE-SVC chain, the new KUBE-SEP chain, the old one deleted.
    after = rules.build_tables(rules.build_state([service(), service("api", cluster_ip="10.96.0.20")],
                                                 [endpoints(ips=("10.244.1.2", "10.244.3.3")), endpoints("api")]),
                               cluster_cidr=CIDR)
    text = rules.restore_text(after, rules.stale_chains(after, before["nat"]), previous=before)
    declared = [line[1:].split()[0] for line in text.splitlines() if line.startswith(":")]
    web = rules.service_ports(service())[0]
    old_sep, new_sep = (rules.sep_chain(web, rules.Endpoint(ip, 8080)) for ip in ("10.244.2.2", "10.244.3.3"))
    assert sorted(declared) == sorted([rules.svc_chain(web), new_sep, old_sep])
    assert f"-X {old_sep}" in text and "*filter" not in text and "KUBE-SERVICES" not in text


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("iptables-restore") or not shutil.which("unshare"),
                    reason="needs root, iptables and unshare (a private network namespace)")
def test_a_partial_restore_leaves_the_same_rules_as_a_full_one():
    first = rules.build_tables(rules.build_state([service(), service("api", cluster_ip="10.96.0.20")],
                                                 [endpoints(), endpoints("api")]), cluster_cidr=CIDR)
    second = rules.build_tables(rules.build_state([service()], [endpoints(ips=("10.244.1.2", "10.244.3.3"))]),
                                cluster_cidr=CIDR)
    partial = rules.restore_text(second, rules.stale_chains(second, first["nat"]), previous=first)

    def saved(*texts: str) -> str:
        script = "".join(f"iptables-restore --noflush <<'EOF'\n{t}EOF\n" for t in texts) + "iptables-save"
        out = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return "\n".join(sorted(line for line in out.stdout.splitlines() if line.startswith(("-A", ":KUBE"))))

    assert saved(rules.restore_text(first), partial) == saved(rules.restore_text(second))
