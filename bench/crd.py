"""Custom resource benchmark: create throughput of a CR with a 20-field schema, next to a ConfigMap of the same
size, in one run.

Starts a private etcd and API server (tests/cluster.py), establishes a CRD whose schema has 20 typed fields with
the usual rules (pattern, enum, minimum/maximum, maxLength, a default), then creates CRs and ConfigMaps carrying
the same 20 values, alternating rounds so that a burst of other load on the machine falls on both sides. Also
times, in this process, what the schema costs per object (prune, default, validate) without HTTP or etcd.
Prints Markdown for docs/benchmarks.md. Target: schema validation costs under 30 % of CR create throughput.

    .venv/bin/python bench/crd.py            # full run, about a minute on 2 cores
    .venv/bin/python bench/crd.py --quick    # a tiny run that checks the script works
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "agents"))

from cluster import control_plane  # noqa: E402
from kubeling.api.apiextensions.schema import Validator, apply_defaults, defaults_only, prune  # noqa: E402

GROUP = "bench.kubeling.example"
TIMEOUT = 10.0
TARGET = 0.30


def field_schema(i: int) -> dict[str, Any]:
    """Field i of the 20: strings, integers and booleans with the rules real CRDs use."""
    kind = i % 4
    if kind == 0:
        return {"type": "string", "maxLength": 64, "pattern": "^[a-z0-9-]+$"}
    if kind == 1:
        return {"type": "integer", "minimum": 0, "maximum": 100000}
    if kind == 2:
        return {"type": "string", "enum": ["alpha", "beta", "gamma", "delta"]}
    return {"type": "boolean", "default": False}


def field_value(i: int) -> Any:
    return [f"value-{i:02d}-abcdefgh", 1000 + i, "gamma", True][i % 4]


SCHEMA = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
    f"field{i:02d}": field_schema(i) for i in range(20)}}}}
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": f"samples.{GROUP}"},
       "spec": {"group": GROUP, "scope": "Namespaced",
                "names": {"plural": "samples", "singular": "sample", "kind": "Sample"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA}}]}}
SPEC = {f"field{i:02d}": field_value(i) for i in range(20)}
# The same resource without a schema to speak of (the spec is kept as sent): what a CR costs apart from its schema.
FREE_CRD = copy.deepcopy(CRD)
FREE_CRD["metadata"]["name"] = f"freesamples.{GROUP}"
FREE_CRD["spec"]["names"] = {"plural": "freesamples", "singular": "freesample", "kind": "FreeSample"}
FREE_CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = {"type": "object", "properties": {
    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}


def sample(name: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Sample", "metadata": {"name": name}, "spec": SPEC}


def free_sample(name: str) -> dict[str, Any]:
    return {**sample(name), "kind": "FreeSample"}


def configmap(name: str) -> dict[str, Any]:
    """The same 20 values as strings: a body of about the same size."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {key: str(value).lower() for key, value in SPEC.items()}}


def create_phase(url: str, make: Any, count: int, concurrency: int) -> tuple[int, float]:
    """Create `count` objects with `concurrency` threads; (successes, seconds)."""
    done = [0]
    lock = threading.Lock()
    per_thread = count // concurrency

    def work() -> None:
        with requests.Session() as session:
            for _ in range(per_thread):
                response = session.post(url, json=make(f"o-{uuid.uuid4().hex[:12]}"), timeout=TIMEOUT)
                if response.status_code == 201:
                    with lock:
                        done[0] += 1

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return done[0], time.perf_counter() - start


def schema_cost(rounds: int) -> float:
    """Microseconds per object for prune + default + validate, in this process."""
    validator, defaults = Validator(SCHEMA), defaults_only(SCHEMA)
    obj = sample("x")  # every field set and known: pruning and defaulting leave it as it is, no copy needed
    start = time.perf_counter()
    for _ in range(rounds):
        prune(SCHEMA, obj)
        apply_defaults(defaults, obj)
        assert not validator.validate(obj)
    return (time.perf_counter() - start) / rounds * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    count, rounds, concurrency = (40, 1, 4) if args.quick else (600, 3, 8)
    with control_plane() as (_, api):
        base = f"{api.url}/apis/{GROUP}/v1/namespaces/default"
        for crd, plural in ((CRD, "samples"), (FREE_CRD, "freesamples")):
            requests.post(f"{api.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd,
                          timeout=TIMEOUT).raise_for_status()
            deadline = time.monotonic() + 30
            while requests.get(f"{base}/{plural}", timeout=TIMEOUT).status_code != 200:
                if time.monotonic() > deadline:
                    raise SystemExit("the CRD was not served within 30 s")
                time.sleep(0.1)
        phases = {"ConfigMap, 20 data keys": (f"{api.url}/api/v1/namespaces/default/configmaps", configmap),
                  "CR, no schema (spec kept as sent)": (f"{base}/freesamples", free_sample),
                  "CR, 20-field schema": (f"{base}/samples", sample)}
        totals = {label: [0, 0.0] for label in phases}
        for url, make in phases.values():
            create_phase(url, make, 40, 4)  # warm up every path
        for _ in range(rounds):
            for label, (url, make) in phases.items():
                done, seconds = create_phase(url, make, count // rounds, concurrency)
                totals[label][0] += done
                totals[label][1] += seconds
    rates = {label: done / seconds for label, (done, seconds) in totals.items()}
    configmap_rate = rates["ConfigMap, 20 data keys"]
    free_rate, schema_rate = rates["CR, no schema (spec kept as sent)"], rates["CR, 20-field schema"]
    micro = statistics.median(schema_cost(200 if args.quick else 2000) for _ in range(3))
    print(f"Concurrency {concurrency}, {count} creates of each, {rounds} alternating rounds.\n")
    print("| object | creates/s | vs ConfigMap |")
    print("|---|---|---|")
    for label, rate in rates.items():
        print(f"| {label} | {rate:.0f} | {rate / configmap_rate:.2f}x |")
    schema_share = 1 - schema_rate / free_rate
    print(f"\nSchema cost per CR in-process (prune + default + validate): {micro:.0f} µs.")
    print(f"Throughput cost of the schema (20-field CR vs schemaless CR): {schema_share * 100:.0f} %; of a CR over a "
          f"ConfigMap: {(1 - schema_rate / configmap_rate) * 100:.0f} %.")
    verdict = "met" if schema_share < TARGET else "NOT met"
    print(f"Target (schema validation under {TARGET * 100:.0f} %): {verdict}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
