"""Upstream's root-ca-cert-publisher: a ConfigMap `kube-root-ca.crt` with the cluster CA (`ca.crt`) in every
namespace, so that pods can verify the API server (the service-account token volume projects it).

The CA is `--root-ca-file`, else the CA the controller-manager itself trusts for the API server (its kubeconfig's
certificate authority); with neither there is nothing to publish and the controller idles.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors, keys
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory
from kubeling.controllers.options import RootCACertPublisherOptions

log = logging.getLogger(__name__)

NAMESPACES = must_lookup("", "namespaces")
CONFIGMAPS = must_lookup("", "configmaps")
CONFIGMAP_NAME = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


def read_root_ca(options: RootCACertPublisherOptions, client: Client) -> str:
    path = options.root_ca_file or client.config.ca_file or ""
    return Path(path).read_text() if path else ""


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: RootCACertPublisherOptions | None = None) -> None:
        super().__init__(client, informers, recorder)
        self.root_ca = read_root_ca(options or RootCACertPublisherOptions(), client)
        if not self.root_ca:
            log.warning("root-ca-cert-publisher: no --root-ca-file and no CA in the kubeconfig: nothing to publish")
        self.namespaces = informers.informer(NAMESPACES)
        self.configmaps = informers.informer(CONFIGMAPS)
        self.namespaces.add_handler(self.enqueue, lambda old, new: self.enqueue(new))
        self.configmaps.add_handler(on_update=lambda old, new: self._configmap_changed(new),
                                    on_delete=self._configmap_changed)

    def _configmap_changed(self, configmap: Obj) -> None:
        if configmap["metadata"]["name"] == CONFIGMAP_NAME:
            self.queue.add(configmap["metadata"].get("namespace", ""))

    def sync(self, key: str) -> None:
        if not self.root_ca:
            return
        namespace = self.namespaces.store.get(key)
        if namespace is None or namespace["metadata"].get("deletionTimestamp"):
            return
        data = {"ca.crt": self.root_ca}
        current = self.configmaps.store.get(keys.key(key, CONFIGMAP_NAME))
        if current is None:
            wanted = {"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": CONFIGMAP_NAME, "namespace": key,
                                   "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                      "data": data}
            try:
                self.client.create(CONFIGMAPS, wanted, key)
            except (errors.AlreadyExists, errors.NotFound):
                pass  # the cache is behind (an update event follows), or the namespace is gone
            except errors.Forbidden:
                pass  # the namespace is terminating
            return
        annotations = current["metadata"].get("annotations") or {}
        if current.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
            return
        updated = {**current, "data": data,
                   "metadata": {**current["metadata"], "annotations": {**annotations,
                                                                       DESCRIPTION_ANNOTATION: DESCRIPTION}}}
        self.client.replace(CONFIGMAPS, updated)
