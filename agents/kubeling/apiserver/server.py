"""`kubeling apiserver`: flags, and the listeners that serve the Flask app.

One process (the watch fan-out lives in memory), with up to two cheroot listeners (listeners.py, tls.py): HTTPS on
`--bind-address:--secure-port` once `--tls-cert-file` is given, and plain HTTP on `--insecure-bind-address:--port`,
which must be loopback. Without TLS flags only the plain port is served (the development and test setup); with
them the plain port is off unless `--port` is given.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from kubeling.storage.etcd import EtcdClient
from kubeling.storage.store import Store

log = logging.getLogger(__name__)


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean")


def _duration(text: str) -> int:
    """Seconds from `3600`, `3600s`, `60m` or `48h` (the Go durations upstream's flags take)."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 3600s, 60m or 48h") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    storage = parser.add_argument_group("etcd")
    storage.add_argument("--etcd-servers", required=True,
                         help="comma-separated etcd client URLs, e.g. https://127.0.0.1:2379")
    storage.add_argument("--etcd-prefix", default="/registry", help="key prefix for every object in etcd")
    storage.add_argument("--etcd-cafile", default=None, help="CA bundle that etcd's serving certificate must chain to")
    storage.add_argument("--etcd-certfile", default=None, help="client certificate presented to etcd")
    storage.add_argument("--etcd-keyfile", default=None, help="key of --etcd-certfile")
    storage.add_argument("--encryption-provider-config", default=None,
                         help="EncryptionConfiguration file: which resources are encrypted in etcd, with which keys")

    serving = parser.add_argument_group("serving")
    serving.add_argument("--secure-port", type=int, default=6443,
                         help="HTTPS port (served once --tls-cert-file is given; 0 disables)")
    serving.add_argument("--bind-address", default="0.0.0.0", help="address of the HTTPS port")
    serving.add_argument("--tls-cert-file", default=None,
                         help="serving certificate (PEM, may be followed by intermediate certificates)")
    serving.add_argument("--tls-private-key-file", default=None, help="key of --tls-cert-file")
    serving.add_argument("--port", type=int, default=None,
                         help="plain-HTTP port, loopback only (default 8080 without TLS, off with TLS; 0 disables)")
    serving.add_argument("--insecure-bind-address", default="127.0.0.1",
                         help="address of the plain-HTTP port; must be loopback")
    serving.add_argument("--advertise-address", default="",
                         help="address published in the kubernetes Endpoints (default: the bind address)")
    serving.add_argument("--max-requests-inflight", type=int, default=256,
                         help="worker threads per listener: each request, and each open watch, holds one")

    authn = parser.add_argument_group("authentication")
    authn.add_argument("--client-ca-file", default=None,
                       help="CA bundle for client certificates (CN = user name, O = groups)")
    authn.add_argument("--token-auth-file", default=None, help='CSV of bearer tokens: token,user,uid,"group1,group2"')
    authn.add_argument("--service-account-issuer", default="https://kubernetes.default.svc.cluster.local",
                       help="`iss` of the service-account tokens this server issues and accepts")
    authn.add_argument("--service-account-signing-key-file", default=None,
                       help="private key (RSA or ECDSA, PEM) that signs service-account tokens")
    authn.add_argument("--service-account-key-file", action="append", default=[],
                       help="PEM public keys (or certificates, or private keys) that verify service-account tokens; "
                            "may repeat (default: the signing key's public half)")
    authn.add_argument("--service-account-max-token-expiration", type=_duration, default=0,
                       help="longest lifetime a TokenRequest may get, e.g. 48h (default: no limit)")
    authn.add_argument("--api-audiences", default="",
                       help="comma-separated audiences tokens must carry (default: the service-account issuer)")
    authn.add_argument("--insecure-port-user-is-admin", type=_bool, nargs="?", const=True, default=None,
                       help="treat every request on the plain-HTTP port as system:admin in system:masters "
                            "(default: true without TLS, false with it)")

    authz = parser.add_argument_group("authorization")
    authz.add_argument("--authorization-mode", default=None,
                       help="comma-separated of AlwaysAllow, AlwaysDeny, Node, RBAC "
                            "(default: Node,RBAC with TLS, AlwaysAllow without)")

    kubelet = parser.add_argument_group("kubelet client (pods/log)")
    kubelet.add_argument("--kubelet-client-certificate", default=None, help="client certificate for kubelets")
    kubelet.add_argument("--kubelet-client-key", default=None, help="key of --kubelet-client-certificate")
    kubelet.add_argument("--kubelet-certificate-authority", default=None,
                         help="CA that kubelets' serving certificates must chain to")

    cluster = parser.add_argument_group("cluster")
    cluster.add_argument("--service-cluster-ip-range", default="10.96.0.0/12",
                         help="CIDR from which Service cluster IPs are allocated")
    cluster.add_argument("--service-node-port-range", default="30000-32767",
                         help="port range from which NodePorts are allocated")
    cluster.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                         help="tolerationSeconds added to pods for the not-ready:NoExecute taint")
    cluster.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                         help="tolerationSeconds added to pods for the unreachable:NoExecute taint")
    storage.add_argument("--watch-cache", type=_bool, nargs="?", const=True, default=True,
                         help="serve lists from the watch cache's memory when their resourceVersion allows")
    parser.add_argument("--v", "-v", type=int, default=0, help="log verbosity (2: one line per request)")


def resolve_defaults(args: argparse.Namespace) -> None:
    """Fill the defaults that depend on whether TLS is configured."""
    tls = bool(args.tls_cert_file)
    if args.port is None:
        args.port = 0 if tls else 8080
    if not tls:
        args.secure_port = 0
    if args.insecure_port_user_is_admin is None:
        args.insecure_port_user_is_admin = not tls
    if args.authorization_mode is None:
        args.authorization_mode = "Node,RBAC" if tls else "AlwaysAllow"


def validate(args: argparse.Namespace) -> str | None:
    for flag, value in (("--bind-address", args.bind_address), ("--insecure-bind-address", args.insecure_bind_address)):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return f"{flag} {value!r} is not an IP address"
    if args.port and not ipaddress.ip_address(args.insecure_bind_address).is_loopback:
        return (f"--insecure-bind-address {args.insecure_bind_address} is not a loopback address; plain HTTP (--port) "
                "is only allowed on loopback (127.0.0.1 or ::1)")
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        return "--tls-cert-file and --tls-private-key-file go together"
    if args.client_ca_file and not args.tls_cert_file:
        return "--client-ca-file needs --tls-cert-file: client certificates only exist over TLS"
    if not args.port and not args.secure_port:
        return "nothing to serve: give --tls-cert-file (HTTPS on --secure-port) or a plain-HTTP --port"
    if bool(args.kubelet_client_certificate) != bool(args.kubelet_client_key):
        return "--kubelet-client-certificate and --kubelet-client-key go together"
    if bool(args.etcd_certfile) != bool(args.etcd_keyfile):
        return "--etcd-certfile and --etcd-keyfile go together"
    from kubeling.apiserver.authz import parse_modes

    try:
        parse_modes(args.authorization_mode)
    except ValueError as exc:
        return f"--authorization-mode: {exc}"
    for path in (args.tls_cert_file, args.tls_private_key_file, args.client_ca_file, args.token_auth_file,
                 args.service_account_signing_key_file, *args.service_account_key_file, args.etcd_cafile,
                 args.etcd_certfile, args.etcd_keyfile, args.kubelet_client_certificate, args.kubelet_client_key,
                 args.kubelet_certificate_authority):
        if path and not os.path.isfile(path):
            return f"{path}: no such file"
    try:
        ipaddress.ip_network(args.service_cluster_ip_range, strict=False)
    except ValueError:
        return f"--service-cluster-ip-range {args.service_cluster_ip_range!r} is not a CIDR"
    low, _, high = args.service_node_port_range.partition("-")
    if not (low.isdigit() and high.isdigit() and 0 < int(low) <= int(high) <= 65535):
        return f"--service-node-port-range {args.service_node_port_range!r} must look like 30000-32767"
    return None


def app_config(args: argparse.Namespace) -> dict[str, Any]:
    advertise = args.advertise_address
    if not advertise:
        bound = args.bind_address if args.secure_port else args.insecure_bind_address
        advertise = "127.0.0.1" if ipaddress.ip_address(bound).is_unspecified else bound
    return {
        "SERVICE_CLUSTER_IP_RANGE": args.service_cluster_ip_range,
        "SERVICE_NODE_PORT_RANGE": args.service_node_port_range,
        "ADVERTISE_ADDRESS": advertise,
        "ADVERTISE_PORT": args.secure_port or args.port,
        "DEFAULT_NOT_READY_TOLERATION_SECONDS": args.default_not_ready_toleration_seconds,
        "WATCH_CACHE": args.watch_cache,
        "DEFAULT_UNREACHABLE_TOLERATION_SECONDS": args.default_unreachable_toleration_seconds,
        "KUBELET_CLIENT_CERTIFICATE": args.kubelet_client_certificate or "",
        "KUBELET_CLIENT_KEY": args.kubelet_client_key or "",
        "KUBELET_CERTIFICATE_AUTHORITY": args.kubelet_certificate_authority or "",
        "INSECURE_IS_ADMIN": args.insecure_port_user_is_admin,
        "AUTHORIZATION_MODES": [m.strip() for m in args.authorization_mode.split(",") if m.strip()],
        "TOKEN_AUTH_FILE": args.token_auth_file or "",
        "SERVICE_ACCOUNT_ISSUER": args.service_account_issuer,
        "SERVICE_ACCOUNT_SIGNING_KEY_FILE": args.service_account_signing_key_file or "",
        "SERVICE_ACCOUNT_KEY_FILES": list(args.service_account_key_file),
        "SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION": args.service_account_max_token_expiration,
        "API_AUDIENCES": [a.strip() for a in args.api_audiences.split(",") if a.strip()],
    }


def access_log(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """One line per request: method, path and status. Never the query, a header or a body (tokens live there)."""
    requests_log = logging.getLogger("kubeling.apiserver.access")

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            requests_log.info("%s %s %s %s", environ.get("REMOTE_ADDR", ""), environ.get("REQUEST_METHOD"),
                              environ.get("PATH_INFO"), status.split(" ", 1)[0])
            return start_response(status, headers, *rest)

        return app(environ, start)

    return logged


def run(args: argparse.Namespace) -> int:
    resolve_defaults(args)
    problem = validate(args)
    if problem:
        print(f"kubeling apiserver: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kubeling.api.resources import RESOURCES
    from kubeling.apiserver import encryption, listeners, tls
    from kubeling.apiserver.app import create_app

    transformers = {}
    if args.encryption_provider_config:
        try:
            transformers = encryption.for_resources(encryption.load(args.encryption_provider_config), RESOURCES)
        except encryption.ConfigError as exc:
            print(f"kubeling apiserver: --encryption-provider-config {args.encryption_provider_config}: {exc}",
                  file=sys.stderr)
            return 2
        log.info("encrypting at rest: %s", ", ".join(sorted(transformers)) or "no served resource")
    etcd = EtcdClient(args.etcd_servers.split(","), ca_file=args.etcd_cafile, cert_file=args.etcd_certfile,
                      key_file=args.etcd_keyfile)
    app = create_app(Store(etcd, args.etcd_prefix, transformers), app_config(args))
    wsgi_app: Any = access_log(app) if args.v >= 2 else app
    servers = []
    if args.secure_port:
        adapter = tls.TLSAdapter(args.tls_cert_file, args.tls_private_key_file, args.client_ca_file)
        servers.append(listeners.make_server(args.bind_address, args.secure_port, wsgi_app,
                                             args.max_requests_inflight, adapter))
    if args.port:
        servers.append(listeners.make_server(args.insecure_bind_address, args.port, wsgi_app,
                                             args.max_requests_inflight))
    for server in servers:
        server.prepare()  # binds: a port in use fails here, before anything is served
        threading.Thread(target=server.serve, name=f"serve {server.bind_addr}", daemon=True).start()
        log.info("serving %s on %s", "HTTPS" if server.ssl_adapter else "plain HTTP", server.bind_addr)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("shutting down")
    app.extensions["kubeling.watcher"].stop()  # ends open watch streams, so their threads can finish
    stoppers = [threading.Thread(target=server.stop, daemon=True) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join(6)
    logging.shutdown()
    # cheroot's helper threads are not daemons; what is left after the grace period must not keep us alive.
    os._exit(0)
