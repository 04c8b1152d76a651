"""Volume benchmark: what a claim per pod costs a StatefulSet, on one real kubelet (Docker).

Starts a private etcd and API server (tests/cluster.py), the scheduler, the controller-manager (every controller:
the StatefulSet controller, the PV binder, the local-path provisioner) and a kubelet, creates the default
`local-path` StorageClass (nodePath in a temporary directory), then in each round creates two StatefulSets of
`--replicas` busybox pods (default OrderedReady pod management, as a user gets it): one without claims, one with a
`volumeClaimTemplates` entry, so each of its pods waits for the scheduler to pick its node, the binder to ask, the
provisioner to make the PV, the binder to bind it, and the kubelet to make the directory. Times each from its
create request to the moment all its pods are Running with Ready=True. The order alternates between rounds.
Prints a Markdown section for docs/benchmarks.md.

    .venv/bin/python bench/volumes.py                # 5 replicas, 5 rounds
    .venv/bin/python bench/volumes.py --rounds 1     # a quick check that the script works
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from kubelet_harness import BUSYBOX, KubeletProcess, ensure_images, free_pod_cidr, remove_node_containers  # noqa: E402

from cluster import Component, Stack, control_plane  # noqa: E402

TARGET_PER_POD = 1.0  # seconds a claim may add per pod (issue 16)
TIMEOUT = 300.0


def statefulset(name: str, replicas: int, claims: bool) -> dict:
    spec: dict = {"terminationGracePeriodSeconds": 0,
                  "containers": [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", "sleep 3600"]}]}
    body: dict = {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}
    if claims:
        spec["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        body["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}}}]
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name}, "spec": body}


def watch_pods(server: str, namespace: str, replicas: int, seen: dict[str, float], bound: dict[str, float],
               ready: dict[str, float], started: threading.Event, done: threading.Event) -> None:
    """From a watch (no polling: on 2 busy cores, a list every few ms slows what it measures), note when each pod
    first shows up, first has a node, and first is Running with Ready=True."""
    url = f"{server}/api/v1/namespaces/{namespace}/pods"
    with requests.get(url, params={"watch": "true", "timeoutSeconds": int(TIMEOUT)}, stream=True,
                      timeout=(5, TIMEOUT + 10)) as response:
        started.set()
        for line in response.iter_lines():
            if not line:
                continue
            pod = json.loads(line)["object"]
            now, name = time.monotonic(), pod["metadata"]["name"]
            seen.setdefault(name, now)
            if pod["spec"].get("nodeName"):
                bound.setdefault(name, now)
            status = pod.get("status") or {}
            if status.get("phase") == "Running" and any(
                    c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []):
                ready.setdefault(name, now)
            if len(ready) >= replicas:
                break
    done.set()


def time_statefulset(http: requests.Session, server: str, replicas: int, claims: bool) -> tuple[float, list[float]]:
    """Seconds from the StatefulSet's create request to all its pods Ready, and each pod's seconds from first
    seen to bound to a node (for claimed pods: the scheduler, binder and provisioner at work)."""
    namespace = f"bench-{'claimed' if claims else 'plain'}-{uuid.uuid4().hex[:5]}"
    http.post(f"{server}/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": namespace}}).raise_for_status()
    seen: dict[str, float] = {}
    bound: dict[str, float] = {}
    ready: dict[str, float] = {}
    started, done = threading.Event(), threading.Event()
    threading.Thread(target=watch_pods, args=(server, namespace, replicas, seen, bound, ready, started, done),
                     daemon=True).start()
    started.wait(10)
    began = time.monotonic()
    response = http.post(f"{server}/apis/apps/v1/namespaces/{namespace}/statefulsets",
                         json=statefulset("web", replicas, claims))
    response.raise_for_status()
    if not done.wait(TIMEOUT) or len(ready) < replicas:
        raise SystemExit(f"{namespace}: not all {replicas} pods Ready within {TIMEOUT}s")
    took = max(ready.values()) - began
    # Free the node for the next StatefulSet (the claims and volumes stay; they cost nothing while unused).
    http.patch(f"{server}/apis/apps/v1/namespaces/{namespace}/statefulsets/web", json={"spec": {"replicas": 0}},
               headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    deadline = time.monotonic() + TIMEOUT
    while http.get(f"{server}/api/v1/namespaces/{namespace}/pods").json().get("items"):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return took, [bound[name] - seen[name] for name in bound]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ensure_images()
    workdir = Path(tempfile.mkdtemp(prefix="kubeling-bench-volumes-"))
    local_dir = workdir / "local-path"
    node, network = f"bench-vol-{uuid.uuid4().hex[:6]}", f"kubeling-bv{uuid.uuid4().hex[:4]}"
    results: dict[bool, list[float]] = {False: [], True: []}
    binding: dict[bool, list[float]] = {False: [], True: []}
    with control_plane(f"/bench-volumes-{uuid.uuid4().hex[:6]}") as (_, server), Stack() as stack:
        kubelet = KubeletProcess(server.url, workdir, node, network, pod_cidr=free_pod_cidr(),
                                 extra=["--local-path-dir", str(local_dir)])
        try:
            stack.start(kubelet)
            stack.start(Component("scheduler", server.url, workdir, ["--leader-elect=false"]))
            stack.start(Component("controller-manager", server.url, workdir, ["--leader-elect=false"]))
            http = requests.Session()
            http.post(f"{server.url}/apis/storage.k8s.io/v1/storageclasses", json={
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "local-path",
                             "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": "kubeling.io/local-path", "reclaimPolicy": "Delete",
                "volumeBindingMode": "WaitForFirstConsumer", "parameters": {"nodePath": str(local_dir)}},
            ).raise_for_status()
            time_statefulset(http, server.url, 1, False)  # warm up: first pod on the node
            time_statefulset(http, server.url, 1, True)  # and the first volume
            for round_ in range(args.rounds):
                for claims in ((False, True) if round_ % 2 == 0 else (True, False)):
                    took, to_node = time_statefulset(http, server.url, args.replicas, claims)
                    results[claims].append(took)
                    binding[claims] += to_node
                    print(f"round {round_ + 1}: {'with' if claims else 'without'} claims {took:.2f}s",
                          file=sys.stderr)
        finally:
            remove_node_containers(node)
            subprocess.run(["docker", "network", "rm", network], capture_output=True)
    plain, claimed = statistics.median(results[False]), statistics.median(results[True])
    per_pod = (claimed - plain) / args.replicas
    print(f"## Volumes (bench/volumes.py)\n\nCommand: `.venv/bin/python bench/volumes.py --replicas {args.replicas} "
          f"--rounds {args.rounds}` ({platform.python_version()}, one kubelet on Docker, a busy machine).\n")
    print(f"| StatefulSet of {args.replicas} busybox pods | median s to all Ready | runs (s) | median s pod seen → "
          "bound to a node |")
    print("|---|---:|---|---:|")
    print(f"| without claims | {plain:.2f} | {', '.join(f'{t:.2f}' for t in results[False])} | "
          f"{statistics.median(binding[False]):.3f} |")
    print(f"| one local-path claim per pod | {claimed:.2f} | {', '.join(f'{t:.2f}' for t in results[True])} | "
          f"{statistics.median(binding[True]):.3f} |")
    verdict = "met" if per_pod < TARGET_PER_POD else "NOT met"
    print(f"\nClaims add {per_pod:.2f} s per pod (ratio {claimed / plain:.2f}x); target under "
          f"{TARGET_PER_POD:.0f} s per pod: {verdict}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
