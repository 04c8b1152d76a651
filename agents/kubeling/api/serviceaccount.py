"""Upstream's ServiceAccount admission plugin, the pure half: what a new pod gets from its service account.

Every pod runs as a service account (`default` unless it names one) and, unless the pod or its account says
`automountServiceAccountToken: false`, gets a projected volume `kube-api-access-<5 random>` with a bound token, the
cluster's CA (the `kube-root-ca.crt` ConfigMap) and its namespace, mounted read-only at the path in-cluster clients
read (`/var/run/secrets/kubernetes.io/serviceaccount`) in every container. The kubelet fills the volume in.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeling.api import meta
from kubeling.api.types import Obj

DEFAULT_SERVICE_ACCOUNT = "default"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
# Upstream's "warn only" lifetime: 3607 s marks a token the API server may extend, as older clients expect.
TOKEN_EXPIRATION_SECONDS = 3607
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

_TOKEN_VOLUME_SOURCE: Obj = {
    "defaultMode": 0o644,
    "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ],
}


def is_mirror_pod(pod: Obj) -> bool:
    return MIRROR_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})


def service_account_name(pod: Obj) -> str:
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT)


def should_automount(account: Obj, pod: Obj) -> bool:
    """The pod's `automountServiceAccountToken` wins, then the account's; true when neither says."""
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    from_pod = spec.get("automountServiceAccountToken")
    if from_pod is not None:
        return bool(from_pod)
    from_account = account.get("automountServiceAccountToken")
    if from_account is not None:
        return bool(from_account)
    return True


def token_volume_source() -> Obj:
    return copy.deepcopy(_TOKEN_VOLUME_SOURCE)


def mount_token(pod: Obj, volume_name: str | None = None) -> None:
    """Add the token volume and mount it in every container that has nothing at the token path yet."""
    spec = pod.setdefault("spec", {})
    volumes = _dicts(spec.get("volumes"))
    existing = next((v.get("name") for v in volumes if str(v.get("name", "")).startswith(VOLUME_PREFIX)), None)
    name = existing or volume_name or meta.generate_name(VOLUME_PREFIX)
    mount = {"name": name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}
    needed = False
    for key in ("initContainers", "containers"):
        for container in _dicts(spec.get(key)):
            mounts = _dicts(container.get("volumeMounts"))
            if any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in mounts):
                continue  # the user put something there: leave it
            container["volumeMounts"] = [*mounts, dict(mount)]
            needed = True
    if needed and existing is None:
        spec["volumes"] = [*volumes, {"name": name, "projected": token_volume_source()}]


def _dicts(value: Any) -> list[Obj]:
    """The dicts of a list field, so that a malformed pod reaches validation (and its 422) unharmed."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def admit(pod: Obj, account: Obj) -> None:
    """Mutate a new pod with what it gets from its (existing) service account."""
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    name = service_account_name(pod)
    spec["serviceAccountName"] = name
    spec["serviceAccount"] = name  # the deprecated alias, which upstream's v1 conversion keeps in step
    if should_automount(account, pod):
        mount_token(pod)
    if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": s.get("name", "")} for s in _dicts(account["imagePullSecrets"])]


def not_found_message(pod_name: str, namespace: str, account: str) -> str:
    """The 403 upstream answers for a pod whose service account does not exist."""
    return (f'pods "{pod_name}" is forbidden: error looking up service account {namespace}/{account}: '
            f'serviceaccount "{account}" not found')
