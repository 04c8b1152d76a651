"""A Greeting operator, written with kopf: each Greeting gets a ConfigMap holding its message.

Run it (after `kubectl apply -f crd.yaml -f peering.yaml` and creating a KopfPeering named `example`):

    kopf run --namespace=default --peering=example operator.py

- create: the ConfigMap `<name>-greeting` is created, owned by the Greeting (so the garbage collector deletes it
  with the Greeting), and the Greeting's status says it is Ready;
- update: a new message is copied into the ConfigMap;
- delete: kopf holds the Greeting with its finalizer until this handler has run, then lets it go.
"""

from __future__ import annotations

import os
from typing import Any

import kopf
import kubernetes

# Which replica did the work (two replicas may run; kopf's peering lets only one act).
REPLICA = os.environ.get("OPERATOR_REPLICA", "operator")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # kopf logs in by itself (from $KUBECONFIG); the official client, for our own writes, reads the same file.
    kubernetes.config.load_kube_config()
    settings.watching.server_timeout = 60  # ask the API server to end each watch after a minute (kopf re-opens)


def configmap(name: str, message: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-greeting"},
            "data": {"message": message, "handled-by": REPLICA}}


@kopf.on.create("kubeling.example", "v1", "greetings")
def create_greeting(spec: kopf.Spec, name: str, namespace: str, patch: kopf.Patch, **_: Any) -> dict[str, str]:
    child = configmap(name, spec["message"])
    kopf.adopt(child)  # ownerReferences to the Greeting, and its namespace
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, child)
    patch.status["phase"] = "Ready"
    return {"configMap": child["metadata"]["name"]}  # kopf stores it in status.create_greeting


@kopf.on.update("kubeling.example", "v1", "greetings", field="spec.message")
def update_greeting(new: str, name: str, namespace: str, patch: kopf.Patch, **_: Any) -> None:
    kubernetes.client.CoreV1Api().patch_namespaced_config_map(
        f"{name}-greeting", namespace, {"data": {"message": new, "handled-by": REPLICA}})
    patch.status["phase"] = "Updated"


@kopf.on.delete("kubeling.example", "v1", "greetings")
def delete_greeting(name: str, logger: kopf.Logger, **_: Any) -> None:
    # Nothing to clean up by hand: the ConfigMap is owned by the Greeting, and the garbage collector deletes it.
    logger.info(f"Greeting {name} is going; its ConfigMap goes with it")
