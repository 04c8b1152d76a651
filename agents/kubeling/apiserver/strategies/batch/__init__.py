"""Strategies of the batch group: upstream's `pkg/registry/batch/<kind>/`."""
