"""The per-kind registries of validation and printers, and what validation now takes from selectors.py and croniter."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.api import printers, resources, validation

R = {r.kind: r for r in resources.RESOURCES}


def causes(kind: str, obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in validation.validate(R[kind], obj)]


def bare(kind: str, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x"}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": R[kind].api_version, "kind": kind, "metadata": meta}


def test_every_registered_kind_is_a_served_kind():
    assert set(validation.VALIDATORS) <= set(R)
    assert set(validation.NAME_CHECKS) <= set(R)
    assert {(group, kind) for group, kind in printers.PRINTERS} <= {(r.group, r.kind) for r in resources.RESOURCES}


@pytest.mark.parametrize("kind", sorted(R))
def test_namespace_is_required_exactly_where_the_resource_is_namespaced(kind):
    if R[kind].namespaced:
        assert ("metadata.namespace", "Required value") in causes(kind, bare(kind, None))
    else:
        assert ("metadata.namespace", "Forbidden: not allowed on this type") in causes(kind, bare(kind, "default"))


def deployment(selector: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    pod = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    return {**bare("Deployment", "default"), "spec": {"selector": selector, "template": pod}}


def test_selector_expression_values_must_be_label_values():
    selector = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "not valid!"]}]}
    assert [field for field, _ in causes("Deployment", deployment(selector, {"app": "web"}))] == [
        "spec.selector.matchExpressions[0].values[1]"]


@pytest.mark.parametrize(("selector", "labels", "matches"), [
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}, {"app": "web"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"app": "web"}, False),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
     {"app": "web"}, True),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "web"]}]}, {"app": "db"}, False),
])
def test_template_labels_are_matched_as_the_controllers_match_them(selector, labels, matches):
    found = causes("Deployment", deployment(selector, labels))
    mismatch = ("spec.template.metadata.labels",
                f'Invalid value: {{"app":"{labels["app"]}"}}: `selector` does not match template `labels`')
    assert (mismatch not in found) if matches else (found == [mismatch])


def cronjob(schedule: str) -> dict[str, Any]:
    pod = {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}
    return {**bare("CronJob", "default"), "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": pod}}}}


@pytest.mark.parametrize("schedule", ["0 0 L * *", "0 9 * * 1#1", "0 0 15W * *"])
def test_croniter_extensions_the_controller_runs_are_accepted(schedule):
    assert causes("CronJob", cronjob(schedule)) == []


@pytest.mark.parametrize(("schedule", "message"), [
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("0 0 * * 7", "end of range (7) above maximum (6): 7"),
    ("0 0 * * fri-mon", "beginning of range (5) beyond end of range (1): fri-mon"),
])
def test_cron_range_errors_keep_upstreams_words(schedule, message):
    assert causes("CronJob", cronjob(schedule)) == [("spec.schedule", f'Invalid value: "{schedule}": {message}')]


@pytest.mark.parametrize("schedule", ["a * * * *", "*/0 * * * *", "1-2-3 * * * *"])
def test_cron_syntax_errors_are_croniters(schedule):
    ((field, message),) = causes("CronJob", cronjob(schedule))
    assert field == "spec.schedule"
    assert message.startswith(f'Invalid value: "{schedule}": [{schedule}]')
