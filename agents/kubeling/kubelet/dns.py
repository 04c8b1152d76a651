"""A pod's name resolution: the resolv.conf its `dnsPolicy` asks for, and the kubelet-managed /etc/hosts.

    dnsPolicy                 nameservers            search                                      options
    ClusterFirst (default)    --cluster-dns          <ns>.svc.<zone> svc.<zone> <zone> + node's  ndots:5
    ClusterFirstWithHostNet   same, also with hostNetwork
    Default                   the node's             the node's                                  the node's
    None                      only what `dnsConfig` gives

A hostNetwork pod with ClusterFirst gets Default, and so does every pod when the kubelet has no --cluster-dns
(upstream records a MissingClusterDNS event then). `dnsConfig` is merged last: its nameservers and searches are
appended (without repeats), its options replace options of the same name.

Upstream: `pkg/kubelet/network/dns/dns.go` (getPodDNSType, GetPodDNS, appendDNSConfig) and
`pkg/kubelet/kubelet_pods.go` (managedHostsFileContent).
"""

from __future__ import annotations

import dataclasses
import logging

from kubeling.api.types import Obj

log = logging.getLogger(__name__)


CLUSTER, HOST, NONE = "cluster", "host", "none"
DEFAULT_OPTIONS = ["ndots:5"]
MAX_SEARCHES = 32  # as upstream's validation: more would be cut by the resolver anyway


@dataclasses.dataclass(frozen=True)
class ResolvConf:
    nameservers: list[str]
    searches: list[str]
    options: list[str]

    def render(self) -> str:
        lines = [f"nameserver {server}" for server in self.nameservers]
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "\n".join(lines) + "\n"


def parse_resolv_conf(text: str) -> ResolvConf:
    """The node's resolv.conf: nameservers, the last `search` line, and options."""
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            nameservers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            searches = fields[1:]
        elif fields[0] == "options":
            options += fields[1:]
    return ResolvConf(nameservers, searches, options)


def policy(pod: Obj, cluster_dns: list[str]) -> str:
    spec = pod.get("spec") or {}
    chosen = spec.get("dnsPolicy") or "ClusterFirst"
    if chosen == "None":
        return NONE
    if chosen == "ClusterFirstWithHostNet" or (chosen == "ClusterFirst" and not spec.get("hostNetwork")):
        return CLUSTER if cluster_dns else HOST
    return HOST


def pod_resolv_conf(pod: Obj, cluster_dns: list[str], cluster_domain: str, node: ResolvConf) -> ResolvConf:
    kind = policy(pod, cluster_dns)
    if kind == CLUSTER:
        namespace = pod["metadata"]["namespace"]
        zone = cluster_domain.strip(".")
        searches = [f"{namespace}.svc.{zone}", f"svc.{zone}", zone, *node.searches]
        config = ResolvConf(list(cluster_dns), searches, list(DEFAULT_OPTIONS))
    elif kind == HOST:
        config = ResolvConf(list(node.nameservers), list(node.searches), list(node.options))
    else:
        config = ResolvConf([], [], [])
    return _with_dns_config(config, (pod.get("spec") or {}).get("dnsConfig") or {})


def _with_dns_config(config: ResolvConf, dns_config: Obj) -> ResolvConf:
    nameservers = list(dict.fromkeys(config.nameservers + list(dns_config.get("nameservers") or [])))
    searches = list(dict.fromkeys(config.searches + list(dns_config.get("searches") or [])))[:MAX_SEARCHES]
    options = {option.split(":", 1)[0]: option for option in config.options}
    for option in dns_config.get("options") or []:
        name = option.get("name", "")
        if name:
            options[name] = f"{name}:{option['value']}" if option.get("value") is not None else name
    return ResolvConf(nameservers, searches, list(options.values()))


def hosts_file(pod: Obj, pod_ip: str, cluster_domain: str) -> str:
    """The pod's /etc/hosts: localhost, the pod's own name (its FQDN first when it has a subdomain), and
    `hostAliases`."""
    metadata, spec = pod["metadata"], pod.get("spec") or {}
    hostname = (spec.get("hostname") or metadata["name"])[:63]
    lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix",
             "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters"]
    if pod_ip:
        if spec.get("subdomain"):
            fqdn = f"{hostname}.{spec['subdomain']}.{metadata['namespace']}.svc.{cluster_domain.strip('.')}"
            lines.append(f"{pod_ip}\t{fqdn}\t{hostname}")
        else:
            lines.append(f"{pod_ip}\t{hostname}")
    aliases = spec.get("hostAliases") or []
    if aliases:
        lines.append("")
        lines.append("# Entries added by HostAliases.")
        lines += [f"{alias['ip']}\t" + "\t".join(alias.get("hostnames") or []) for alias in aliases if alias.get("ip")]
    return "\n".join(lines) + "\n"


def domain_name(pod: Obj, cluster_domain: str) -> str | None:
    """The sandbox's domain name when the pod has a subdomain, so `hostname -f` is the pod's FQDN."""
    spec = pod.get("spec") or {}
    if not spec.get("subdomain"):
        return None
    return f"{spec['subdomain']}.{pod['metadata']['namespace']}.svc.{cluster_domain.strip('.')}"
