"""`kubectl why`'s story builder, from fixtures: owners, the scheduler's record, the kubelet's events, advice."""

import json

from kubeling.api import decisionrecord as rec
from kubeling.why import advice, story


def event(regarding, reason, note, controller, time, *, related=None, action="", count=1, kind="Pod",
          event_type="Normal"):
    out = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": f"{reason}.{time}"},
           "regarding": {"kind": kind, "name": regarding["metadata"]["name"], "uid": regarding["metadata"]["uid"]},
           "reason": reason, "note": note, "reportingController": controller, "action": action,
           "eventTime": f"2026-12-07T06:{time}.000000Z", "type": event_type}
    if related is not None:
        out["related"] = {"kind": "Pod", "name": related["metadata"]["name"], "uid": related["metadata"]["uid"]}
    if count > 1:
        out["series"] = {"count": count, "lastObservedTime": f"2026-12-07T06:{time}.500000Z"}
    return out


def obj(kind, name, uid, owner=None, **fields):
    metadata = {"name": name, "namespace": "default", "uid": uid}
    if owner is not None:
        metadata["ownerReferences"] = [{"kind": owner["kind"], "name": owner["metadata"]["name"],
                                        "uid": owner["metadata"]["uid"], "controller": True}]
    return {"kind": kind, "metadata": metadata, **fields}


DEPLOY = obj("Deployment", "web", "d1", spec={"replicas": 2}, status={"readyReplicas": 1, "conditions": [
    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "not yet"}]})
RS = obj("ReplicaSet", "web-1", "r1", DEPLOY, spec={"replicas": 2, "template": {"spec": {"containers": [
    {"image": "nginx"}]}}}, status={"readyReplicas": 1})
RS["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}


def running_pod():
    pod = obj("Pod", "web-1-a", "p1", RS, spec={"nodeName": "n2", "containers": [{"name": "c", "image": "nginx"}]},
              status={"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                      "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                             "state": {"running": {"startedAt": "2026-12-07T06:01:05Z"}}}]})
    pod["metadata"]["annotations"] = {
        rec.FILTER: json.dumps({"n1": {"NodeUnschedulable": "passed", "NodeResourcesFit": "passed"},
                                "n2": {"NodeUnschedulable": "passed", "NodeResourcesFit": "passed"},
                                "n3": {"NodeUnschedulable": "passed",
                                       "TaintToleration": "node(s) had untolerated taint {dedicated: gpu}"}}),
        rec.SCORE: json.dumps({"n1": {"NodeResourcesFit": "50"}, "n2": {"NodeResourcesFit": "80"}}),
        rec.FINAL_SCORE: json.dumps({"n1": {"NodeResourcesFit": "50", "TaintToleration": "300"},
                                     "n2": {"NodeResourcesFit": "100", "TaintToleration": "300"}}),
        rec.SELECTED: "n2",
    }
    return pod


def test_running_pod_story_goes_owner_chain_scheduler_kubelet_now():
    pod = running_pod()
    owner_events = [event(RS, "SuccessfulCreate", "Created pod: web-1-a (desired 2, observed 1)",
                          "replicaset-controller", "01:00", related=pod, action="Create", kind="ReplicaSet"),
                    event(RS, "SuccessfulCreate", "Created pod: web-1-b", "replicaset-controller", "01:01",
                          related=obj("Pod", "web-1-b", "p2"), kind="ReplicaSet")]
    events = [event(pod, "Started", "Started container c", "kubelet", "01:05", action="Start"),
              event(pod, "Pulled", 'Container image "nginx" already present', "kubelet", "01:03"),
              event(pod, "Scheduled", "Successfully assigned default/web-1-a to n2", "default-scheduler", "01:01",
                    action="Binding")]
    told = story.build_pod(pod, [RS, DEPLOY], events, owner_events)
    assert [o["kind"] for o in told["owners"]] == ["ReplicaSet", "Deployment"]
    assert [e["note"] for e in told["owners"][0]["events"]] == ["Created pod: web-1-a (desired 2, observed 1)"]
    sched = told["scheduling"]
    assert (sched["node"], sched["score"]) == ("n2", 400)
    assert sched["runnerUp"] == {"node": "n1", "score": 350, "finalScores": {"NodeResourcesFit": 50,
                                                                               "TaintToleration": 300}}
    assert sched["rejected"] == [{"node": "n3", "plugin": "TaintToleration",
                                  "reason": "node(s) had untolerated taint {dedicated: gpu}",
                                  "advice": advice.for_reason("node(s) had untolerated taint {dedicated: gpu}", pod,
                                                              "n3")}]
    assert [e["reason"] for e in told["kubelet"]] == ["Pulled", "Started"]  # in time order
    assert told["blockers"] == []
    text = story.render(told)
    for expected in ("owned by ReplicaSet web-1", "which is owned by Deployment web", "chosen: n2, score 400",
                     "runner-up: n1, score 350", "rejected n3: TaintToleration", "Started container c"):
        assert expected in text
    assert text.index("1. Who created it") < text.index("2. Where") < text.index("3. What the kubelet") < \
        text.index("4. Now")


def test_unschedulable_pod_names_each_nodes_reason_and_a_fix():
    pod = obj("Pod", "big", "p9", spec={"nodeSelector": {"disk": "ssd"},
                                        "containers": [{"name": "c", "image": "x"}]},
              status={"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                          "reason": "Unschedulable", "message": "0/3 nodes"}]})
    pod["metadata"]["annotations"] = {
        rec.FILTER: json.dumps({"n1": {"NodeAffinity": "node(s) didn't match Pod's node affinity/selector"},
                                "n2": {"NodeResourcesFit": "Insufficient cpu, Insufficient memory"},
                                "n3": {"NodeUnschedulable": "node(s) were unschedulable"}}),
        rec.SCORE: "{}", rec.FINAL_SCORE: "{}", rec.SELECTED: ""}
    told = story.build_pod(pod, [], [], [])
    blockers = {b["what"].split(":")[0]: b["advice"] for b in told["blockers"]}
    assert blockers["node n1"] == "label a node to match the pod's nodeSelector: kubectl label nodes n1 disk=ssd"
    assert "lower the pod's cpu request" in blockers["node n2"] and "memory" in blockers["node n2"]
    assert blockers["node n3"] == "the node is cordoned: kubectl uncordon n3"
    assert "no node fits" in story.render(told) and "5. What stands in the way" in story.render(told)


def test_without_a_record_the_condition_message_still_gets_advice():
    pod = obj("Pod", "p", "p3", spec={"containers": []}, status={"conditions": [
        {"type": "PodScheduled", "status": "False", "message": "0/1 nodes are available: 1 Insufficient cpu."}]})
    told = story.build_pod(pod, [], [], [])
    assert told["scheduling"]["recorded"] is False
    assert "lower the pod's cpu request" in told["blockers"][0]["advice"]


def test_crash_looping_container_says_restarts_exit_code_and_what_to_read():
    pod = obj("Pod", "crash", "p4", spec={"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]},
              status={"phase": "Running", "containerStatuses": [{
                  "name": "c", "ready": False, "restartCount": 4,
                  "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                  "lastState": {"terminated": {"reason": "Error", "exitCode": 3}}}]})
    events = [event(pod, "BackOff", "Back-off restarting failed container", "kubelet", "02:00", count=5,
                    event_type="Warning")]
    told = story.build_pod(pod, [], events, [])
    assert told["containers"][0]["restarts"] == 4
    assert told["blockers"][0]["advice"] == advice.WAITING["CrashLoopBackOff"]
    text = story.render(told)
    assert "4 restarts" in text and "exit code 3" in text and "BackOff (x5)" in text


def test_deployment_story_is_its_rollout_in_order():
    rs2 = obj("ReplicaSet", "web-2", "r2", DEPLOY, spec={"replicas": 0, "template": {"spec": {"containers": [
        {"image": "nginx:2"}]}}})
    rs2["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    events = [event(DEPLOY, "ScalingReplicaSet", "Scaled up replica set web-2 from 0 to 1", "deployment-controller",
                    "03:00", kind="Deployment"),
              event(DEPLOY, "ScalingReplicaSet", "Scaled up replica set web-1 from 0 to 2", "deployment-controller",
                    "01:00", kind="Deployment")]
    told = story.build_deployment(DEPLOY, [rs2, RS], events)
    assert [rs["revision"] for rs in told["replicaSets"]] == [1, 2]
    assert next(s["note"] for s in told["steps"]).endswith("web-1 from 0 to 2")
    assert "revision 2: ReplicaSet web-2" in story.render(told)
    json.dumps(told)  # -o json
