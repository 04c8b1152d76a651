"""RBAC on custom resources: a Role names a CRD's resource (`crontabs` in its group) like any built-in one.

On a secured API server of its own (test_security's plane: TLS, client certificates, Node,RBAC), with kubectl.
"""

from __future__ import annotations

import json

import pytest
from test_security import Secure, eventually, kubectl_as, make_namespace, secure  # noqa: F401 - `secure` is a fixture

pytestmark = pytest.mark.e2e

GROUP = "rbac.stable.example.com"
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": f"crontabs.{GROUP}"},
       "spec": {"group": GROUP, "scope": "Namespaced",
                "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


def test_a_role_on_a_custom_resource_allows_exactly_what_it_says(secure: Secure) -> None:  # noqa: F811
    admin = kubectl_as(secure, "1.32", "admin", cert=secure.admin)
    alice = kubectl_as(secure, "1.32", "alice", cert=secure.alice)
    admin("apply", "-f", "-", input=json.dumps(CRD))
    admin("wait", "--for=condition=established", f"crd/crontabs.{GROUP}")
    ns = make_namespace(secure)
    admin("apply", "-n", ns, "-f", "-", input=json.dumps(
        {"apiVersion": f"{GROUP}/v1", "kind": "CronTab", "metadata": {"name": "nightly"}, "spec": {"a": 1}}))

    denied = alice.run("get", "crontabs", "-n", ns)
    assert (f'crontabs.{GROUP} is forbidden: User "alice" cannot list resource "crontabs" in API group "{GROUP}" '
            f'in the namespace "{ns}"') in denied.stderr

    admin("create", "role", "crontab-reader", "--verb=get,list,watch", f"--resource=crontabs.{GROUP}", "-n", ns)
    admin("create", "rolebinding", "read-crontabs", "--role=crontab-reader", "--user=alice", "-n", ns)
    assert "nightly" in eventually(lambda: alice("get", "crontabs", "-n", ns))
    create = alice.run("create", "-n", ns, "-f", "-", input=json.dumps(
        {"apiVersion": f"{GROUP}/v1", "kind": "CronTab", "metadata": {"name": "mine"}, "spec": {}}))
    assert (f'crontabs.{GROUP} is forbidden: User "alice" cannot create resource "crontabs" in API group '
            f'"{GROUP}" in the namespace "{ns}"') in create.stderr
