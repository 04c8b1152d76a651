"""Every active namespace has a `default` ServiceAccount (pods without serviceAccountName run as it)."""

from __future__ import annotations

from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors, keys
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory

NAMESPACES = must_lookup("", "namespaces")
SERVICE_ACCOUNTS = must_lookup("", "serviceaccounts")
DEFAULT_NAMES = ("default",)


class ServiceAccountController(Controller):
    name = "serviceaccount"

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.namespaces = informers.informer(NAMESPACES)
        self.accounts = informers.informer(SERVICE_ACCOUNTS)
        self.namespaces.add_handler(self.enqueue, lambda old, new: self.enqueue(new))
        # Someone deleted a default account: put it back.
        self.accounts.add_handler(on_delete=self._on_account_deleted)

    def _on_account_deleted(self, account: Obj) -> None:
        if account["metadata"]["name"] in DEFAULT_NAMES:
            self.queue.add(account["metadata"]["namespace"])

    def sync(self, key: str) -> None:
        namespace = self.namespaces.store.get(key)
        if namespace is None or namespace["metadata"].get("deletionTimestamp"):
            return
        if (namespace.get("status") or {}).get("phase") == "Terminating":
            return
        for name in DEFAULT_NAMES:
            if self.accounts.store.get(keys.key(key, name)) is not None:
                continue
            account = {"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": name, "namespace": key}}
            try:
                self.client.create(SERVICE_ACCOUNTS, account, key)
            except errors.AlreadyExists:
                pass
            except errors.Forbidden:
                pass  # the namespace started terminating meanwhile
