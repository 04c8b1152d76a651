"""One pool of kept-alive connections for all of a Docker client's calls on the engine's Unix socket.

Stands in for: docker-py's `UnixHTTPAdapter` (docker/transport/unixconn.py), which `docker.APIClient` mounts for a
`unix://` engine. `kubelet/runtime.py` calls `share_one_pool(api)` on its client; nothing else changes for callers.

Why: that adapter keys its connection pools by the whole request URL, path included, and keeps 25 of them. Nearly
every call the kubelet makes names another container (`/containers/<id>/start`, `/containers/<id>/json`), so nearly
every call made a new pool and a new connection to the engine, and closed the least recently used pool's. Counted
on a 30-pod burst (`--v 4`), the kubelet spent most of its CPU in requests and urllib3 for Docker calls. Here
every call shares one pool, so a connection is reused as urllib3 means it to be. The client also stops looking up
proxies and .netrc in the environment for each call (requests' `trust_env`): neither applies to a Unix socket.

A client of an engine on TCP or SSH is left as it is.
"""

from __future__ import annotations

from typing import Any

from docker.transport import UnixHTTPAdapter

# Where docker.APIClient mounts its adapter, and the one key every call's pool is now found under.
PREFIX = "http+docker://"
ONE_POOL = "http+docker://localhost"


class OnePoolUnixAdapter(UnixHTTPAdapter):
    """docker-py's adapter, with one pool whatever the URL."""

    def get_connection(self, url: str, proxies: Any = None) -> Any:
        return super().get_connection(ONE_POOL, proxies)


def share_one_pool(api: Any) -> None:
    """Mount `OnePoolUnixAdapter` on a `docker.APIClient` talking to a Unix socket (requests' `Session.mount`,
    the seam requests offers for transports), with the same socket, timeout and pool size."""
    adapter = api.adapters.get(PREFIX)
    if not isinstance(adapter, UnixHTTPAdapter) or isinstance(adapter, OnePoolUnixAdapter):
        return
    api.mount(PREFIX, OnePoolUnixAdapter(f"http+unix://{adapter.socket_path}", adapter.timeout,
                                         max_pool_size=adapter.max_pool_size))
    api.trust_env = False
