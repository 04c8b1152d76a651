"""The live view in a real browser: headless Chromium opens the page through `kubectl proxy` and the API server's
service proxy, as a user would, against a real secured cluster (TLS, Node,RBAC; scheduler and controller-manager
with leader election; a kubelet on Docker; `kubeling dashboard`).

The admin scales a Deployment and sees the new pods appear on their node and the ReplicaSet controller's actions in
the timeline, then opens a pod's scheduling table; a screenshot goes to artifacts/live-view.png and the observed
latencies to artifacts/live-view-latency.json (docs/architecture.md quotes them; nothing here asserts a time).
The page's architecture shows each loop's leader, the nodes' heartbeats and etcd; a pod moves from "not scheduled
yet" onto its node and leaves when deleted. The same page in headless Firefox (WebDriver BiDi, tests/support/bidi.py;
screenshot artifacts/live-view-firefox.png). A user with no RBAC bindings sees the page, and on it the API's refusal.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubelet_harness import ensure_images, remove_node_containers
from test_kubelet_tls import KUBECTL, Cluster, eventually

from cluster import ROOT, Component, KubelingProcess, free_port, stop_group, wait_for
from kubeling.dashboard.manifest import PROXY_PATH
from support.bidi import FIREFOX, Firefox
from support.pki import Pair

pytestmark = pytest.mark.e2e

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402

ARTIFACTS = ROOT / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
BOUND = 60.0  # how long the page may take to show a change: generous, the machine is shared; the figure is recorded


class Dashboard(KubelingProcess):
    """`kubeling dashboard` serving HTTPS with a certificate of the cluster's CA, as on a worker."""

    def __init__(self, workdir: Path, cert: Pair, ca: Path) -> None:
        self.port, self.cert, self.ca = free_port(), cert, ca
        self.log_path = workdir / f"dashboard-{self.port}.log"

    def start(self) -> Dashboard:
        self.spawn(["dashboard", "--address", "127.0.0.1", "--port", str(self.port),
                    "--tls-cert-file", str(self.cert.cert), "--tls-private-key-file", str(self.cert.key)], None)
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"https://127.0.0.1:{self.port}/healthz", verify=str(self.ca), timeout=2).ok:
                    return self
            assert time.monotonic() < deadline and self.proc and self.proc.poll() is None, self.logs()
            time.sleep(0.1)


class KubectlProxy:
    """`kubectl proxy` with one user's kubeconfig: how a user opens the page."""

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        self.kubeconfig, self.workdir = kubeconfig, workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> KubectlProxy:
        cache = self.workdir / f"proxy-cache-{self.port}"
        self.log = open(self.workdir / f"kubectl-proxy-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([KUBECTL, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={cache}", "proxy",
                                      f"--port={self.port}"], stdout=self.log, stderr=subprocess.STDOUT,
                                     env={"PATH": "/usr/bin:/bin", "HOME": str(cache)}, start_new_session=True)
        wait_for(self.url + "/version", proc=self.proc)
        return self

    def stop(self) -> None:
        stop_group(self.proc)


class LiveCluster(Cluster):
    """test_kubelet_tls's secured cluster, plus what the live view shows: a scheduler, the workload controllers
    (both electing a leader, so their Leases exist), and the dashboard published by its own manifest."""

    def __init__(self, workdir: Path, etcd_url: str) -> None:
        super().__init__(workdir, etcd_url)
        self.controllers = Component("controller-manager", self.url, workdir, [
            "--kubeconfig", str(self.kubeconfig("controller-manager", self.controller_manager)),
            "--controllers", "serviceaccount,root-ca-cert-publisher,deployment,replicaset",
            "--root-ca-file", str(self.ca.cert)])
        self.scheduler = Component("scheduler", self.url, workdir, [
            "--kubeconfig", str(self.kubeconfig("scheduler", self.ca.issue("system:kube-scheduler")))])
        self.dashboard = Dashboard(workdir, self.ca.issue("dashboard", server=True, client=False,
                                                          sans=["127.0.0.1"]), self.ca.cert)
        self.nobody = self.kubeconfig("nobody", self.ca.issue("nobody"))  # authenticated, bound to nothing
        self.ghost = f"ghost-{self.node}"

    def publish_dashboard(self) -> None:
        manifest = subprocess.run(
            [str(ROOT / ".venv/bin/python"), "-m", "kubeling", "dashboard", "--print-manifest",
             "--advertise", f"{self.node}=127.0.0.1", "--port", str(self.dashboard.port)],
            capture_output=True, text=True, check=True, env={"PYTHONPATH": str(ROOT / "agents")}).stdout
        assert {o["kind"] for o in yaml.safe_load_all(manifest)} == {"Service", "Endpoints", "Role", "RoleBinding"}
        path = self.workdir / "dashboard.yaml"
        path.write_text(manifest)
        self.kubectl("apply", f"--filename={path}")


@pytest.fixture(scope="module")
def live(etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCluster]:
    try:
        ensure_images()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            pytest.fail(f"{binary} is missing: run `make deps` (Debian's chromium and chromium-driver)")
    cluster = LiveCluster(tmp_path_factory.mktemp("live-view"), etcd.url)
    with contextlib.ExitStack() as stack:
        # Callbacks run last-in first-out: the node's containers and network go once the kubelet has stopped
        # (a running kubelet would start its pods' containers again).
        stack.callback(subprocess.run, ["docker", "network", "rm", cluster.network], capture_output=True)
        stack.callback(remove_node_containers, cluster.node)
        for part in (cluster.server, cluster.controllers, cluster.scheduler, cluster.kubelet, cluster.dashboard):
            part.start()
            stack.callback(part.stop)
        eventually(lambda: (n := cluster.get(f"/api/v1/nodes/{cluster.node}")) and n.get("status", {}).get("nodeInfo"),
                   "the node to register", 60)
        # A Node no kubelet runs: never Ready, so the scheduling table has a rejected row to show.
        response = cluster.call("POST", "/api/v1/nodes", {"metadata": {"name": cluster.ghost}})
        assert response.status_code == 201, response.text
        cluster.publish_dashboard()
        yield cluster


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                 "--disable-gpu"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # the page's requests, to check for polls
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def firefox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Firefox]:
    if not Path(FIREFOX).exists():
        pytest.fail(f"{FIREFOX} is missing: run `make deps` (Debian's firefox-esr)")
    with Firefox.start(tmp_path_factory.mktemp("firefox"), width=1280, height=800) as browser:
        yield browser


def wait_until(check: Callable[[], Any], what: str, timeout: float = BOUND) -> tuple[Any, float]:
    """Poll the page (the test's side, not the page's) until `check()` is truthy; return it and the time taken."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            result = check()
            if result:
                return result, time.monotonic() - started
        assert time.monotonic() - started < timeout, f"the page did not show {what} within {timeout}s"
        time.sleep(0.05)


def chips(driver: webdriver.Chrome, node: str, ns: str) -> list[str]:
    elements = driver.find_elements(By.CSS_SELECTOR, f'.node[data-node="{node}"] .pod[data-pod^="{ns}/"]')
    return [e.get_attribute("data-pod") for e in elements]


def test_the_admin_watches_a_deployment_scale_and_opens_a_pods_scheduling_table(live: LiveCluster,
                                                                                browser: webdriver.Chrome) -> None:
    ns = live.namespace()
    proxy = KubectlProxy(live.kubeconfig("admin", live.admin), live.workdir).start()
    try:
        page = requests.get(proxy.url + PROXY_PATH, timeout=30)
        assert page.status_code == 200 and "kubeling live view" in page.text
        browser.get(proxy.url + PROXY_PATH)
        wait_until(lambda: browser.find_element(By.ID, "connection").text == "live", "its watches connected")
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f'.node[data-node="{live.node}"]'), "the node")

        live.kubectl("create", "deployment", "web", "--image=kubeling/busybox:1", "-n", ns, "--",
                     "sh", "-c", "exec sleep 3600")
        wait_until(lambda: len(chips(browser, live.node, ns)) == 1, "the first pod on its node")
        started = time.monotonic()
        live.kubectl("scale", "deployment", "web", "--replicas=3", "-n", ns)
        _, appeared = wait_until(lambda: len(chips(browser, live.node, ns)) == 3, "the new pods on their node")
        creates = (f'.event[data-reason="SuccessfulCreate"][data-namespace="{ns}"]'
                   '[data-regarding^="replicaset/web-"]')
        found, in_timeline = wait_until(lambda: (e := browser.find_elements(By.CSS_SELECTOR, creates)) and
                                        len(e) >= 3 and e, "the ReplicaSet controller's creates")
        in_timeline = time.monotonic() - started
        controller = found[0].get_attribute("data-controller")
        _, running = wait_until(lambda: len(browser.find_elements(
            By.CSS_SELECTOR, f'.node[data-node="{live.node}"] .pod.Running[data-pod^="{ns}/"]')) == 3,
            "the three pods running")
        running = time.monotonic() - started

        # The timeline filters by controller and namespace.
        browser.find_element(By.CSS_SELECTOR, f'#filter-namespace option[value="{ns}"]').click()
        browser.find_element(By.CSS_SELECTOR, f'#filter-controller option[value="{controller}"]').click()
        wait_until(lambda: {(e.get_attribute("data-controller"), e.get_attribute("data-namespace"))
                            for e in browser.find_elements(By.CSS_SELECTOR, "#timeline .event")} == {(controller, ns)},
                   "only the ReplicaSet controller's events in the namespace")

        # A pod's scheduling table: the kubelet's node passed every filter and was chosen; the ghost was not ready.
        # (The page redraws on every watch event, so each look at it is retried until it holds still.)
        pod_chip = f'.node[data-node="{live.node}"] .pod[data-pod^="{ns}/"]'
        wait_until(lambda: browser.find_element(By.CSS_SELECTOR, pod_chip).click() or True, "a pod to click")

        def table() -> tuple[str, bool, int, str]:
            chosen = browser.find_element(By.CSS_SELECTOR, "#sched-table tr.selected")
            ghost = browser.find_element(By.CSS_SELECTOR, f'#sched-table tr[data-node="{live.ghost}"] td.rejected')
            return (chosen.get_attribute("data-node"), "✓" in chosen.text,
                    len(chosen.find_elements(By.CSS_SELECTOR, "td.rejected")), ghost.text)

        shown, _ = wait_until(table, "the scheduling table")
        assert shown[:3] == (live.node, True, 0) and "not ready" in shown[3], shown
        story, _ = wait_until(lambda: (t := browser.find_element(By.ID, "story").text) and "Scheduled" in t and t,
                              "the pod's story")
        assert "created by ReplicaSet/web-" in story and "Scheduled" in story

        # Readable at 1280x800: nothing is wider than the window (it scrolls only down).
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "live-view.png"))
        figures = {"new pods shown on their node": round(appeared, 2),
                   "ReplicaSet creates shown in the timeline": round(in_timeline, 2),
                   "pods shown Running": round(running, 2)}
        (ARTIFACTS / "live-view-latency.json").write_text(json.dumps(
            {"seconds after `kubectl scale` returned": figures}, indent=2) + "\n")
        print(f"live view latencies (s): {figures}")

        # Scaling down: the ReplicaSet controller's deletes reach the timeline, and the pods turn terminating and
        # leave their node.
        live.kubectl("scale", "deployment", "web", "--replicas=1", "-n", ns)
        deletes = (f'.event[data-reason="SuccessfulDelete"][data-namespace="{ns}"]'
                   '[data-regarding^="replicaset/web-"]')
        wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, deletes)) >= 2,
                   "the ReplicaSet controller's deletes")
        wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, f'.pod.terminating[data-pod^="{ns}/"]')) == 2,
                   "the two pods terminating")
        wait_until(lambda: len(chips(browser, live.node, ns)) == 1, "the deleted pods gone from their node")
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "live-view-failed.png"))
        raise
    finally:
        proxy.stop()


def test_the_architecture_shows_who_leads_each_loop_the_heartbeats_and_etcd(live: LiveCluster,
                                                                            browser: webdriver.Chrome) -> None:
    proxy = KubectlProxy(live.kubeconfig("admin", live.admin), live.workdir).start()
    try:
        browser.get(proxy.url + PROXY_PATH)

        def shown(component: str) -> str:
            box = browser.find_element(By.CSS_SELECTOR, f'#architecture [data-component="{component}"]')
            return f'{box.get_attribute("class")}: {box.get_attribute("textContent")}'

        # Which instance leads each loop: the holder of its Lease (the identity's host part), and healthy.
        for lease, component in (("kube-scheduler", "scheduler"), ("kube-controller-manager", "controller-manager")):
            holder = eventually(lambda lease=lease: (found := live.get(
                f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}")) and
                found["spec"].get("holderIdentity"), f"the {lease} Lease held", 60)
            wait_until(lambda component=component, holder=holder: (text := shown(component)).startswith(
                "box healthy:") and f"leader: {holder.split('_')[0]}, renewed " in text, f"the {component}'s leader")
        # Each node's last heartbeat (its Lease in kube-node-lease); the ghost node never sent one.
        wait_until(lambda: re.search(rf"{live.node}: \d+s ago", shown("kubelet")) and
                   f"{live.ghost}: never" in shown("kubelet"), "the nodes' heartbeats")
        # etcd's members, from componentstatuses; the API servers, from the `kubernetes` Endpoints.
        wait_until(lambda: "etcd-0: healthy" in shown("etcd"), "etcd's member healthy")
        wait_until(lambda: f"127.0.0.1:{live.secure_port}" in shown("apiserver"), "the API server's address")

        # No polling loop: once the watches are open, the page asks for nothing but watches (and componentstatuses,
        # which cannot be watched: read again when a Lease changes, at most every 10 s), while Leases keep changing.
        def requested() -> list[str]:
            sent = [json.loads(entry["message"])["message"] for entry in browser.get_log("performance")]
            return [m["params"]["request"]["url"] for m in sent if m.get("method") == "Network.requestWillBeSent"]

        assert any(url.endswith("/api/v1/pods") for url in requested())  # the log sees the page's first list
        time.sleep(12)
        urls = requested()
        polls = [url for url in urls if "watch=1" not in url and not url.endswith("/api/v1/componentstatuses")]
        assert not polls, polls
        assert sum(url.endswith("/api/v1/componentstatuses") for url in urls) <= 2, urls
    finally:
        proxy.stop()


def test_a_pod_moves_onto_its_node_when_scheduled_and_leaves_when_deleted(live: LiveCluster,
                                                                          browser: webdriver.Chrome) -> None:
    ns = live.namespace()
    label = f"live-view-{ns}"
    proxy = KubectlProxy(live.kubeconfig("admin", live.admin), live.workdir).start()
    try:
        browser.get(proxy.url + PROXY_PATH)
        wait_until(lambda: browser.find_element(By.ID, "connection").text == "live", "its watches connected")
        live.create(ns, "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "waiting"}, "spec": {
            "terminationGracePeriodSeconds": 0, "nodeSelector": {label: "yes"},
            "containers": [{"name": "c", "image": "kubeling/busybox:1", "command": ["sh", "-c", "exec sleep 3600"]}]}})
        pod = f'.pod[data-pod="{ns}/waiting"]'
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f'.node[data-node=""] {pod}.unscheduled'),
                   "the pod under \"not scheduled yet\"")
        live.kubectl("label", "node", live.node, f"{label}=yes")
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f'.node[data-node="{live.node}"] {pod}') and
                   not browser.find_elements(By.CSS_SELECTOR, f'.node[data-node=""] {pod}'), "the pod on its node")
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f'.node[data-node="{live.node}"] {pod}.Running'),
                   "the pod Running")
        live.kubectl("delete", "pod", "waiting", "-n", ns, "--wait=false")
        wait_until(lambda: not browser.find_elements(By.CSS_SELECTOR, pod), "the deleted pod gone from the page")
    finally:
        live.kubectl("label", "node", live.node, f"{label}-", check=False)
        proxy.stop()


def test_firefox_shows_the_same_page(live: LiveCluster, firefox: Firefox) -> None:
    """The page in Firefox (Debian's firefox-esr, driven through WebDriver BiDi): the same watches, pods on their
    node, the controllers' timeline, a pod's scheduling table, the architecture's leaders, at 1280x800."""
    ns = live.namespace()
    proxy = KubectlProxy(live.kubeconfig("admin", live.admin), live.workdir).start()

    def count(selector: str) -> int:
        return firefox.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length")

    try:
        firefox.open(proxy.url + PROXY_PATH)
        wait_until(lambda: firefox.evaluate("document.getElementById('connection').textContent") == "live",
                   "its watches connected")
        live.kubectl("create", "deployment", "web", "--replicas=2", "--image=kubeling/busybox:1", "-n", ns, "--",
                     "sh", "-c", "exec sleep 3600")
        wait_until(lambda: count(f'.node[data-node="{live.node}"] .pod.Running[data-pod^="{ns}/"]') == 2,
                   "the two pods running on their node")
        creates = (f'.event[data-reason="SuccessfulCreate"][data-namespace="{ns}"]'
                   '[data-controller="replicaset-controller"]')
        wait_until(lambda: count(creates) >= 2, "the ReplicaSet controller's creates")
        firefox.evaluate(f"document.querySelector('.node[data-node=\"{live.node}\"] .pod[data-pod^=\"{ns}/\"]')"
                         ".click()")
        wait_until(lambda: firefox.evaluate("(document.querySelector('#sched-table tr.selected') || {}).dataset"
                                            "?.node") == live.node, "the pod's scheduling table")
        assert count(f'#sched-table tr[data-node="{live.ghost}"] td.rejected') == 1
        wait_until(lambda: "leader: " in firefox.evaluate(
            "document.querySelector('[data-component=\"scheduler\"]').textContent"), "the scheduler's leader")
        assert firefox.evaluate("document.documentElement.scrollWidth") <= 1280
        ARTIFACTS.mkdir(exist_ok=True)
        firefox.screenshot(ARTIFACTS / "live-view-firefox.png")
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            firefox.screenshot(ARTIFACTS / "live-view-firefox-failed.png")
        raise
    finally:
        proxy.stop()


def test_a_user_without_rights_sees_the_refusal_on_the_page(live: LiveCluster, browser: webdriver.Chrome) -> None:
    proxy = KubectlProxy(live.nobody, live.workdir).start()
    try:
        # The page itself is open to every authenticated user (the manifest's Role); the data is not.
        browser.get(proxy.url + PROXY_PATH)
        text, _ = wait_until(lambda: (b := browser.find_element(By.ID, "refusal")).is_displayed() and b.text,
                             "the refusal")
        assert "refused" in text and 'User "nobody" cannot list resource "pods"' in text, text
        wait_until(lambda: browser.find_element(By.ID, "whoami").text == "you are nobody", "who the page says you are")
        assert not browser.find_elements(By.CSS_SELECTOR, ".pod[data-pod]")
        # Anonymous users do not get the page at all, and the dashboard itself speaks only TLS.
        anonymous = requests.get(live.url + PROXY_PATH, verify=str(live.ca.cert), timeout=30)
        assert anonymous.status_code in (401, 403)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{live.dashboard.port}/", timeout=10)
    finally:
        proxy.stop()
