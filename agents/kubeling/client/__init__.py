"""The client library every agent shares: API client, informers, work queue, leader election, events.

Components (scheduler, controllers, kubelet, proxy) talk to the cluster only through this package.
"""

from kubeling.client.api import Client
from kubeling.client.config import ClientConfig, load_config
from kubeling.client.errors import AlreadyExists, ApiError, Conflict, Expired, Forbidden, Invalid, NotFound

__all__ = [
    "AlreadyExists",
    "ApiError",
    "Client",
    "ClientConfig",
    "Conflict",
    "Expired",
    "Forbidden",
    "Invalid",
    "NotFound",
    "load_config",
]
