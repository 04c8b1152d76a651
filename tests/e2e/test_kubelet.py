"""The kubelet against the real Docker engine: pods bound straight to its node (spec.nodeName), no scheduler.

One API server (own etcd prefix) and one kubelet process for the module; each test has its own namespace.
Teardown removes every container labelled with the test node's name, whatever happened.
"""

from __future__ import annotations

import base64
import ipaddress
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from kubelet_harness import (
    BUSYBOX,
    Api,
    KubeletProcess,
    condition,
    container,
    ensure_images,
    free_pod_cidr,
    kubectl,
    logs_until,
    node_containers,
    pod,
    ready,
    remove_node_containers,
    running,
    status_of,
)

from cluster import APIServer

pytestmark = pytest.mark.e2e


class Env:
    def __init__(self, api: Api, kubelet: KubeletProcess, server: APIServer, cache) -> None:
        self.api, self.kubelet, self.server, self.cache = api, kubelet, server, cache
        self.node = kubelet.node

    def kubectl(self, *args: str, **kwargs) -> str:
        return kubectl(self.server.url, self.cache, *args, **kwargs)


@pytest.fixture(scope="module")
def env(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    try:
        ensure_images()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    workdir = tmp_path_factory.mktemp("kubelet")
    suffix = uuid.uuid4().hex[:6]
    node, network = f"kubelet-test-{suffix}", f"kubeling-t{suffix}"
    server = APIServer(etcd.url, workdir, prefix=f"/kubelet-{suffix}").start()
    kubelet = KubeletProcess(server.url, workdir, node, network, pod_cidr=free_pod_cidr())
    try:
        kubelet.start()
        yield Env(Api(server.url), kubelet, server, workdir / "kubectl-cache")
    finally:
        kubelet.stop()
        remove_node_containers(node)
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
        server.stop()


@pytest.fixture
def ns(env: Env) -> str:
    return env.api.namespace()


def test_node_is_registered_with_host_facts_and_a_lease(env: Env) -> None:
    node = requests.get(env.api.url(f"/api/v1/nodes/{env.node}")).json()
    status = node["status"]
    assert node["spec"]["podCIDR"] == env.kubelet.pod_cidr
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == env.node
    assert status["capacity"]["pods"] == "110"
    assert int(status["capacity"]["cpu"]) >= 1
    assert status["capacity"]["memory"].endswith("Ki")
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    assert {"type": "Hostname", "address": env.node} in status["addresses"]
    info = status["nodeInfo"]
    assert info["kubeletVersion"] == "v1.32.4"
    assert info["containerRuntimeVersion"].startswith("docker://")
    assert info["operatingSystem"] == "linux" and info["architecture"] and info["kernelVersion"]
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == env.kubelet.port
    ready_condition = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready_condition["status"], ready_condition["reason"]) == ("True", "KubeletReady")
    assert " Ready " in env.kubectl("get", "nodes", env.node).splitlines()[1] + " "

    lease_url = env.api.url(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{env.node}")
    first = requests.get(lease_url).json()["spec"]
    assert first["holderIdentity"] == env.node
    deadline = time.monotonic() + 5
    while requests.get(lease_url).json()["spec"]["renewTime"] == first["renewTime"]:
        assert time.monotonic() < deadline, "the Lease was not renewed"
        time.sleep(0.2)


def test_node_is_not_ready_while_docker_does_not_answer(env: Env) -> None:
    node = f"{env.node}-nodocker"
    broken = KubeletProcess(env.server.url, env.kubelet.workdir, node, f"{env.kubelet.network}x",
                            ["--docker-endpoint", f"unix://{env.kubelet.workdir}/no-docker.sock"]).start(wait=False)
    try:
        deadline = time.monotonic() + 20
        while not ((found := env.api.http.get(env.api.url(f"/api/v1/nodes/{node}"))).ok and
                   found.json().get("status", {}).get("conditions")):
            assert broken.proc.poll() is None, broken.logs()
            assert time.monotonic() < deadline, f"node never registered:\n{broken.logs()}"
            time.sleep(0.2)
        ready_condition = next(c for c in found.json()["status"]["conditions"] if c["type"] == "Ready")
        assert (ready_condition["status"], ready_condition["reason"]) == ("False", "KubeletNotReady")
        assert ready_condition["message"].startswith("container runtime is down")
        assert "NotReady" in env.kubectl("get", "node", node)
    finally:
        broken.stop()
        remove_node_containers(node)


def test_containers_of_a_pod_share_localhost(env: Env, ns: str) -> None:
    server = container("server", "mkdir -p /www && echo hello-from-server > /www/index.html && "
                                 "exec httpd -f -p 8080 -h /www",
                       ports=[{"containerPort": 8080, "name": "http"}],
                       readinessProbe={"tcpSocket": {"port": "http"}, "periodSeconds": 1})
    client = container("client", "until wget -qO- localhost:8080/; do sleep 0.2; done; exec sleep 3600")
    created = env.api.create(ns, "pods", pod("pair", env.node, [server, client]))
    found = env.api.wait_pod(ns, "pair", lambda p: running(p) and ready(p), what="Running and Ready")
    logs_until(env.server.url, env.cache, ns, "pair", "hello-from-server", "-c", "client")

    status = found["status"]
    assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(env.kubelet.pod_cidr)
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["hostIP"] == "127.0.0.1"
    assert status["qosClass"] == "BestEffort"
    assert status["startTime"]
    for kind in ("PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"):
        assert condition(found, kind)["status"] == "True", kind
    for name in ("client", "server"):
        entry = status_of(found, name)
        assert entry["ready"] and entry["started"] and entry["restartCount"] == 0
        assert entry["containerID"].startswith("docker://")
        assert entry["imageID"].startswith("docker://sha256:")
        assert entry["image"] == BUSYBOX
        assert "startedAt" in entry["state"]["running"]
    assert [s["name"] for s in status["containerStatuses"]] == ["client", "server"]

    # The host reaches the pod at its IP, and the kubelet lists it on /pods.
    assert requests.get(f"http://{status['podIP']}:8080/", timeout=5).text == "hello-from-server\n"
    listed = requests.get(env.kubelet.url + "/pods").json()
    assert listed["kind"] == "PodList"
    assert created["metadata"]["uid"] in [p["metadata"]["uid"] for p in listed["items"]]
    reasons = [e["reason"] for e in env.api.events(ns, "pair")]
    assert {"Pulled", "Created", "Started"} <= set(reasons)
    table = env.kubectl("get", "pod", "pair", "-n", ns, "-o", "wide")
    assert "2/2" in table and "Running" in table and status["podIP"] in table


def test_init_containers_run_in_order_before_app_containers(env: Env, ns: str) -> None:
    mount = [{"name": "work", "mountPath": "/work"}]
    spec = pod("init", env.node, [container("app", "cat /work/order; exec sleep 3600", volumeMounts=mount)],
               initContainers=[container("first", "sleep 1; echo one >> /work/order", volumeMounts=mount),
                               container("second", "echo two >> /work/order", volumeMounts=mount)],
               volumes=[{"name": "work", "emptyDir": {}}])
    env.api.create(ns, "pods", spec)
    pending = env.api.wait_pod(ns, "init", lambda p: status_of(p, "first", init=True).get("state", {}).get(
        "running") is not None, what="first init container running")
    assert pending["status"]["phase"] == "Pending"
    assert condition(pending, "Initialized")["reason"] == "ContainersNotInitialized"
    assert status_of(pending, "second", init=True)["state"]["waiting"]["reason"] == "PodInitializing"
    assert status_of(pending, "app")["state"]["waiting"]["reason"] == "PodInitializing"

    found = env.api.wait_pod(ns, "init", running, what="Running")
    assert condition(found, "Initialized")["status"] == "True"
    first, second = status_of(found, "first", init=True), status_of(found, "second", init=True)
    for entry in (first, second):
        assert entry["state"]["terminated"]["reason"] == "Completed"
        assert entry["state"]["terminated"]["exitCode"] == 0
        assert entry["ready"] is True
    assert second["state"]["terminated"]["startedAt"] >= first["state"]["terminated"]["finishedAt"]
    assert logs_until(env.server.url, env.cache, ns, "init", "two", "-c", "app") == "one\ntwo\n"


def test_env_from_configmap_secret_and_downward_api(env: Env, ns: str) -> None:
    env.api.create(ns, "configmaps", {"metadata": {"name": "settings"}, "data": {"color": "blue", "size": "9"}})
    env.api.create(ns, "secrets", {"metadata": {"name": "creds"},
                                   "data": {"password": base64.b64encode(b"s3cret").decode()}})
    # $0 is printed as is: the shell does not expand what the kubelet already expanded.
    app = container("app", 'env | sort; echo "$0"; exec sleep 3600', args=["expanded=$(COLOR)-$$(COLOR)"])
    app["env"] = [
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
        {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MY_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "MY_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "MY_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MY_HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "GREETING", "value": "hello-$(MY_NAME)"},
    ]
    app["envFrom"] = [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}}]
    app["workingDir"] = "/tmp"
    created = env.api.create(ns, "pods", pod("envs", env.node, [app]))
    found = env.api.wait_pod(ns, "envs", running, what="Running")
    out = logs_until(env.server.url, env.cache, ns, "envs", "expanded=")
    lines = set(out.splitlines())
    expected = {"COLOR=blue", "PASSWORD=s3cret", "MY_NAME=envs", f"MY_NAMESPACE={ns}",
                f"MY_UID={created['metadata']['uid']}", f"MY_IP={found['status']['podIP']}", f"MY_NODE={env.node}",
                "MY_HOST_IP=127.0.0.1", "GREETING=hello-envs", "CFG_color=blue", "CFG_size=9", "password=s3cret",
                "PWD=/tmp"}
    assert expected <= lines, expected - lines
    # $(VAR) in args is expanded from the container's env; $$ escapes it (upstream's expansion rules).
    assert "expanded=blue-$(COLOR)" in lines


def test_missing_configmap_is_a_config_error_until_it_appears(env: Env, ns: str) -> None:
    app = container("app", "echo $COLOR; exec sleep 3600")
    app["env"] = [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "color"}}}]
    env.api.create(ns, "pods", pod("later", env.node, [app]))
    waiting = env.api.wait_pod(ns, "later", lambda p: status_of(p, "app").get("state", {}).get("waiting", {}).get(
        "reason") == "CreateContainerConfigError", what="CreateContainerConfigError")
    assert status_of(waiting, "app")["state"]["waiting"]["message"] == 'configmap "later" not found'
    env.api.create(ns, "configmaps", {"metadata": {"name": "later"}, "data": {"color": "green"}})
    env.api.wait_pod(ns, "later", running, what="Running once the ConfigMap exists")
    logs_until(env.server.url, env.cache, ns, "later", "green")


def test_configmap_and_secret_volumes_are_mounted_and_updated(env: Env, ns: str) -> None:
    env.api.create(ns, "configmaps", {"metadata": {"name": "files"}, "data": {"greeting": "hello", "other": "x"}})
    env.api.create(ns, "secrets", {"metadata": {"name": "keys"}, "data": {"token": base64.b64encode(b"abc").decode()}})
    script = ("cat /etc/keys/token; echo; ls -lL /etc/keys/token | cut -c1-10; ls /etc/cfg; cat /etc/podinfo/labels; "
              "echo; "
              "touch /etc/cfg/new 2>/dev/null || echo read-only; last=; "
              "while true; do cur=$(cat /etc/cfg/hello.txt); "
              "if [ \"$cur\" != \"$last\" ]; then echo \"greeting=$cur\"; last=$cur; fi; sleep 0.2; done")
    app = container("app", script, volumeMounts=[{"name": "cfg", "mountPath": "/etc/cfg"},
                                                 {"name": "keys", "mountPath": "/etc/keys"},
                                                 {"name": "labels", "mountPath": "/etc/podinfo"}])
    spec = pod("vols", env.node, [app], volumes=[
        {"name": "cfg", "configMap": {"name": "files", "items": [{"key": "greeting", "path": "hello.txt"}]}},
        {"name": "keys", "secret": {"secretName": "keys", "defaultMode": 0o400}},
        {"name": "labels", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {
            "fieldPath": "metadata.labels"}}]}},
    ])
    spec["metadata"]["labels"] = {"app": "vols"}
    env.api.create(ns, "pods", spec)
    env.api.wait_pod(ns, "vols", running, what="Running")
    out = logs_until(env.server.url, env.cache, ns, "vols", "greeting=hello")
    lines = out.splitlines()
    assert lines[0] == "abc"
    assert lines[1] == "-r--------"
    assert lines[2] == "hello.txt"  # only the listed key, under its path
    assert lines[3] == 'app="vols"'  # downward API labels
    assert lines[4] == "read-only"
    env.api.patch(ns, "configmaps", "files", {"data": {"greeting": "bonjour"}})
    logs_until(env.server.url, env.cache, ns, "vols", "greeting=bonjour", timeout=15)


def test_empty_dir_is_shared_by_the_pods_containers(env: Env, ns: str) -> None:
    mount = [{"name": "shared", "mountPath": "/data"}]
    writer = container("writer", "echo written-by-writer > /data/note; exec sleep 3600", volumeMounts=mount)
    reader = container("reader", "until [ -f /data/note ]; do sleep 0.1; done; cat /data/note; exec sleep 3600",
                       volumeMounts=mount)
    env.api.create(ns, "pods", pod("shared", env.node, [writer, reader],
                                   volumes=[{"name": "shared", "emptyDir": {}}]))
    env.api.wait_pod(ns, "shared", running, what="Running")
    logs_until(env.server.url, env.cache, ns, "shared", "written-by-writer", "-c", "reader")


def test_crashing_container_backs_off_with_growing_delays(env: Env, ns: str) -> None:
    created = env.api.create(ns, "pods", pod("crash", env.node, [container("crash", "echo crashing; exit 3")]))
    uid = created["metadata"]["uid"]
    seen: dict[int, float] = {}
    started = time.monotonic()
    found = None
    while time.monotonic() - started < 25 and len(seen) < 3:
        found = env.api.get(ns, "pods", "crash")
        count = status_of(found, "crash").get("restartCount", -1)
        if count >= 0 and count not in seen:
            seen[count] = time.monotonic()
        if count >= 2 and "back-off 20s" in str(status_of(found, "crash").get("state")):
            break
        time.sleep(0.1)
    assert {0, 1, 2} <= set(seen), seen
    # The first restart is immediate, the second waits 10 s of back-off (plus Docker's start time, which on a
    # busy 2-CPU machine is seconds, hence the loose bounds).
    first, second = seen[1] - seen[0], seen[2] - seen[1]
    assert first < 8 and 9 < second < 20 and second > first + 5, (first, second)
    found = env.api.wait_pod(ns, "crash", lambda p: "back-off 20s" in str(status_of(p, "crash").get("state")),
                             timeout=5, what="the 20s back-off")
    entry = status_of(found, "crash")
    waiting = entry["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"
    assert waiting["message"] == f"back-off 20s restarting failed container=crash pod=crash_{ns}({uid})"
    last = entry["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (3, "Error")
    assert last["containerID"].startswith("docker://") and last["startedAt"] and last["finishedAt"]
    assert found["status"]["phase"] == "Running"  # restartPolicy Always: still "running", restarting
    assert condition(found, "Ready")["reason"] == "ContainersNotReady"
    env.api.wait_event(ns, "crash", "BackOff", "Back-off restarting failed container crash")
    assert "CrashLoopBackOff" in env.kubectl("get", "pod", "crash", "-n", ns)
    # GC keeps the current and the previous instance only (and the sandbox).
    assert len(node_containers(env.node, uid)) <= 3


def test_restart_policies_never_and_on_failure(env: Env, ns: str) -> None:
    env.api.create(ns, "pods", pod("never", env.node, [container("c", "exit 1")], restartPolicy="Never"))
    env.api.create(ns, "pods", pod("onfailure", env.node, [container("c", "exit 0")], restartPolicy="OnFailure"))
    failed = env.api.wait_pod(ns, "never", lambda p: p["status"].get("phase") == "Failed", what="Failed")
    done = env.api.wait_pod(ns, "onfailure", lambda p: p["status"].get("phase") == "Succeeded", what="Succeeded")
    terminated = status_of(failed, "c")["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
    assert status_of(failed, "c")["restartCount"] == 0
    assert status_of(done, "c")["state"]["terminated"]["reason"] == "Completed"
    assert condition(done, "Ready")["reason"] == "PodCompleted"
    time.sleep(1.5)
    assert status_of(env.api.get(ns, "pods", "never"), "c")["restartCount"] == 0


def test_liveness_failure_restarts_the_container(env: Env, ns: str) -> None:
    # /healthz does not exist: 404 (or "connection refused" while httpd starts), so liveness fails twice in a row.
    app = container("web", "mkdir -p /www && exec httpd -f -p 8080 -h /www",
                    livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 1,
                                   "periodSeconds": 1, "failureThreshold": 2})
    env.api.create(ns, "pods", pod("live", env.node, [app], terminationGracePeriodSeconds=1))
    found = env.api.wait_pod(ns, "live", lambda p: status_of(p, "web").get("restartCount", 0) >= 1, timeout=20,
                             what="a restart")
    unhealthy = env.api.wait_event(ns, "live", "Unhealthy", "Liveness probe failed: ")
    assert unhealthy["type"] == "Warning"
    assert unhealthy["message"] in ("Liveness probe failed: HTTP probe failed with statuscode: 404",
                                    f'Liveness probe failed: Get "http://{found["status"]["podIP"]}:8080/healthz": '
                                    f'dial tcp {found["status"]["podIP"]}:8080: connect: connection refused')
    env.api.wait_event(ns, "live", "Killing", "Container web failed liveness probe, will be restarted")
    assert found["status"]["phase"] == "Running"
    assert status_of(found, "web")["lastState"]["terminated"]["reason"] == "Error"  # httpd exits 1 on SIGTERM


def test_readiness_gates_the_ready_condition(env: Env, ns: str) -> None:
    # timeoutSeconds covers `docker exec` starting the probe too, which takes seconds on a loaded machine.
    app = container("app", "sleep 3; touch /tmp/ready; exec sleep 3600",
                    readinessProbe={"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1,
                                    "timeoutSeconds": 5})
    env.api.create(ns, "pods", pod("ready", env.node, [app]))
    early = env.api.wait_pod(ns, "ready", running, what="Running")
    assert not ready(early)
    assert condition(early, "Ready")["message"] == "containers with unready status: [app]"
    assert status_of(early, "app")["ready"] is False and status_of(early, "app")["started"] is True
    assert "0/1" in env.kubectl("get", "pod", "ready", "-n", ns)
    later = env.api.wait_pod(ns, "ready", ready, timeout=40, what="Ready")
    assert condition(later, "ContainersReady")["status"] == "True"
    assert status_of(later, "app")["ready"] is True


def test_failing_image_pull_backs_off(env: Env, ns: str) -> None:
    bad = {"name": "app", "image": "kubeling/does-not-exist:1"}
    never = {"name": "app", "image": "kubeling/not-here:1", "imagePullPolicy": "Never"}
    env.api.create(ns, "pods", pod("pull", env.node, [bad]))
    env.api.create(ns, "pods", pod("never", env.node, [never]))

    def backing_off(p) -> bool:
        return status_of(p, "app").get("state", {}).get("waiting", {}).get("reason") == "ImagePullBackOff"

    found = env.api.wait_pod(ns, "pull", backing_off, timeout=30, what="ImagePullBackOff")
    assert found["status"]["phase"] == "Pending"
    # ErrImagePull is the state between a failed pull and its back-off: too brief to be sure a poll sees it, so
    # the kubelet's event for it is the evidence (upstream records the same event).
    env.api.wait_event(ns, "pull", "Failed", "Error: ErrImagePull")
    env.api.wait_event(ns, "pull", "Pulling", 'Pulling image "kubeling/does-not-exist:1"')
    env.api.wait_event(ns, "pull", "Failed", 'Failed to pull image "kubeling/does-not-exist:1"')
    env.api.wait_event(ns, "pull", "BackOff", 'Back-off pulling image "kubeling/does-not-exist:1"')
    assert "ImagePullBackOff" in env.kubectl("get", "pod", "pull", "-n", ns) or \
        "ErrImagePull" in env.kubectl("get", "pod", "pull", "-n", ns)
    never_pod = env.api.wait_pod(ns, "never", lambda p: status_of(p, "app").get("state", {}).get("waiting", {}).get(
        "reason") == "ErrImageNeverPull", what="ErrImageNeverPull")
    assert status_of(never_pod, "app")["state"]["waiting"]["message"] == \
        'Container image "kubeling/not-here:1" is not present with pull policy of Never'


def test_graceful_termination_timing(env: Env, ns: str) -> None:
    host_dir = env.kubelet.workdir / f"host-{ns}"
    polite = container("c", 'trap "sleep 2; exit 0" TERM; while true; do sleep 0.1; done',
                       volumeMounts=[{"name": "host", "mountPath": "/host"}],
                       lifecycle={"preStop": {"exec": {"command": ["sh", "-c", "echo stopping > /host/prestop"]}}})
    stubborn = container("c", "exec sleep 3600")  # PID 1 without a handler: SIGTERM does nothing
    created = env.api.create(ns, "pods", pod("polite", env.node, [polite], terminationGracePeriodSeconds=30,
                                             volumes=[{"name": "host", "hostPath": {"path": str(host_dir),
                                                                                     "type": "DirectoryOrCreate"}}]))
    env.api.create(ns, "pods", pod("stubborn", env.node, [stubborn], terminationGracePeriodSeconds=3))
    for name in ("polite", "stubborn"):
        env.api.wait_pod(ns, name, running, what="Running")

    env.api.delete(ns, "pods", "polite")
    terminating = env.api.get(ns, "pods", "polite")
    assert terminating is not None and terminating["metadata"]["deletionTimestamp"]
    took = env.api.wait_gone(ns, "polite", timeout=15)
    # ~2 s plus Docker's stop of the sandbox and two API writes (seconds on a loaded 2-CPU machine), never the 30 s.
    assert 1.5 < took < 8, f"a pod that exits 2 s after SIGTERM took {took:.1f}s to go"
    assert (host_dir / "prestop").read_text() == "stopping\n"  # the preStop hook ran (into a hostPath volume)

    env.api.delete(ns, "pods", "stubborn")
    took = env.api.wait_gone(ns, "stubborn", timeout=15)
    assert 2.5 < took < 9, f"a pod that ignores SIGTERM with a 3 s grace period took {took:.1f}s to go"
    env.api.wait_event(ns, "stubborn", "Killing", "Stopping container c")

    deadline = time.monotonic() + 10
    while node_containers(env.node, created["metadata"]["uid"]):
        assert time.monotonic() < deadline, "the deleted pod's containers were not removed"
        time.sleep(0.2)


def test_kubectl_logs_follow_and_previous(env: Env, ns: str) -> None:
    ticker = container("ticker", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done")
    env.api.create(ns, "pods", pod("ticker", env.node, [ticker]))
    env.api.wait_pod(ns, "ticker", running, what="Running")
    command = ["/usr/bin/kubectl", f"--server={env.server.url}", "logs", "-f", "-n", ns, "ticker", "-c", "ticker"]
    follower = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                                env={"PATH": "/usr/bin:/bin", "HOME": str(env.cache), "KUBECONFIG": "/dev/null"})
    try:
        lines = []
        deadline = time.monotonic() + 15
        while len(lines) < 8 and time.monotonic() < deadline:
            line = follower.stdout.readline()
            if line:
                lines.append(line.strip())
        numbers = [int(line.split()[1]) for line in lines]
        assert len(numbers) == 8 and numbers == sorted(numbers) and numbers[-1] >= 8, lines
    finally:
        follower.kill()
        follower.wait(5)
    assert len(env.kubectl("logs", "-n", ns, "ticker", "--tail=2").splitlines()) == 2
    stamped = env.kubectl("logs", "-n", ns, "ticker", "--tail=1", "--timestamps").strip()
    assert stamped.split(" ", 1)[0].endswith("Z") and "tick" in stamped

    counter = container("runner", "n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; "
                                  "echo run $n; sleep 1; exit 1",
                        volumeMounts=[{"name": "data", "mountPath": "/data"}])
    env.api.create(ns, "pods", pod("runner", env.node, [counter], volumes=[{"name": "data", "emptyDir": {}}]))
    env.api.wait_pod(ns, "runner", lambda p: status_of(p, "runner").get("restartCount", 0) == 1, timeout=20,
                     what="one restart")
    assert env.kubectl("logs", "-n", ns, "runner", "--previous") == "run 1\n"
    logs_until(env.server.url, env.cache, ns, "runner", "run 2")
    missing = env.kubectl("logs", "-n", ns, "ticker", "--previous", check=False)
    assert 'previous terminated container "ticker" in pod "ticker" not found' in missing


def test_restarted_kubelet_adopts_running_containers(env: Env, ns: str) -> None:
    created = env.api.create(ns, "pods", pod("adopt", env.node, [container("a", "exec sleep 3600"),
                                                                  container("b", "exec sleep 3600")]))
    doomed = env.api.create(ns, "pods", pod("doomed", env.node, [container("a", "exec sleep 3600")]))
    before = env.api.wait_pod(ns, "adopt", lambda p: running(p) and ready(p), what="Running and Ready")
    env.api.wait_pod(ns, "doomed", running, what="Running")
    containers_before = node_containers(env.node, created["metadata"]["uid"])
    assert len(containers_before) == 3  # the sandbox and two containers

    env.kubelet.kill()
    env.api.delete(ns, "pods", "doomed", grace=0)  # gone while the kubelet is down
    env.kubelet.start()
    deadline = time.monotonic() + 10
    while node_containers(env.node, doomed["metadata"]["uid"]):
        assert time.monotonic() < deadline, "containers of a pod deleted while the kubelet was down remain"
        time.sleep(0.2)
    time.sleep(2)  # time for a sync of the adopted pod, which must change nothing

    after = env.api.get(ns, "pods", "adopt")
    assert node_containers(env.node, created["metadata"]["uid"]) == containers_before
    assert running(after) and ready(after)
    for name in ("a", "b"):
        assert status_of(after, name)["restartCount"] == 0
        assert status_of(after, name)["containerID"] == status_of(before, name)["containerID"]
