"""CustomResourceDefinitions as pure logic: structural schemas, what a schema does to an object (prune, default,
validate, with upstream's wording), the validation of a CRD, the naming controller's conflicts, printer columns,
and a CRD served through the API server application on an in-memory etcd."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime

import pytest

from kubeling.api import resources
from kubeling.api.apiextensions import table
from kubeling.api.apiextensions.names import resource_types
from kubeling.api.apiextensions.schema import Validator, apply_defaults, defaults_only, prune, structural_errors
from kubeling.api.apiextensions.validation import validate_crd
from kubeling.apiserver.customresources import desired_status, names_conflict
from support.memoryapi import MemoryAPI

SCHEMA = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {
        "replicas": {"type": "integer", "minimum": 1, "default": 1},
        "image": {"type": "string"},
        "nested": {"type": "object", "default": {}, "properties": {"level": {"type": "string", "default": "info"}}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }},
}}


def crd(group: str = "stable.example.com", plural: str = "crontabs", kind: str = "CronTab",
        schema: dict | None = None, **names: object) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List",
                               **names},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schema or SCHEMA}}]}}


# Pruning and defaulting


def test_prune_drops_what_the_schema_does_not_name_and_keeps_preserved_fields():
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "anything": 1}, "top": 1,
           "spec": {"image": "i", "typo": 2, "free": {"any": {"thing": 1}}, "labels": {"a": "b"},
                    "items": [{"name": "n", "extra": 1}]}}
    removed = prune(SCHEMA, obj)
    assert sorted(removed) == ["spec.items[0].extra", "spec.typo", "top"]
    assert obj == {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "anything": 1},
                   "spec": {"image": "i", "free": {"any": {"thing": 1}}, "labels": {"a": "b"},
                            "items": [{"name": "n"}]}}


@pytest.mark.parametrize("walked", ["schema", "its defaults only"])
def test_defaults_fill_missing_and_null_fields_and_defaults_inside_defaults(walked):
    schema = SCHEMA if walked == "schema" else defaults_only(SCHEMA)
    obj = {"spec": {"replicas": None, "items": [{"name": "x"}]}}
    apply_defaults(schema, obj)
    assert obj == {"spec": {"replicas": 1, "nested": {"level": "info"}, "items": [{"name": "x"}]}}
    assert defaults_only({"type": "object", "properties": {"a": {"type": "string"}}}) is None
    kept = {"spec": {"replicas": 3, "nested": {"level": "debug"}}}
    apply_defaults(SCHEMA, kept)
    assert kept == {"spec": {"replicas": 3, "nested": {"level": "debug"}}}


# Validation, in upstream's words


def test_a_valid_object_has_no_causes():
    assert Validator(SCHEMA).validate({"metadata": {}, "spec": {"replicas": 2, "image": "x"}}) == []


@pytest.mark.parametrize(("schema", "value", "field", "message"), [
    ({"type": "string"}, 5, "spec.x", 'Invalid value: "integer": spec.x in body must be of type string: "integer"'),
    ({"type": "integer", "maximum": 3}, 4, "spec.x", "Invalid value: 4: spec.x in body should be less than or "
                                                      "equal to 3"),
    ({"type": "integer", "minimum": 3, "exclusiveMinimum": True}, 3, "spec.x",
     "Invalid value: 3: spec.x in body should be greater than 3"),
    ({"type": "string", "minLength": 2}, "a", "spec.x", 'Invalid value: "a": spec.x in body should be at least 2 '
                                                        "chars long"),
    ({"type": "string", "maxLength": 2}, "abc", "spec.x", "Too long: may not be more than 2 bytes"),
    ({"type": "array", "items": {"type": "string"}, "maxItems": 1}, ["a", "b"], "spec.x",
     "Too many: 2: must have at most 1 items"),
    ({"type": "array", "items": {"type": "string"}, "minItems": 1}, [], "spec.x",
     "Invalid value: []: spec.x in body should have at least 1 items"),
    ({"type": "string", "enum": ["a", "b"]}, "c", "spec.x", 'Unsupported value: "c": supported values: "a", "b"'),
    ({"type": "string", "format": "ipv4"}, "1.2.3", "spec.x",
     'Invalid value: "1.2.3": spec.x in body must be of type ipv4: "1.2.3"'),
    ({"type": "string"}, None, "spec.x", 'Invalid value: "null": spec.x in body must be of type string: "null"'),
    ({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}, ["a", "a"], "spec.x[1]",
     'Duplicate value: "a"'),
])
def test_each_rule_is_worded_as_upstream(schema, value, field, message):
    full = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": schema}}}}
    causes = Validator(full).validate({"metadata": {}, "spec": {"x": value}})
    assert [(c["field"], c["message"]) for c in causes] == [(field, message)]


def test_nullable_int_or_string_and_unchecked_formats_pass():
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "n": {"type": "string", "nullable": True}, "p": {"x-kubernetes-int-or-string": True},
        "i": {"type": "integer", "format": "int32"}}}}}
    validator = Validator(schema)
    for spec in ({"n": None, "p": 80, "i": 1}, {"p": "http"}):
        assert validator.validate({"metadata": {}, "spec": spec}) == []


def test_required_names_each_missing_field():
    schema = {"type": "object", "properties": {"spec": {"type": "object", "required": ["a", "b"],
                                                        "properties": {"a": {"type": "string"},
                                                                       "b": {"type": "string"}}}}}
    causes = Validator(schema).validate({"metadata": {}, "spec": {}})
    assert [(c["field"], c["reason"]) for c in causes] == [("spec.a", "FieldValueRequired"),
                                                           ("spec.b", "FieldValueRequired")]


# Structural schemas


def test_structural_errors_name_each_place():
    path = "spec.versions[0].schema.openAPIV3Schema"
    assert structural_errors(None, path) == [{"reason": "FieldValueRequired", "field": path,
                                              "message": "Required value: schemas are required"}]
    bad = {"properties": {"spec": {"properties": {"a": {"type": "array"}}},
                          "p": {"type": "string", "x-kubernetes-int-or-string": True},
                          "q": {"type": "object", "x-kubernetes-preserve-unknown-fields": False}}}
    messages = {(c["field"], c["message"]) for c in structural_errors(bad, path)}
    assert messages == {
        (f"{path}.type", "Required value: must not be empty at the root"),
        (f"{path}.properties[spec].type", "Required value: must not be empty for specified object fields"),
        (f"{path}.properties[spec].properties[a].items", "Required value: must be specified"),
        (f"{path}.properties[p].type", 'Invalid value: "string": must be empty if x-kubernetes-int-or-string is true'),
        (f"{path}.properties[q].x-kubernetes-preserve-unknown-fields", "Invalid value: false: must be true or "
                                                                        "undefined"),
    }
    assert structural_errors(SCHEMA, path) == []


# The CRD itself


def test_a_valid_crd_and_its_resource_types():
    definition = crd(shortNames=["ct"], categories=["all"])
    assert validate_crd(definition, None) == []
    definition["status"] = {"conditions": [{"type": "Established", "status": "True"}],
                            "acceptedNames": definition["spec"]["names"]}
    [rtype] = resource_types(definition)
    assert (rtype.group, rtype.version, rtype.plural, rtype.kind, rtype.list_kind) == (
        "stable.example.com", "v1", "crontabs", "CronTab", "CronTabList")
    assert rtype.storage_name == "stable.example.com/crontabs" and rtype.short_names == ("ct",)


def test_crd_validation_causes():
    definition = crd(group="nodot")
    definition["metadata"]["name"] = "other.nodot"
    definition["spec"]["scope"] = "Global"
    definition["spec"]["versions"][0]["storage"] = False
    causes = {(c["field"], c["message"]) for c in validate_crd(definition, None)}
    assert causes == {
        ("metadata.name", 'Invalid value: "other.nodot": must be spec.names.plural+"."+spec.group'),
        ("spec.group", 'Invalid value: "nodot": should be a domain with at least one dot'),
        ("spec.scope", 'Unsupported value: "Global": supported values: "Cluster", "Namespaced"'),
        ("spec.versions", 'Invalid value: ["v1"]: must have exactly one version marked as storage version'),
    }
    protected = crd(group="things.k8s.io")
    assert [c["field"] for c in validate_crd(protected, None)] == [
        "metadata.annotations[api-approved.kubernetes.io]"]


def test_names_conflict_and_status():
    first = crd()
    first["status"] = {"acceptedNames": first["spec"]["names"]}
    second = crd(plural="crons", kind="Cron", singular="crontab")
    assert names_conflict(second, [first, second]) == ("SingularConflict", '"crontab" is already in use')
    status = desired_status(second, [first, second])
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {"NamesAccepted": ("False", "SingularConflict"), "Established": ("False", "NotAccepted")}
    other_group = crd(group="other.example.com")
    assert names_conflict(other_group, [first]) is None
    status = desired_status(other_group, [first])
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"NamesAccepted": "True", "Established": "True"}
    assert status["acceptedNames"]["plural"] == "crontabs"


def test_printer_columns():
    columns = [{"name": "Image", "type": "string", "jsonPath": ".spec.image"},
               {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
               {"name": "Missing", "type": "integer", "jsonPath": ".spec.nothing", "priority": 1}]
    printer = table.printer(columns)
    assert [c["name"] for c in printer.columns] == ["Name", "Image", "Ready", "Missing"]
    assert printer.columns[3]["priority"] == 1
    obj = {"metadata": {"name": "a"}, "spec": {"image": "nginx"},
           "status": {"conditions": [{"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    assert printer.cells(obj, datetime.now(UTC)) == ["a", "nginx", "True", None]
    default = table.printer(None)
    assert [c["name"] for c in default.columns] == ["Name", "Age"]


# Served through the application, on an in-memory etcd


def test_a_crd_is_served_once_established_and_gone_with_its_objects():
    api = MemoryAPI()
    try:
        created = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd())
        assert created.status_code == 201, created.text
        url = "/apis/stable.example.com/v1/namespaces/default/crontabs"
        deadline = time.monotonic() + 20
        while api.get(url).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        body = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "a"},
                "spec": {"image": "x", "typo": 1}}
        made = api.post(url, body)
        assert made.status_code == 201, made.text
        assert made.json["spec"] == {"image": "x", "replicas": 1, "nested": {"level": "info"}}
        assert api.patch(f"{url}/a", "{}", content_type="application/strategic-merge-patch+json").status_code == 415
        invalid = api.post(url, {**copy.deepcopy(body), "metadata": {"name": "b"}, "spec": {"replicas": 0}})
        assert invalid.status_code == 422
        assert api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.stable.example.com"
                          ).status_code == 200
        deadline = time.monotonic() + 20
        while api.get(url).status_code != 404 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert api.get(url).status_code == 404
        assert resources.lookup("stable.example.com", "crontabs") is None
    finally:
        api.close()
        resources.set_custom([])


def test_a_pattern_must_be_a_regular_expression():
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "([a-z"}}}
    [cause] = structural_errors(schema, "s")
    assert cause["field"] == "s.properties[a].pattern"
    assert cause["message"].startswith('Invalid value: "([a-z": must be a valid regular expression, but isn\'t: ')


def test_a_dry_prune_finds_the_unknown_fields_and_changes_nothing():
    obj = {"spec": {"image": "i", "typo": 2}, "top": 1}
    assert sorted(prune(SCHEMA, obj, dry=True)) == ["spec.typo", "top"]
    assert obj == {"spec": {"image": "i", "typo": 2}, "top": 1}
