"""Strategies of the `scheduling.k8s.io` group: upstream's `pkg/registry/scheduling/<kind>/`."""
