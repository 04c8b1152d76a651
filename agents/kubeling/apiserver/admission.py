"""Admission for new pods that needs the store: upstream's ServiceAccount plugin (the pure part is in
`kubeling.api.serviceaccount`).

It is on when the server can issue service-account tokens (`--service-account-signing-key-file`): the kubelet
fills the token volume through the TokenRequest API, which only such a server offers. A server without a signing
key (the plain-HTTP development setup) admits pods as they come.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from kubeling.api import errors, serviceaccount
from kubeling.api.resources import ResourceType, lookup
from kubeling.api.types import Obj

SERVICE_ACCOUNTS = lookup("", "serviceaccounts")
# The default account is made by the controller-manager right after its namespace: wait for it a little while,
# as upstream does (10 tries, 100-200 ms apart); any other account must exist already.
DEFAULT_ATTEMPTS = 10


class ServiceAccountAdmission:
    def __init__(self, get: Callable[[ResourceType, str, str], Obj | None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`get(rtype, namespace, name)` reads an object (the watch cache, then etcd), None when missing."""
        self.get, self.sleep = get, sleep

    def admit(self, pod: Obj, shown_name: str) -> None:
        """Mutate `pod` (being created) or raise the 403 upstream gives when its service account is missing.
        `shown_name` is the name the client asked for (its generateName when it gave no name)."""
        if serviceaccount.is_mirror_pod(pod):
            return  # the kubelet's own static pods must stay exactly as the kubelet wrote them
        namespace = pod["metadata"].get("namespace", "")
        name = serviceaccount.service_account_name(pod)
        account = self._lookup(namespace, name)
        if account is None:
            raise errors.StatusError(403, serviceaccount.not_found_message(shown_name, namespace, name), "Forbidden",
                                     name=shown_name or None, kind="pods")
        serviceaccount.admit(pod, account)

    def _lookup(self, namespace: str, name: str) -> Obj | None:
        attempts = DEFAULT_ATTEMPTS if name == serviceaccount.DEFAULT_SERVICE_ACCOUNT else 1
        interval = random.uniform(0.1, 0.2)
        for attempt in range(attempts):
            if attempt:
                self.sleep(interval)
            account = self.get(SERVICE_ACCOUNTS, namespace, name)
            if account is not None:
                return account
        return None
