"""Service-account admission, Service environment variables and token renewal: the pure parts."""

from __future__ import annotations

import pytest

from kubeling.api import errors, serviceaccount
from kubeling.apiserver.admission import ServiceAccountAdmission
from kubeling.kubelet import envvars
from kubeling.kubelet.kubelet import referenced_names
from kubeling.kubelet.tokens import refresh_time
from support.builders import service

TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def new_pod(**spec: object) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "a"}], "initContainers": [{"name": "i"}], **spec}}


def test_a_pod_gets_its_default_account_and_the_token_volume_in_every_container() -> None:
    pod = new_pod()
    serviceaccount.admit(pod, {"metadata": {"name": "default"}})
    spec = pod["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    [volume] = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == 21
    sources = volume["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.namespace"
    for key in ("containers", "initContainers"):
        assert spec[key][0]["volumeMounts"] == [{"name": volume["name"], "readOnly": True, "mountPath": TOKEN_DIR}]


def test_automount_opt_outs_and_existing_mounts() -> None:
    off = new_pod(automountServiceAccountToken=False)
    serviceaccount.admit(off, {"metadata": {"name": "default"}})
    assert "volumes" not in off["spec"] and off["spec"]["serviceAccountName"] == "default"

    quiet_account = {"metadata": {"name": "robot"}, "automountServiceAccountToken": False}
    quiet = new_pod(serviceAccountName="robot")
    serviceaccount.admit(quiet, quiet_account)
    assert "volumes" not in quiet["spec"]
    loud = new_pod(serviceAccountName="robot", automountServiceAccountToken=True)
    serviceaccount.admit(loud, quiet_account)
    assert len(loud["spec"]["volumes"]) == 1

    # A container that mounts something of its own at the token path keeps it.
    own = new_pod(volumes=[{"name": "mine", "emptyDir": {}}])
    own["spec"]["containers"][0]["volumeMounts"] = [{"name": "mine", "mountPath": TOKEN_DIR}]
    serviceaccount.admit(own, {"metadata": {"name": "default"}, "imagePullSecrets": [{"name": "registry"}]})
    assert own["spec"]["containers"][0]["volumeMounts"] == [{"name": "mine", "mountPath": TOKEN_DIR}]
    assert own["spec"]["initContainers"][0]["volumeMounts"][0]["mountPath"] == TOKEN_DIR
    assert own["spec"]["imagePullSecrets"] == [{"name": "registry"}]


def test_admission_refuses_a_missing_account_after_waiting_for_the_default_one() -> None:
    lookups: list[str] = []

    def get(rtype, namespace, name):
        lookups.append(name)
        return None

    admission = ServiceAccountAdmission(get, sleep=lambda seconds: None)
    with pytest.raises(errors.StatusError) as refused:
        admission.admit(new_pod(serviceAccountName="nobody"), "p")
    assert refused.value.code == 403
    assert refused.value.to_status()["message"] == ('pods "p" is forbidden: error looking up service account '
                                                    'ns/nobody: serviceaccount "nobody" not found')
    assert lookups == ["nobody"]
    lookups.clear()
    with pytest.raises(errors.StatusError):
        admission.admit(new_pod(), "p")
    assert lookups == ["default"] * 10  # the controller makes it right after the namespace: wait a little

    mirror = new_pod()
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
    admission.admit(mirror, "p")  # static pods are left alone
    assert "serviceAccountName" not in mirror["spec"]


def test_service_environment_variables_as_upstream() -> None:
    services = [
        service("kubernetes", "default", cluster_ip="10.96.0.1",
                ports=[{"name": "https", "port": 443, "protocol": "TCP"}]),
        service("my-db", "ns", cluster_ip="10.96.0.9",
                ports=[{"port": 5432}, {"name": "dns", "port": 53, "protocol": "UDP"}]),
        service("headless", "ns", cluster_ip="None", ports=[{"port": 80}]),
        service("elsewhere", "other", cluster_ip="10.96.0.7", ports=[{"port": 80}]),
    ]
    env = envvars.service_env(services, "ns")
    assert env == {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
        "MY_DB_SERVICE_HOST": "10.96.0.9", "MY_DB_SERVICE_PORT": "5432", "MY_DB_SERVICE_PORT_DNS": "53",
        "MY_DB_PORT": "tcp://10.96.0.9:5432",
        "MY_DB_PORT_5432_TCP": "tcp://10.96.0.9:5432", "MY_DB_PORT_5432_TCP_PROTO": "tcp",
        "MY_DB_PORT_5432_TCP_PORT": "5432", "MY_DB_PORT_5432_TCP_ADDR": "10.96.0.9",
        "MY_DB_PORT_53_UDP": "udp://10.96.0.9:53", "MY_DB_PORT_53_UDP_PROTO": "udp",
        "MY_DB_PORT_53_UDP_PORT": "53", "MY_DB_PORT_53_UDP_ADDR": "10.96.0.9",
    }
    # enableServiceLinks: false keeps only the API server's.
    assert set(envvars.service_env(services, "ns", False)) == {k for k in env if k.startswith("KUBERNETES_")}


def test_container_env_uses_and_appends_service_variables() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"}}
    container = {"env": [{"name": "API", "value": "https://$(KUBERNETES_SERVICE_HOST)"},
                         {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"}]}
    services = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    env = envvars.container_env(pod, container, lambda ns, n: None, lambda ns, n: None, services=services)
    assert env == {"API": "https://10.96.0.1", "KUBERNETES_SERVICE_PORT": "6443",
                   "KUBERNETES_SERVICE_HOST": "10.96.0.1"}
    assert list(env) == ["API", "KUBERNETES_SERVICE_PORT", "KUBERNETES_SERVICE_HOST"]  # declared ones first


def test_tokens_are_renewed_at_80_percent_of_their_lifetime_or_after_a_day() -> None:
    assert refresh_time(expires=10_000.0, ttl=1000.0) == 9_800.0
    assert refresh_time(expires=1_000_000.0, ttl=7 * 86400.0) == 1_000_000.0 - 7 * 86400.0 + 86400.0


def test_the_kubelet_watches_each_referenced_object_by_name() -> None:
    pod = {"spec": {
        "volumes": [{"name": "s", "secret": {"secretName": "tls"}},
                    {"name": "p", "projected": {"sources": [{"configMap": {"name": "kube-root-ca.crt"}},
                                                            {"secret": {"name": "extra"}}]}}],
        "containers": [{"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "a"}}}],
                        "envFrom": [{"secretRef": {"name": "creds"}}]}],
    }}
    assert referenced_names(pod, "configMap") == {"kube-root-ca.crt", "settings"}
    assert referenced_names(pod, "secret") == {"tls", "extra", "creds"}
