"""Service-account tokens for projected volumes, as upstream's kubelet token manager keeps them.

Each token is requested through the TokenRequest API, bound to its pod (it stops working when the pod goes), and
cached per (pod, service account, audience, lifetime). It is renewed once 80% of its lifetime has passed, or after
24 hours, whichever comes first; while renewal fails, the old token is used as long as it is valid.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
import time
from collections.abc import Callable

from kubeling.api.types import Obj
from kubeling.client import Client, errors

log = logging.getLogger(__name__)

MAX_TTL = 24 * 3600.0
REFRESH_FRACTION = 0.2  # renew when this much of the lifetime is left
DEFAULT_EXPIRATION = 3600
RETRY = 10.0


class TokenError(Exception):
    """No valid token could be had (FailedMount)."""


@dataclasses.dataclass(frozen=True)
class Token:
    token: str
    expires: float  # epoch seconds
    refresh_at: float


def refresh_time(expires: float, ttl: float) -> float:
    """When a token that expires at `expires` after living `ttl` seconds should be replaced."""
    issued = expires - ttl
    return min(expires - ttl * REFRESH_FRACTION, issued + MAX_TTL)


def _parse_time(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class TokenManager:
    def __init__(self, client: Client, clock: Callable[[], float] = time.time) -> None:
        self.client, self.clock = client, clock
        self._tokens: dict[tuple[str, str, str, str, int], Token] = {}
        self._lock = threading.Lock()

    def token(self, pod: Obj, source: Obj) -> str:
        """The token a `serviceAccountToken` projection of `pod` should show now."""
        metadata, spec = pod["metadata"], pod.get("spec") or {}
        namespace, uid = metadata.get("namespace", ""), metadata.get("uid", "")
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        audience = str(source.get("audience") or "")
        seconds = int(source.get("expirationSeconds") or DEFAULT_EXPIRATION)
        key = (uid, namespace, account, audience, seconds)
        now = self.clock()
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and now < cached.refresh_at:
            return cached.token
        try:
            request = self.client.create_token(namespace, account, pod=pod, expiration_seconds=seconds,
                                               audiences=[audience] if audience else None)
        except errors.ApiError as exc:
            if cached is not None and now < cached.expires:
                log.warning("could not renew the token of %s/%s for pod %s: %s; keeping the old one", namespace,
                            account, metadata.get("name"), exc.message)
                with self._lock:  # try again in a little while, not on every housekeeping tick
                    self._tokens[key] = dataclasses.replace(cached, refresh_at=min(now + RETRY, cached.expires))
                return cached.token
            raise TokenError(f"failed to fetch token: {exc.message}") from exc
        expires = _parse_time(request["status"]["expirationTimestamp"])
        ttl = float((request.get("spec") or {}).get("expirationSeconds") or seconds)
        fresh = Token(request["status"]["token"], expires, refresh_time(expires, ttl))
        with self._lock:
            self._tokens[key] = fresh
        return fresh.token

    def due(self) -> set[str]:
        """Uids of the pods with a token to renew now (their next sync writes the new one)."""
        now = self.clock()
        with self._lock:
            return {key[0] for key, token in self._tokens.items() if now >= token.refresh_at}

    def forget(self, uid: str) -> None:
        with self._lock:
            for key in [k for k in self._tokens if k[0] == uid]:
                del self._tokens[key]
