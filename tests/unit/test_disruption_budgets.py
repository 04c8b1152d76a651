"""PodDisruptionBudgets: the disruption controller's arithmetic (pure and through its sync with a fake client),
and the eviction subresource that counts each eviction against the budget (through Flask's test client).

Upstream: pkg/controller/disruption/disruption_test.go and pkg/registry/core/pod/storage/eviction_test.go.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from kubeling.controllers.disruption import (
    BUDGETS,
    DisruptionController,
    ScaleUnknown,
    budget_status,
    disrupted_pods,
    expected_and_desired,
)
from support.builders import deployment, pod, replicaset
from support.fakeclient import controller_fixture
from support.memoryapi import MemoryAPI

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
PODS = "/api/v1/namespaces/default/pods"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"


def budget(name: str = "web", generation: int = 1, status: dict | None = None, **spec: object) -> dict:
    obj = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": generation},
           "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}
    if status is not None:
        obj["status"] = status
    return obj


def web(name: str, ready: bool = True, **extra: object) -> dict:
    return pod(name, "default", labels={"app": "web"}, phase="Running", ready=ready, **extra)


def three_replicas(pod_: dict) -> tuple[str, int]:
    return "rs-uid", 3


# The arithmetic


def test_an_integer_min_available_counts_the_pods_that_exist() -> None:
    pods = [web("a"), web("b"), web("c")]
    assert expected_and_desired(budget(minAvailable=2), pods, three_replicas) == (3, 2)
    status = budget_status(budget(minAvailable=2), pods, 3, 2, {})
    assert (status["currentHealthy"], status["desiredHealthy"], status["disruptionsAllowed"]) == (3, 2, 1)
    assert status["conditions"][0]["reason"] == "SufficientPods"


def test_a_percentage_or_max_unavailable_is_taken_of_the_controllers_scale() -> None:
    pods = [web("a"), web("b")]  # one of the three replicas is missing
    assert expected_and_desired(budget(minAvailable="50%"), pods, three_replicas) == (3, 2)
    assert expected_and_desired(budget(maxUnavailable=1), pods, three_replicas) == (3, 2)
    status = budget_status(budget(maxUnavailable=1), pods, 3, 2, {})
    assert status["disruptionsAllowed"] == 0 and status["conditions"][0]["reason"] == "InsufficientPods"


def test_unready_and_disrupted_pods_are_not_healthy() -> None:
    pods = [web("a"), web("b", ready=False), web("c")]
    status = budget_status(budget(minAvailable=1), pods, 3, 1, {"c": "2026-01-01T00:00:00Z"})
    assert (status["currentHealthy"], status["disruptionsAllowed"]) == (1, 0)


def test_an_eviction_not_followed_by_a_delete_is_forgotten_after_two_minutes() -> None:
    counted = {"a": "2026-01-01T00:00:00Z", "gone": "2026-01-01T00:00:00Z"}
    pdb = budget(status={"disruptedPods": counted})
    kept, recheck = disrupted_pods(pdb, [web("a")], NOW + datetime.timedelta(seconds=30))
    assert kept == {"a": "2026-01-01T00:00:00Z"} and recheck == NOW + datetime.timedelta(minutes=2)
    assert disrupted_pods(pdb, [web("a")], NOW + datetime.timedelta(minutes=3))[0] == {}


def test_the_controller_writes_the_status_once_and_reads_the_deployments_scale() -> None:
    f = controller_fixture(DisruptionController)
    dep = deployment("web", "default", replicas=3, uid="dep-uid")
    rs = replicaset("web-1", "default", replicas=3, uid="rs-uid", owner=dep)
    f.add(dep, rs, budget(maxUnavailable=1), *[web(n, owner=rs) for n in "abc"])
    f.sync("default/web")
    (write,) = f.actions("update", "poddisruptionbudgets")
    assert write.object["status"]["expectedPods"] == 3
    assert write.object["status"]["disruptionsAllowed"] == 1
    f.add(f.stored(BUDGETS, "default", "web"))  # the informer sees the write
    f.client.clear()
    f.sync("default/web")
    assert f.actions("update", "poddisruptionbudgets") == []


def test_a_pod_without_a_controller_fails_a_percentage_budget() -> None:
    f = controller_fixture(DisruptionController)
    f.add(budget(minAvailable="50%"), web("orphan"))
    f.sync("default/web")
    (write,) = f.actions("update", "poddisruptionbudgets")
    assert write.object["status"]["disruptionsAllowed"] == 0
    assert write.object["status"]["conditions"][0]["reason"] == "SyncFailed"
    with pytest.raises(ScaleUnknown):
        f.controller.scale_of(web("orphan"))


# The eviction subresource


@pytest.fixture
def api() -> Iterator[MemoryAPI]:
    server = MemoryAPI()
    yield server
    server.close()


def running(api: MemoryAPI, name: str) -> None:
    created = api.post(PODS, pod(name, "default", labels={"app": "web"})).get_json()
    created["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    assert api.put(f"{PODS}/{name}/status", created).status_code == 200


def evict(api: MemoryAPI, name: str):  # type: ignore[no-untyped-def]
    return api.post(f"{PODS}/{name}/eviction", {"apiVersion": "policy/v1", "kind": "Eviction",
                                                "metadata": {"name": name, "namespace": "default"}})


def set_budget_status(api: MemoryAPI, **status: object) -> None:
    current = api.get(f"{PDBS}/web").get_json()
    current["status"] = {"observedGeneration": current["metadata"]["generation"], **status}
    assert api.put(f"{PDBS}/web/status", current).status_code == 200


def test_an_eviction_without_a_budget_deletes_the_pod(api: MemoryAPI) -> None:
    running(api, "a")
    response = evict(api, "a")
    assert response.status_code == 201 and response.get_json()["status"] == "Success"
    assert api.get(f"{PODS}/a").status_code == 404


def test_an_eviction_is_counted_against_the_budget_then_refused_with_429(api: MemoryAPI) -> None:
    running(api, "a")
    running(api, "b")
    assert api.post(PDBS, budget(minAvailable=1)).status_code == 201
    set_budget_status(api, disruptionsAllowed=1, currentHealthy=2, desiredHealthy=1, expectedPods=2)
    assert evict(api, "a").status_code == 201
    status = api.get(f"{PDBS}/web").get_json()["status"]
    assert status["disruptionsAllowed"] == 0 and list(status["disruptedPods"]) == ["a"]
    refused = evict(api, "b")
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    needs = "The disruption budget web needs 1 healthy pods and has 2 currently"
    assert body["details"]["causes"] == [{"reason": "DisruptionBudget", "message": needs}]
    assert api.get(f"{PODS}/b").status_code == 200


def test_a_budget_the_controller_has_not_seen_yet_refuses(api: MemoryAPI) -> None:
    running(api, "a")
    api.post(PDBS, budget(minAvailable=0))
    refused = evict(api, "a")
    assert refused.status_code == 429
    assert "is still being processed by the server" in refused.get_json()["details"]["causes"][0]["message"]


def test_a_pending_pod_is_evicted_whatever_the_budget(api: MemoryAPI) -> None:
    api.post(PODS, pod("p", "default", labels={"app": "web"}))
    api.post(PDBS, budget(minAvailable=5))
    assert evict(api, "p").status_code == 201


def test_two_budgets_for_one_pod_are_an_error(api: MemoryAPI) -> None:
    running(api, "a")
    api.post(PDBS, budget("one", minAvailable=1))
    api.post(PDBS, budget("two", maxUnavailable=1))
    answer = evict(api, "a")
    assert answer.status_code == 500
    assert "more than one PodDisruptionBudget" in answer.get_json()["message"]


def test_a_budget_may_not_set_both_bounds(api: MemoryAPI) -> None:
    answer = api.post(PDBS, budget(minAvailable=1, maxUnavailable=1))
    assert answer.status_code == 422
    assert answer.get_json()["details"]["causes"][0]["message"].endswith(
        "minAvailable and maxUnavailable cannot be both set")
    assert api.post(PDBS, budget(minAvailable="150%")).status_code == 422


def test_budgets_print_upstreams_columns(api: MemoryAPI) -> None:
    api.post(PDBS, budget(minAvailable=1))
    table = api.client.get(PDBS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).get_json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Min Available", "Max Unavailable",
                                                               "Allowed Disruptions", "Age"]
    assert table["rows"][0]["cells"][:4] == ["web", "1", "N/A", 0]
