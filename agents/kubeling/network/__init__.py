"""The pod network, host-gw style: a route to every other node's pod CIDR via that node's address."""
