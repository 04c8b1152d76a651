"""kube-proxy: Services as real addresses on every node (iptables NAT rules, or a userspace forwarder)."""
