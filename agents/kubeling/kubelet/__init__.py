"""`kubeling kubelet`: the node agent that runs the pods bound to its node on Docker.

Pod network, as far as the kubelet is concerned: each node's pods sit on a Docker bridge network (`kubeling`,
`--docker-network`) whose subnet is the node's pod CIDR (gateway .1). A pod's sandbox (pause) container gets an
address there and holds the network namespace; the pod's containers join it (`network_mode=container:<sandbox>`).
Docker's own masquerade is switched off on that bridge, because pods must reach pods on other nodes with their own
addresses (routes to other nodes' CIDRs are the pod network component's job). Instead the kubelet adds one rule
in its own nat chain `KUBELING-POD-EGRESS`: MASQUERADE traffic from the pod CIDR to anything outside
`--non-masquerade-cidr` (upstream's flag, default 10.0.0.0/8, which covers the cluster and service ranges); pass
`--non-masquerade-cidr=""` when another network component does that. To swap in another network later, replace
`Runtime.ensure_network` and the sandbox's `network_mode` (the one place a pod gets its address).
"""
