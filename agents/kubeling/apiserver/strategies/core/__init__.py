"""Strategies of the core group (`/api/v1`): upstream's `pkg/registry/core/<kind>/`."""
