"""Custom resources with the real kubectl (1.32 and 1.20): the Kubernetes documentation's CronTab CRD.

What a user of the docs' walkthrough (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
custom-resource-definitions/) sees: the CRD is established and CronTabs are served at once; create, get, list,
watch, patch, server-side apply (field ownership and conflicts) and delete them; the printer columns in
`kubectl get`; `kubectl explain`; `kubectl scale` through the scale subresource; schema violations refused with one
cause per field; defaults applied and unknown fields pruned; and deleting the CRD deletes its CronTabs and ends the
watches on them.

Each kubectl version gets its own copy of the CRD (in a group of its own) on the session's API server.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml

from support.polling import wait_until

pytestmark = pytest.mark.e2e

TIMEOUT = 10

# The CRD of the Kubernetes documentation, with its printer columns, status and scale subresources, a default,
# the category `all` and one of its own.
CRONTAB_CRD = yaml.safe_load(r"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              description: What the CronTab runs, and how often.
              properties:
                cronSpec:
                  type: string
                  description: The cron spec defining the interval a CronJob is run
                  pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'
                image:
                  type: string
                replicas:
                  type: integer
                  minimum: 1
                  maximum: 10
                  default: 1
            status:
              type: object
              properties:
                replicas:
                  type: integer
                labelSelector:
                  type: string
      subresources:
        status: {}
        scale:
          specReplicasPath: .spec.replicas
          statusReplicasPath: .status.replicas
          labelSelectorPath: .status.labelSelector
      additionalPrinterColumns:
        - name: Spec
          type: string
          description: The cron spec defining the interval a CronJob is run
          jsonPath: .spec.cronSpec
        - name: Replicas
          type: integer
          description: The number of jobs launched by the CronJob
          jsonPath: .spec.replicas
        - name: Age
          type: date
          jsonPath: .metadata.creationTimestamp
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames:
    - ct
    categories:
    - all
    - schedules
""")


def crontab(group: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": "CronTab", "metadata": {"name": name},
            "spec": spec or {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image"}}


@pytest.fixture(scope="module")
def crontabs(apiserver, kubectl) -> Iterator[dict[str, str]]:
    """The docs' CRD in a group of this kubectl version's own, established, and a namespace to use it in."""
    group = f"v{kubectl.version.replace('.', '')}.stable.example.com"
    crd = copy.deepcopy(CRONTAB_CRD)
    crd["metadata"]["name"], crd["spec"]["group"] = f"crontabs.{group}", group
    ns = f"crd-{kubectl.version.replace('.', '')}-{uuid.uuid4().hex[:6]}"
    requests.post(f"{apiserver.url}/api/v1/namespaces", json={"metadata": {"name": ns}}, timeout=TIMEOUT)
    out = kubectl("apply", "-f", "-", input=yaml.safe_dump(crd))
    assert out.strip() == f"customresourcedefinition.apiextensions.k8s.io/crontabs.{group} created"
    kubectl("wait", "--for=condition=established", "--timeout=60s", f"crd/crontabs.{group}")
    yield {"group": group, "ns": ns, "crd": f"crontabs.{group}"}
    # Gone before the other kubectl version's copy comes: `kubectl get crontab` must name one resource only.
    kubectl.run("delete", "crd", f"crontabs.{group}", "--ignore-not-found", timeout=90)
    kubectl.forget_discovery()  # the CRD's category `all` must not outlive it in the shared kubectl's cache


def create(kubectl, ns: str, obj: dict[str, Any], *args: str) -> subprocess.CompletedProcess:
    return kubectl.run("create", "-n", ns, "-f", "-", *args, input=json.dumps(obj), check=False)


def get_json(kubectl, ns: str, name: str) -> dict[str, Any]:
    return json.loads(kubectl("get", "crontab", name, "-n", ns, "-o", "json"))


def test_the_crd_is_established_with_its_names_and_served_in_discovery(kubectl, crontabs):
    crd = json.loads(kubectl("get", "crd", crontabs["crd"], "-o", "json"))
    conditions = {c["type"]: c for c in crd["status"]["conditions"]}
    assert conditions["Established"]["status"] == "True"
    assert conditions["NamesAccepted"]["status"] == "True"
    assert crd["status"]["acceptedNames"]["listKind"] == "CronTabList"  # defaulted from the kind
    assert crd["status"]["storedVersions"] == ["v1"]
    header = kubectl("get", "crd", crontabs["crd"]).splitlines()[0].split()
    assert header == ["NAME", "CREATED", "AT"]
    resources = kubectl("api-resources", f"--api-group={crontabs['group']}")
    assert resources.splitlines()[1].split() == ["crontabs", "ct", f"{crontabs['group']}/v1", "true", "CronTab"]


def test_create_get_list_with_printer_columns_defaults_and_pruning(kubectl, crontabs):
    ns, group = crontabs["ns"], crontabs["group"]
    obj = crontab(group, "my-new-cron-object", cronSpec="* * * * */5", image="my-awesome-cron-image",
                  notInSchema="pruned")
    result = create(kubectl, ns, obj, "--validate=false")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"crontab.{group}/my-new-cron-object created"
    stored = get_json(kubectl, ns, "my-new-cron-object")
    assert stored["spec"] == {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image", "replicas": 1}
    assert stored["metadata"]["generation"] == 1
    lines = kubectl("get", "crontabs", "-n", ns).splitlines()
    assert lines[0].split() == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert lines[1].split()[:7] == ["my-new-cron-object", "*", "*", "*", "*", "*/5", "1"]
    # The short name, the singular and the category `all` find it too.
    assert "my-new-cron-object" in kubectl("get", "ct", "-n", ns)
    assert "my-new-cron-object" in kubectl("get", "crontab", "my-new-cron-object", "-n", ns)
    assert f"crontab.{group}/my-new-cron-object" in kubectl("get", "all", "-n", ns)
    assert "my-new-cron-object" in kubectl("get", "schedules", "-n", ns)  # a category of its own


def test_unknown_fields_refused_under_strict_validation_and_warned_about_otherwise(kubectl, crontabs):
    ns, group = crontabs["ns"], crontabs["group"]
    obj = crontab(group, "strict", cronSpec="* * * * */5", typo="x")
    result = create(kubectl, ns, obj)
    assert result.returncode != 0
    if kubectl.version == "1.32":  # the server refuses (fieldValidation=Strict) ...
        assert 'CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: unknown field ' \
               '"spec.typo"' in result.stderr
        result = create(kubectl, ns, obj, "--validate=warn")
    else:  # ... kubectl 1.20 refuses by itself, from the CRD's schema in OpenAPI v2
        reversed_group = ".".join(reversed(group.split(".")))
        assert f'ValidationError(CronTab.spec): unknown field "typo" in {reversed_group}.v1.CronTab.spec' \
            in result.stderr
        result = create(kubectl, ns, obj, "--validate=false")  # then the server prunes, and warns
    assert result.returncode == 0, result.stderr
    assert 'Warning: unknown field "spec.typo"' in result.stderr
    assert "typo" not in get_json(kubectl, ns, "strict")["spec"]
    # A patch is checked too: kubectl patch asks for nothing, so the server's default (Warn) applies.
    patch = kubectl.run("patch", "crontab", "strict", "-n", ns, "--type=merge", "-p", '{"spec":{"other":1}}')
    assert 'Warning: unknown field "spec.other"' in patch.stderr
    if kubectl.version == "1.32":  # kubectl apply on an existing object patches with fieldValidation=Strict
        applied = kubectl.run("apply", "-n", ns, "-f", "-", check=False, input=json.dumps(
            crontab(group, "strict", cronSpec="* * * * */5", other=2)))
        assert 'strict decoding error: unknown field "spec.other"' in applied.stderr


def test_patch_merge_and_json_and_strategic_refused(kubectl, crontabs):
    ns, group = crontabs["ns"], crontabs["group"]
    assert create(kubectl, ns, crontab(group, "patched")).returncode == 0
    out = kubectl("patch", "crontab", "patched", "-n", ns, "--type=merge", "-p", '{"spec":{"image":"other"}}')
    assert out.strip() == f"crontab.{group}/patched patched"
    kubectl("patch", "crontab", "patched", "-n", ns, "--type=json",
            "-p", '[{"op":"replace","path":"/spec/replicas","value":4}]')
    patched = get_json(kubectl, ns, "patched")
    assert (patched["spec"]["image"], patched["spec"]["replicas"]) == ("other", 4)
    assert patched["metadata"]["generation"] == 3
    refused = kubectl.run("patch", "crontab", "patched", "-n", ns, "-p", '{"spec":{"image":"x"}}', check=False)
    assert refused.returncode != 0
    assert "the body of the request was in an unknown format - accepted media types include: " \
           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml" in refused.stderr


def test_schema_violations_are_refused_with_one_cause_per_field(kubectl, crontabs):
    ns, group = crontabs["ns"], crontabs["group"]
    bad = crontab(group, "bad", cronSpec="not a cron spec", image=5, replicas=0)
    result = create(kubectl, ns, bad, "--validate=false")
    assert result.returncode != 0
    assert 'The CronTab "bad" is invalid: \n' in result.stderr
    assert "* spec.cronSpec: Invalid value: \"not a cron spec\": spec.cronSpec in body should match " \
           "'^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'" in result.stderr
    assert '* spec.image: Invalid value: "integer": spec.image in body must be of type string: "integer"' \
        in result.stderr
    assert "* spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1" \
        in result.stderr
    assert kubectl.run("get", "crontab", "bad", "-n", ns, check=False).returncode != 0  # nothing half-written


def test_scale_through_the_scale_subresource(kubectl, crontabs):
    ns, group = crontabs["ns"], crontabs["group"]
    assert create(kubectl, ns, crontab(group, "scaled")).returncode == 0
    out = kubectl("scale", "crontab", "scaled", "-n", ns, "--replicas=3")
    assert out.strip() == f"crontab.{group}/scaled scaled"
    assert get_json(kubectl, ns, "scaled")["spec"]["replicas"] == 3
    refused = kubectl.run("scale", "crontab", "scaled", "-n", ns, "--replicas=11", check=False)
    assert "spec.replicas in body should be less than or equal to 10" in refused.stderr


def test_watch_sees_changes_and_the_delete(kubectl, crontabs):
    ns, group = crontabs["ns"], crontabs["group"]
    assert create(kubectl, ns, crontab(group, "watched")).returncode == 0
    watch = subprocess.Popen(kubectl.command("get", "crontab", "watched", "-n", ns, "-w", "--output-watch-events"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={"PATH": "/usr/bin:/bin", "HOME": str(kubectl.cache_dir), "KUBECONFIG": "/dev/null"})

    def next_event(kind: str) -> list[str]:
        line = ""
        for _ in range(20):  # bounded: kubectl may print other lines in between
            line = watch.stdout.readline()
            if line.startswith(kind) and "watched" in line:
                break
        return line.split()[:2]

    try:
        assert watch.stdout.readline().split()[:2] == ["EVENT", "NAME"]
        assert watch.stdout.readline().split()[:2] == ["ADDED", "watched"]
        kubectl("patch", "crontab", "watched", "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":2}}')
        assert next_event("MODIFIED") == ["MODIFIED", "watched"]
        out = kubectl("delete", "crontab", "watched", "-n", ns, timeout=60)
        assert out.strip() == f'crontab.{group} "watched" deleted'
        assert next_event("DELETED") == ["DELETED", "watched"]
    finally:
        watch.kill()
        watch.wait(10)


def test_server_side_apply_owns_conflicts_and_removes_fields(kubectl, crontabs):
    """`kubectl apply --server-side` of a custom resource: the fields are owned as for a built-in kind (lists of a
    custom resource are atomic unless the schema says otherwise), another manager conflicts, and a field the
    applier drops is removed and then defaulted again."""
    ns, group = crontabs["ns"], crontabs["group"]
    shown = ["--show-managed-fields"] if kubectl.version != "1.20" else []  # 1.21+ hide them otherwise

    def owners() -> dict[str, dict[str, Any]]:
        applied = json.loads(kubectl("get", "crontab", "applied", "-n", ns, "-o", "json", *shown))
        return {entry["manager"]: entry for entry in applied["metadata"]["managedFields"]}

    first = crontab(group, "applied", cronSpec="* * * * */5", image="one", replicas=3)
    out = kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=json.dumps(first))
    assert out.strip() == f"crontab.{group}/applied serverside-applied"
    entry = owners()["kubectl"]
    assert (entry["operation"], entry["apiVersion"]) == ("Apply", f"{group}/v1")
    assert entry["fieldsV1"]["f:spec"] == {"f:cronSpec": {}, "f:image": {}, "f:replicas": {}}

    second = crontab(group, "applied", image="two")
    refused = kubectl.run("apply", "--server-side", "--field-manager=ops", "-n", ns, "-f", "-",
                          input=json.dumps(second), check=False)
    assert refused.returncode != 0
    assert 'conflict with "kubectl": .spec.image' in refused.stderr
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=ops", "-n", ns, "-f", "-",
            input=json.dumps(second))
    assert get_json(kubectl, ns, "applied")["spec"]["image"] == "two"
    entries = owners()
    assert entries["ops"]["fieldsV1"]["f:spec"] == {"f:image": {}}
    assert "f:image" not in entries["kubectl"]["fieldsV1"]["f:spec"]

    kubectl("apply", "--server-side", "-n", ns, "-f", "-",
            input=json.dumps(crontab(group, "applied", cronSpec="* * * * */5")))
    spec = get_json(kubectl, ns, "applied")["spec"]
    assert spec == {"cronSpec": "* * * * */5", "image": "two", "replicas": 1}  # replicas dropped, then defaulted


@pytest.mark.parametrize("field", ["crontab.spec", "crontab.spec.cronSpec"])
def test_explain(kubectl, crontabs, field):
    out = kubectl("explain", field, f"--api-version={crontabs['group']}/v1")  # 1.32 reads OpenAPI v3, 1.20 v2
    assert re.search(r"KIND: +CronTab", out)
    if field == "crontab.spec":
        assert "What the CronTab runs, and how often." in out
        assert "cronSpec\t<string>" in out and "replicas\t<integer>" in out
    else:
        assert "The cron spec defining the interval a CronJob is run" in out


def test_deleting_the_crd_deletes_its_crontabs_and_ends_watches(apiserver, kubectl, crontabs):
    ns, group = crontabs["ns"], crontabs["group"]
    assert create(kubectl, ns, crontab(group, "doomed")).returncode == 0
    url = f"{apiserver.url}/apis/{group}/v1/namespaces/{ns}/crontabs"
    with requests.get(url, params={"watch": "true", "timeoutSeconds": "60"}, stream=True, timeout=90) as watch:
        out = kubectl("delete", "crd", crontabs["crd"], timeout=90)
        assert out.strip() == f'customresourcedefinition.apiextensions.k8s.io "{crontabs["crd"]}" deleted'
        events = [json.loads(line) for line in watch.iter_lines() if line]  # ends: the watch closes cleanly
    assert ("DELETED", "doomed") in [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert requests.get(url, timeout=TIMEOUT).status_code == 404
    wait_until(lambda: kubectl.run("get", "crd", crontabs["crd"], check=False).returncode != 0, 30,
               "the CRD to be gone")
