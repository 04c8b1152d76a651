"""The API server's Flask application factory."""

from __future__ import annotations

import contextlib
import json
import logging
from http import HTTPStatus
from typing import Any

import requests
from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from kubeling.api import bootstrappolicy, errors
from kubeling.api.resources import lookup, must_lookup
from kubeling.api.types import Obj
from kubeling.api.validation.scheduling import SYSTEM_PRIORITY_CLASSES
from kubeling.apiserver import access, discovery, handlers, metrics, strategies
from kubeling.apiserver.admission import PriorityAdmission, ServiceAccountAdmission
from kubeling.apiserver.allocators import PORT_PREFIX, Allocator, IPAllocator, node_port_range
from kubeling.apiserver.customresources import CustomResources
from kubeling.apiserver.limitranger import LimitRanger
from kubeling.apiserver.registry import Registry
from kubeling.apiserver.resourcequota import ResourceQuotaAdmission
from kubeling.apiserver.strategies.core.namespace import SYSTEM_NAMESPACES
from kubeling.apiserver.watch import Watcher
from kubeling.apiserver.watchcache import ListCache
from kubeling.storage.etcd import EtcdError, NoSpace
from kubeling.storage.store import Store

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "SERVICE_CLUSTER_IP_RANGE": "10.96.0.0/12",
    "SERVICE_NODE_PORT_RANGE": "30000-32767",
    "ADVERTISE_ADDRESS": "127.0.0.1",
    "ADVERTISE_PORT": 8080,
    "KUBELET_SCHEME": "http",
    "KUBELET_CLIENT_CERTIFICATE": "",
    "KUBELET_CLIENT_KEY": "",
    "KUBELET_CERTIFICATE_AUTHORITY": "",
    "DEFAULT_NOT_READY_TOLERATION_SECONDS": 300,
    "DEFAULT_UNREACHABLE_TOLERATION_SECONDS": 300,
    # Security (see access.py): without TLS, the loopback plain-HTTP port is the superuser and everything is allowed.
    "INSECURE_IS_ADMIN": True,
    "AUTHORIZATION_MODES": ["AlwaysAllow"],
    "TOKEN_AUTH_FILE": "",
    "SERVICE_ACCOUNT_ISSUER": "https://kubernetes.default.svc.cluster.local",
    "SERVICE_ACCOUNT_SIGNING_KEY_FILE": "",
    "SERVICE_ACCOUNT_KEY_FILES": [],
    "SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION": 0,
    "API_AUDIENCES": [],
    # Lists served from the watch hubs' memory when their freshness allows (watchcache.py); upstream's --watch-cache.
    "WATCH_CACHE": True,
}


def create_app(store: Store, config: dict[str, Any] | None = None, *, start_watches: bool = True) -> Flask:
    app = Flask("kubeling.apiserver")
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    ips = IPAllocator(store, app.config["SERVICE_CLUSTER_IP_RANGE"])
    ports = Allocator(store, "port", PORT_PREFIX, node_port_range(app.config["SERVICE_NODE_PORT_RANGE"]))
    tolerations = (int(app.config["DEFAULT_NOT_READY_TOLERATION_SECONDS"]),
                   int(app.config["DEFAULT_UNREACHABLE_TOLERATION_SECONDS"]))
    watcher = Watcher(store)
    authenticator, authorizer, tokens = access.build(app.config, store, watcher.hubs)
    priority = PriorityAdmission(lambda: store.list(must_lookup("scheduling.k8s.io", "priorityclasses")).items)
    limits = LimitRanger(lambda namespace: store.list(must_lookup("", "limitranges"), namespace).items)
    pod_admissions = [limits.admit, priority.admit_pod]
    if tokens is not None and tokens.can_issue:
        pod_admissions.append(ServiceAccountAdmission(
            lambda rtype, namespace, name: watcher.cached(rtype, namespace, name) or
            store.try_get(rtype, namespace, name)).admit)

    def admit_pod(pod: Obj, shown_name: str) -> None:
        for admit in pod_admissions:
            admit(pod, shown_name)

    storage_classes = must_lookup("storage.k8s.io", "storageclasses")
    registry = Registry(store, strategies.build(ips, ports, tolerations, admit_pod, priority.admit_class,
                                                storage_classes=lambda: store.list(storage_classes).items))
    registry.admission.append(ResourceQuotaAdmission(registry).admit)
    registry.cached = watcher.cached
    app.extensions["kubeling.store"] = store
    app.extensions["kubeling.registry"] = registry
    app.extensions["kubeling.watcher"] = watcher
    list_cache = ListCache(watcher, store, enabled=bool(app.config["WATCH_CACHE"]))
    app.extensions["kubeling.list_cache"] = list_cache
    app.extensions["kubeling.metrics"] = metrics.registry_for(watcher, list_cache)
    app.extensions["kubeling.ips"] = ips
    app.extensions["kubeling.kubelet_session"] = kubelet_session(app.config)
    app.register_blueprint(discovery.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(handlers.blueprint)
    register_error_handlers(app)
    app.after_request(reason_phrase)
    if start_watches:
        watcher.start()
    custom_resources = CustomResources(registry, watcher)
    app.extensions["kubeling.customresources"] = custom_resources
    bootstrap(registry, ips, app.config)
    custom_resources.start()
    access.install(app, authenticator, authorizer, tokens)
    authorizer.start()
    return app


def kubelet_session(config: dict[str, Any]) -> requests.Session:
    """How the API server calls kubelets (pods/log): https with a client certificate once one is configured."""
    session = requests.Session()
    session.trust_env = False
    cert, key, ca = (config["KUBELET_CLIENT_CERTIFICATE"], config["KUBELET_CLIENT_KEY"],
                     config["KUBELET_CERTIFICATE_AUTHORITY"])
    if not (cert or ca):
        return session
    config["KUBELET_SCHEME"] = "https"
    if cert:
        session.cert = (cert, key)
    # As upstream, without --kubelet-certificate-authority the kubelet's serving certificate is not verified.
    session.verify = ca or False
    return session


def status_response(error: errors.StatusError) -> Response:
    # Encoded as kube-apiserver's Go encoder writes it: compact, the Status's field order, a final newline.
    body = json.dumps(error.to_status(), separators=(",", ":")) + "\n"
    return Response(body, status=error.code, mimetype="application/json")


def reason_phrase(response: Response) -> Response:
    """Send the status line as Go's net/http does (`409 Conflict`), not Werkzeug's capitals (`409 CONFLICT`):
    clients show that text to their users."""
    with contextlib.suppress(ValueError):  # a code without a standard phrase keeps what it has
        response.status = f"{response.status_code} {HTTPStatus(response.status_code).phrase}"
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(errors.StatusError)
    def on_status(error: errors.StatusError) -> Response:
        return status_response(error)

    @app.errorhandler(EtcdError)
    def on_etcd(error: EtcdError) -> Response:
        log.error("storage error: %s", error)
        if isinstance(error, NoSpace):
            # Not a passing unavailability that a client should retry: as upstream, a 500 that says what etcd said
            # ("etcdserver: mvcc: database space exceeded"), until an operator frees space.
            return status_response(errors.StatusError(500, str(error), "InternalError"))
        return status_response(errors.StatusError(503, f"storage is unavailable: {error}", "ServiceUnavailable"))

    @app.errorhandler(HTTPException)
    def on_http(error: HTTPException) -> Response:
        code = error.code or 500
        message = "the server could not find the requested resource" if code == 404 else error.description
        return status_response(errors.StatusError(code, message or error.name))

    @app.errorhandler(Exception)
    def on_crash(error: Exception) -> Response:
        log.exception("internal error")
        return status_response(errors.StatusError(500, f"Internal error occurred: {error}", "InternalError"))


def bootstrap(registry: Registry, ips: IPAllocator, config: dict[str, Any]) -> None:
    """Objects every cluster has from the start: the system namespaces, the `kubernetes` Service, and the default
    RBAC roles and bindings (created when missing, never overwritten: an operator may have changed them)."""
    namespaces = lookup("", "namespaces")
    for name in SYSTEM_NAMESPACES:
        registry.ensure(namespaces, None, {"metadata": {"name": name}})
    for role in bootstrappolicy.cluster_roles():
        registry.ensure(lookup("rbac.authorization.k8s.io", "clusterroles"), None, role)
    for binding in bootstrappolicy.cluster_role_bindings():
        registry.ensure(lookup("rbac.authorization.k8s.io", "clusterrolebindings"), None, binding)
    for name, (value, description) in SYSTEM_PRIORITY_CLASSES.items():
        registry.ensure(must_lookup("scheduling.k8s.io", "priorityclasses"), None, {
            "metadata": {"name": name}, "value": value, "description": description})
    port = int(config["ADVERTISE_PORT"])
    registry.ensure(lookup("", "services"), "default", {
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": ips.first(), "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                                     "targetPort": port}]},
    })
    registry.ensure(lookup("", "endpoints"), "default", {
        "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": config["ADVERTISE_ADDRESS"]}],
                     "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    })
