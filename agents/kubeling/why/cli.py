"""`kubectl why TYPE/NAME` (the kubectl-why plugin) and `kubeling why`: fetch, build the story, print it.

kubectl runs a plugin `kubectl-why` found on PATH for `kubectl why ...`, passing the arguments after `why`
untouched, so this reads the flags kubectl users give: `-n/--namespace`, `--kubeconfig` (else $KUBECONFIG, else
~/.kube/config), `--context`, `-s/--server`, `--token`, `-o json`. Everything is read through kubeling.client: the
object, its owners, and its namespace's Events through events.k8s.io/v1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from kubeling.api.resources import ResourceType, lookup_kind, must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.config import ClientConfig, from_kubeconfig, load_config
from kubeling.why import story

PODS = must_lookup("", "pods")
DEPLOYMENTS = must_lookup("apps", "deployments")
REPLICASETS = must_lookup("apps", "replicasets")
EVENTS = must_lookup("events.k8s.io", "events")
KINDS = {name: DEPLOYMENTS for name in ("deploy", "deployment", "deployments", "deployment.apps",
                                       "deployments.apps")}
KINDS.update({name: PODS for name in ("po", "pod", "pods")})
MAX_OWNERS = 8  # an owner chain is short; a loop of references must not hang the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="+", metavar="TYPE/NAME",
                        help="what to explain: pod/NAME or deploy/NAME (also 'pod NAME')")
    parser.add_argument("-n", "--namespace", default=None, help="the object's namespace (default: the context's)")
    parser.add_argument("-o", "--output", default="text", choices=("text", "json"), help="text, or json for tools")
    parser.add_argument("--kubeconfig", default=None, help="path to the kubeconfig file (default: $KUBECONFIG)")
    parser.add_argument("--context", default=None, help="the kubeconfig context to use")
    parser.add_argument("-s", "--server", default=None, help="the API server's address (overrides the kubeconfig)")
    parser.add_argument("--token", default=None, help="a bearer token for the API server")


def kubeconfig_path(given: str | None) -> str | None:
    """The kubeconfig kubectl would read: `--kubeconfig`, else the first of $KUBECONFIG, else ~/.kube/config if it
    exists (client-go's clientcmd.RecommendedHomeFile), so that `kubectl why` works wherever `kubectl get` does."""
    if given:
        return given
    from_env = os.environ.get("KUBECONFIG", "").split(":")[0]
    if from_env:
        return from_env
    home = Path.home() / ".kube" / "config"
    return str(home) if home.is_file() else None


def _config(args: argparse.Namespace) -> ClientConfig:
    path = kubeconfig_path(args.kubeconfig)
    if args.context:
        if not path:
            raise ValueError("--context needs a kubeconfig (--kubeconfig, $KUBECONFIG or ~/.kube/config)")
        config = from_kubeconfig(path, args.context)
        if args.server:
            config.server = args.server.rstrip("/")
    else:
        config = load_config(path, args.server)
    if args.token:
        config.token = args.token
    return config


def parse_target(words: list[str]) -> tuple[ResourceType, str]:
    if len(words) == 1 and "/" in words[0]:
        kind, name = words[0].split("/", 1)
    elif len(words) == 2:
        kind, name = words
    else:
        raise ValueError("give one object: TYPE/NAME or TYPE NAME, e.g. pod/web-abc12 or deploy/web")
    rtype = KINDS.get(kind.lower())
    if rtype is None:
        raise ValueError(f"kubectl why explains pods and deployments, not {kind!r}")
    return rtype, name


def _events(client: Client, namespace: str) -> list[Obj]:
    return list(client.list_all(EVENTS, namespace).get("items") or [])


def owners_of(client: Client, obj: Obj) -> list[Obj]:
    """The controller chain above `obj`, nearest first (a ReplicaSet, then its Deployment)."""
    chain: list[Obj] = []
    current = obj
    for _ in range(MAX_OWNERS):
        ref = next((r for r in (current.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")),
                   None)
        rtype = lookup_kind(ref.get("apiVersion", ""), ref.get("kind", "")) if ref else None
        if ref is None or rtype is None:
            return chain
        try:
            owner = client.get(rtype, ref["name"], (current.get("metadata") or {}).get("namespace"))
        except errors.NotFound:
            chain.append({"kind": ref["kind"], "apiVersion": ref.get("apiVersion", ""),
                          "metadata": {"name": ref["name"] + " (deleted)", "uid": ref.get("uid", "")}})
            return chain
        owner.setdefault("kind", ref["kind"])
        chain.append(owner)
        current = owner
    return chain


def pod_story(client: Client, namespace: str, name: str) -> story.Story:
    pod = client.get(PODS, name, namespace)
    owners = owners_of(client, pod)
    events = _events(client, namespace)
    uid = pod["metadata"].get("uid")
    own = [e for e in events if (e.get("regarding") or {}).get("uid") == uid]
    owner_uids = {(o.get("metadata") or {}).get("uid") for o in owners}
    of_owners = [e for e in events if (e.get("regarding") or {}).get("uid") in owner_uids]
    return story.build_pod(pod, owners, own, of_owners)


def deployment_story(client: Client, namespace: str, name: str) -> story.Story:
    deployment = client.get(DEPLOYMENTS, name, namespace)
    uid = deployment["metadata"].get("uid")
    replicasets = [rs for rs in client.list_all(REPLICASETS, namespace).get("items") or []
                   if any(r.get("uid") == uid and r.get("controller")
                          for r in rs["metadata"].get("ownerReferences") or [])]
    uids = {uid} | {rs["metadata"].get("uid") for rs in replicasets}
    events = [e for e in _events(client, namespace) if (e.get("regarding") or {}).get("uid") in uids]
    return story.build_deployment(deployment, replicasets, events)


def explain(client: Client, rtype: ResourceType, namespace: str, name: str) -> story.Story:
    return (pod_story if rtype is PODS else deployment_story)(client, namespace, name)


def run(args: argparse.Namespace) -> int:
    try:
        rtype, name = parse_target(args.target)
        config = _config(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    client = Client(config, user_agent="kubectl-why", retries=1)
    namespace = args.namespace or config.namespace or "default"
    try:
        told: Any = explain(client, rtype, namespace, name)
    except errors.NotFound:
        print(f'Error from server (NotFound): {rtype.qualified} "{name}" not found', file=sys.stderr)
        return 1
    except errors.ApiError as exc:
        print(f"Error from server: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(told, indent=2))
    else:
        sys.stdout.write(story.render(told))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The `kubectl-why` console script."""
    parser = argparse.ArgumentParser(prog="kubectl why", description="Tell the story of a pod or a Deployment: "
                                     "who created it, where the scheduler put it and why, what the kubelet did, "
                                     "and what stands in its way.")
    add_arguments(parser)
    return run(parser.parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
