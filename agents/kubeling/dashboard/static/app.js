// The live view: everything on this page comes from the API through watches, with the user's own credential.
//
// The page is served under the API server's service proxy, reached through `kubectl proxy`; so `/api/...` (a path
// from the root of the same origin) is the API, as the user's kubeconfig allows it. Each kind is read the way a
// client-go informer reads it: one list, then a watch from the list's resourceVersion, each event applied to a map
// kept here; when a watch ends it is resumed from the last resourceVersion seen, and a 410 Gone starts a new list.
// No timer asks the API for anything: what changes on the page changes because a watch event arrived.
"use strict";

const SIM = "kube-scheduler-simulator.sigs.k8s.io/";  // the scheduler's decision record (annotations on the pod)
const MAX_EVENTS = 400;

const state = {
  pods: new Map(), nodes: new Map(), leases: new Map(), events: new Map(), apiservers: new Map(),
  componentStatuses: [], selectedPod: null, refusals: new Map(),
};

// ---- small DOM helpers ------------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function key(obj) {
  const m = obj.metadata || {};
  return m.namespace ? `${m.namespace}/${m.name}` : m.name;
}

function ago(timestamp) {
  if (!timestamp) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(timestamp)) / 1000));
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

function clock(timestamp) {
  const date = new Date(timestamp);
  return isNaN(date) ? "" : date.toTimeString().slice(0, 8);
}

// ---- refusals: what the API would not show this user -------------------------------------------------------------

function refused(what, status, message) {
  state.refusals.set(what, `${what}: ${status} ${message}`);
  const list = document.getElementById("refusals");
  list.replaceChildren(...[...state.refusals.values()].map((text) => el("li", {}, text)));
  document.getElementById("refusal").hidden = false;
}

async function statusMessage(response) {
  try {
    const body = await response.json();
    return body.message || response.statusText;
  } catch (error) {
    return response.statusText;
  }
}

// ---- list and watch ------------------------------------------------------------------------------------------------

// Keep `items` (a Map by namespace/name) equal to the collection at `path`, calling `changed()` after each change.
async function informer(what, path, items, changed, onEvent) {
  let resourceVersion = "";
  let backoff = 500;
  for (;;) {
    try {
      if (!resourceVersion) {
        const response = await fetch(path, { headers: { Accept: "application/json" } });
        if (response.status === 401 || response.status === 403) {
          refused(what, response.status, await statusMessage(response));
          return;  // a refusal does not change by retrying: the page says so instead
        }
        if (!response.ok) throw new Error(`list ${path}: ${response.status}`);
        const list = await response.json();
        items.clear();
        for (const item of list.items || []) items.set(key(item), item);
        resourceVersion = list.metadata.resourceVersion;
        changed();
      }
      const separator = path.includes("?") ? "&" : "?";
      const url = `${path}${separator}watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}`;
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.status === 410) { resourceVersion = ""; continue; }
      if (!response.ok) throw new Error(`watch ${path}: ${response.status}`);
      setConnection("live");
      backoff = 500;
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        let newline;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (!line) continue;
          const event = JSON.parse(line);
          if (event.type === "ERROR") {
            if (event.object && event.object.code === 410) resourceVersion = "";
            throw new Error(`watch ${path}: ${event.object && event.object.message}`);
          }
          resourceVersion = event.object.metadata.resourceVersion || resourceVersion;
          if (event.type === "BOOKMARK") continue;
          if (event.type === "DELETED") items.delete(key(event.object));
          else items.set(key(event.object), event.object);
          if (onEvent) onEvent(event.type, event.object);
          changed();
        }
      }
    } catch (error) {
      console.warn(error);
      setConnection("broken");
      await new Promise((resolve) => setTimeout(resolve, backoff));  // a bounded wait before resuming, not a poll
      backoff = Math.min(backoff * 2, 30000);
    }
  }
}

function setConnection(status) {
  const badge = document.getElementById("connection");
  badge.className = status;
  badge.textContent = status;
}

// Render at most once per animation frame, however many events arrive.
const dirty = new Set();
function schedule(part) {
  if (dirty.size === 0) requestAnimationFrame(renderDirty);
  dirty.add(part);
}
function renderDirty() {
  const parts = [...dirty];
  dirty.clear();
  for (const part of parts) part();
}

// ---- the architecture ---------------------------------------------------------------------------------------------

function leaseOf(namespace, name) {
  return state.leases.get(`${namespace}/${name}`);
}

function holder(lease) {
  if (!lease) return "no lease";
  const spec = lease.spec || {};
  const who = (spec.holderIdentity || "nobody").split("_")[0];
  return `${who}, renewed ${ago(spec.renewTime)}`;
}

function componentHealth(prefix) {
  const matches = state.componentStatuses.filter((c) => c.metadata.name.startsWith(prefix));
  if (!matches.length) return null;
  return matches.every((c) => (c.conditions || []).some((k) => k.type === "Healthy" && k.status === "True"));
}

function box(id, x, y, w, h, title, lines, healthy) {
  const cls = healthy === true ? "box healthy" : healthy === false ? "box unhealthy" : "box";
  return svg("g", { class: cls, "data-component": id },
    svg("rect", { x, y, width: w, height: h }),
    svg("text", { x: x + 6, y: y + 14, class: "title" }, title),
    lines.slice(0, Math.floor((h - 16) / 12)).map((line, i) => svg("text", { x: x + 6, y: y + 27 + i * 12 }, line)));
}

function arrow(x1, y1, x2, y2, label) {
  return [svg("path", { class: "arrow", d: `M${x1},${y1} L${x2},${y2}` }),
          label ? svg("text", { class: "arrow-label", x: (x1 + x2) / 2 + 3, y: (y1 + y2) / 2 - 2 }, label) : null];
}

function renderArchitecture() {
  const nodes = [...state.nodes.values()];
  const etcd = state.componentStatuses.filter((c) => c.metadata.name.startsWith("etcd"));
  const apiservers = [...state.apiservers.values()].flatMap((e) => (e.subsets || []).flatMap(
    (s) => (s.addresses || []).map((a) => `${a.ip}:${(s.ports || [{}])[0].port}`)));
  const dns = [...state.leases.values()].filter((l) => (l.metadata.labels || {})["kubeling.io/dns-daemon"]);
  const heartbeat = nodes.map((n) => `${n.metadata.name}: ${ago((leaseOf("kube-node-lease", n.metadata.name) || {
    spec: {} }).spec.renewTime)}`);
  const picture = document.getElementById("architecture");
  picture.replaceChildren(...[
    svg("defs", {}, svg("marker", { id: "head", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6,
                                    markerHeight: 6, orient: "auto-start-reverse" },
                        svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7a869c" }))),
    box("kubectl", 5, 5, 130, 44, "kubectl / this page", ["your kubeconfig, kubectl proxy"]),
    box("load-balancer", 5, 80, 130, 44, "load balancer", ["in front of the API servers"]),
    box("apiserver", 200, 80, 170, 56, "API server", apiservers.length ? apiservers : ["answering"], true),
    box("etcd", 440, 80, 150, 56, "etcd", etcd.length ? etcd.map((c) => `${c.metadata.name}: ${
      componentHealth(c.metadata.name) ? "healthy" : "unhealthy"}`) : ["members: not visible"],
        componentHealth("etcd")),
    box("scheduler", 200, 5, 190, 44, "scheduler", [`leader: ${holder(leaseOf("kube-system", "kube-scheduler"))}`],
        componentHealth("scheduler")),
    box("controller-manager", 400, 5, 195, 44, "controller manager",
        [`leader: ${holder(leaseOf("kube-system", "kube-controller-manager"))}`], componentHealth("controller-manager")),
    box("kubelet", 200, 170, 200, 70, `kubelets (${nodes.length} nodes)`,
        heartbeat.length ? heartbeat : ["no node visible"]),
    box("runtime", 440, 170, 150, 34, "container runtime", ["Docker, on each node"]),
    box("kube-proxy", 5, 170, 130, 34, "kube-proxy", ["Service rules, each node"]),
    box("dns", 5, 215, 130, 44, "cluster DNS", [`${dns.length} daemon(s) with a lease`]),
    box("pod-network", 440, 215, 150, 44, "pod network", ["host-gw routes (kubeling network)"]),
    arrow(70, 49, 70, 80, "HTTPS"), arrow(135, 102, 200, 102, "HTTPS"), arrow(370, 108, 440, 108, "HTTPS"),
    arrow(295, 49, 285, 80, "watch, bind"), arrow(495, 49, 340, 80, "watch, write"),
    arrow(300, 170, 300, 136, "watch, status"), arrow(400, 187, 440, 187, "Docker API"),
    arrow(135, 187, 200, 120, "watch"), arrow(135, 237, 200, 130, "watch"), arrow(400, 230, 440, 237, ""),
  ].flat());
}

// ---- nodes and pods -----------------------------------------------------------------------------------------------

function podClass(pod) {
  if (pod.metadata.deletionTimestamp) return "terminating";
  if (!pod.spec.nodeName) return "unscheduled";
  return (pod.status && pod.status.phase) || "Pending";
}

// Chips and cards are kept from one drawing to the next (by pod and node name), so a pod that changes phase or
// node is the same element moving and changing colour, and a click lands on what it aimed at.
const chipElements = new Map();
const cardElements = new Map();

function podChip(pod) {
  const podKey = key(pod);
  let chip = chipElements.get(podKey);
  if (!chip) {
    chip = el("span", { "data-pod": podKey, onclick: () => selectPod(podKey) }, pod.metadata.name);
    chip.classList.add("new");  // a moment's highlight as it arrives
    setTimeout(() => chip.classList.remove("new"), 1500);
    chipElements.set(podKey, chip);
  }
  const cls = podClass(pod);
  chip.className = `pod ${cls}${chip.classList.contains("new") ? " new" : ""}`;
  chip.dataset.phase = cls;
  chip.title = `${podKey}: ${cls}${pod.spec.nodeName ? ` on ${pod.spec.nodeName}` : ""}`;
  return chip;
}

function nodeReady(node) {
  return ((node.status || {}).conditions || []).some((c) => c.type === "Ready" && c.status === "True");
}

function nodeCard(name, title, detail, notReady) {
  let card = cardElements.get(name);
  if (!card) {
    card = el("div", { class: "node", "data-node": name }, el("h4", {}), el("div", { class: "pods" }));
    cardElements.set(name, card);
  }
  card.classList.toggle("notready", notReady);
  card.firstChild.replaceChildren(title, " ", el("small", {}, detail));
  return card;
}

function renderNodes() {
  const byNode = new Map();
  for (const pod of state.pods.values()) {
    const where = pod.spec.nodeName || "";
    if (!byNode.has(where)) byNode.set(where, []);
    byNode.get(where).push(pod);
  }
  const names = [...new Set([...state.nodes.keys(), ...byNode.keys()])].filter((n) => n).sort();
  const waiting = byNode.get("") || [];
  if (waiting.length) names.unshift("");
  const cards = names.map((name) => {
    const pods = (byNode.get(name) || []).sort((a, b) => key(a).localeCompare(key(b)));
    let card;
    if (name === "") {
      card = nodeCard("", "not scheduled yet", `${pods.length} pods`, false);
    } else {
      const ready = state.nodes.has(name) && nodeReady(state.nodes.get(name));
      card = nodeCard(name, name, `${ready ? "Ready" : "NotReady"} · ${pods.length} pods`, !ready);
    }
    card.lastChild.replaceChildren(...pods.map(podChip));  // moves kept chips here, in order
    return card;
  });
  for (const podKey of chipElements.keys()) if (!state.pods.has(podKey)) chipElements.delete(podKey);
  for (const name of cardElements.keys()) if (!names.includes(name)) cardElements.delete(name);
  document.getElementById("nodes").replaceChildren(...cards);
  if (state.selectedPod) renderPod();
}

// ---- the timeline -------------------------------------------------------------------------------------------------

// One shape for events.k8s.io/v1 and core/v1 Events.
function normalEvent(e) {
  const regarding = e.regarding || e.involvedObject || {};
  return {
    key: key(e),
    time: e.deprecatedLastTimestamp || e.lastTimestamp || (e.series && e.series.lastObservedTime) || e.eventTime ||
      e.deprecatedFirstTimestamp || e.firstTimestamp || e.metadata.creationTimestamp,
    controller: e.reportingController || e.reportingComponent || (e.deprecatedSource || e.source || {}).component ||
      "unknown",
    action: e.action || "", reason: e.reason || "", note: e.note || e.message || "", type: e.type || "Normal",
    namespace: e.metadata.namespace || "", regarding, related: e.related || null,
    count: (e.series && e.series.count) || e.deprecatedCount || e.count || 1,
  };
}

function eventLine(event) {
  const what = `${(event.regarding.kind || "").toLowerCase()}/${event.regarding.name || ""}`;
  return el("li", { class: `event ${event.type}`, "data-controller": event.controller,
                    "data-namespace": event.namespace, "data-reason": event.reason, "data-regarding": what },
    el("span", { class: "when" }, clock(event.time)), " ",
    el("span", { class: "who" }, event.controller), " ",
    event.action ? el("span", { class: "action" }, event.action) : null, " ",
    el("span", { class: "reason" }, event.reason), " ", what,
    event.count > 1 ? ` (×${event.count})` : "",
    el("div", { class: "muted" }, event.note));
}

function sortedEvents() {
  return [...state.events.values()].map(normalEvent).sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
}

function fillSelect(id, values) {
  const select = document.getElementById(id);
  const have = new Set([...select.options].map((o) => o.value));
  for (const value of [...values].sort()) if (!have.has(value)) select.append(el("option", { value }, value));
}

function renderTimeline() {
  const events = sortedEvents();
  fillSelect("filter-controller", new Set(events.map((e) => e.controller)));
  fillSelect("filter-namespace", new Set(events.map((e) => e.namespace).filter((n) => n)));
  const controller = document.getElementById("filter-controller").value;
  const namespace = document.getElementById("filter-namespace").value;
  const shown = events.filter((e) => (!controller || e.controller === controller) &&
                                     (!namespace || e.namespace === namespace)).slice(0, MAX_EVENTS);
  document.getElementById("timeline").replaceChildren(...shown.map(eventLine));
  if (state.selectedPod) renderPod();
}

function trimEvents() {
  if (state.events.size <= MAX_EVENTS * 2) return;
  const oldest = sortedEvents().slice(MAX_EVENTS * 2);
  for (const event of oldest) state.events.delete(event.key);
}

// ---- one pod: its scheduling table and its story ------------------------------------------------------------------

function selectPod(podKey) {
  state.selectedPod = podKey;
  document.getElementById("pod-pane").hidden = false;
  renderPod();
}

function parseJSON(text) {
  try { return text ? JSON.parse(text) : null; } catch (error) { return null; }
}

function schedulingTable(pod) {
  const annotations = pod.metadata.annotations || {};
  const filters = parseJSON(annotations[SIM + "filter-result"]);
  if (!filters) {
    return el("p", { class: "muted" }, pod.spec.nodeName
      ? `No decision record on this pod: it was bound to ${pod.spec.nodeName} without one (the scheduler ` +
        "records its decisions unless --record-decisions=false; a pod created with spec.nodeName is never scheduled)."
      : "No decision record yet: the scheduler has not tried this pod.");
  }
  const raw = parseJSON(annotations[SIM + "score-result"]) || {};
  const final = parseJSON(annotations[SIM + "finalscore-result"]) || {};
  const selected = annotations[SIM + "selected-node"] || "";
  const filterPlugins = [...new Set(Object.values(filters).flatMap((m) => Object.keys(m)))];
  const scorePlugins = [...new Set(Object.values(final).flatMap((m) => Object.keys(m)))];
  const head = el("tr", {}, el("th", {}, "node"), filterPlugins.map((p) => el("th", {}, p)),
                  scorePlugins.map((p) => el("th", { title: "weighted (raw)" }, p)), el("th", {}, "total"));
  const rows = Object.keys(filters).sort().map((node) => {
    const cells = filterPlugins.map((plugin) => {
      const result = filters[node][plugin];
      if (result === undefined) return el("td", { class: "absent", title: "not run: an earlier filter failed" }, "–");
      return result === "passed" ? el("td", { class: "passed" }, "✓") : el("td", { class: "rejected" }, result);
    });
    const scores = scorePlugins.map((plugin) => {
      const weighted = (final[node] || {})[plugin];
      const before = (raw[node] || {})[plugin];
      return el("td", {}, weighted === undefined ? "" : `${weighted}${before !== undefined ? ` (${before})` : ""}`);
    });
    const total = Object.values(final[node] || {}).reduce((sum, v) => sum + Number(v), 0);
    return el("tr", { class: node === selected ? "selected" : "", "data-node": node },
              el("td", {}, node === selected ? `${node} ← chosen` : node), cells, scores,
              el("td", {}, final[node] ? String(total) : ""));
  });
  const verdict = selected ? `The scheduler chose ${selected}.` : "No node fits: the pod is unschedulable.";
  // A large cluster's record is bounded: the chosen node, the best others, one node per distinct rejection.
  const counts = parseJSON(annotations["kubeling.io/decision-nodes"]);
  const bounded = counts && counts.recorded < counts.evaluated
    ? ` Showing ${counts.recorded} of the ${counts.evaluated} nodes evaluated (${counts.feasible} passed every filter).`
    : "";
  return el("div", {}, el("p", {}, verdict + bounded), el("table", { class: "sched", id: "sched-table" }, head, rows));
}

function story(pod) {
  const uid = pod.metadata.uid;
  const lines = [];
  for (const owner of pod.metadata.ownerReferences || []) {
    lines.push({ time: pod.metadata.creationTimestamp, text: `created by ${owner.kind}/${owner.name}` });
  }
  for (const e of sortedEvents()) {
    const about = (ref) => ref && (ref.uid ? ref.uid === uid :
      ref.kind === "Pod" && ref.name === pod.metadata.name && e.namespace === pod.metadata.namespace);
    if (about(e.regarding) || about(e.related)) {
      lines.push({ time: e.time, text: `${e.controller}: ${e.reason}${e.action ? ` (${e.action})` : ""} — ${e.note}` });
    }
  }
  lines.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  const conditions = ((pod.status || {}).conditions || []).map(
    (c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ""}`).join(", ");
  return [...lines.map((l) => el("li", {}, el("span", { class: "when" }, clock(l.time)), " ", l.text)),
          el("li", { class: "muted" }, `now: phase ${podClass(pod)}${conditions ? `; ${conditions}` : ""}`)];
}

function renderPod() {
  const pod = state.pods.get(state.selectedPod);
  document.getElementById("pod-title").textContent = pod ? `pod ${state.selectedPod}` :
    `pod ${state.selectedPod} (deleted)`;
  if (!pod) return;
  document.getElementById("sched").replaceChildren(schedulingTable(pod));
  document.getElementById("story").replaceChildren(...story(pod));
}

// ---- start ------------------------------------------------------------------------------------------------------

async function whoami() {
  try {
    const response = await fetch("/apis/authentication.k8s.io/v1/selfsubjectreviews", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" }) });
    const review = await response.json();
    const user = review.status.userInfo;
    document.getElementById("whoami").textContent = `you are ${user.username}`;
  } catch (error) {
    document.getElementById("whoami").textContent = "";
  }
}

// componentstatuses cannot be watched (upstream serves only get and list): they are read again when a Lease
// changes, which is when leadership or a heartbeat changes, at most every 10 seconds.
let statusesRead = 0;
async function readComponentStatuses() {
  if (Date.now() - statusesRead < 10000) return;
  statusesRead = Date.now();
  try {
    const response = await fetch("/api/v1/componentstatuses");
    if (response.ok) state.componentStatuses = (await response.json()).items || [];
  } catch (error) {
    console.warn(error);
  }
  schedule(renderArchitecture);
}

async function eventsPath() {
  // events.k8s.io/v1 carries reportingController and action; an API without it still has core/v1 Events.
  const probe = await fetch("/apis/events.k8s.io/v1/events?limit=1");
  return probe.status === 404 ? "/api/v1/events" : "/apis/events.k8s.io/v1/events";
}

async function main() {
  document.getElementById("pod-close").addEventListener("click", () => {
    state.selectedPod = null;
    document.getElementById("pod-pane").hidden = true;
  });
  for (const id of ["filter-controller", "filter-namespace"]) {
    document.getElementById(id).addEventListener("change", () => schedule(renderTimeline));
  }
  whoami();
  readComponentStatuses();
  renderArchitecture();
  informer("list pods", "/api/v1/pods", state.pods, () => schedule(renderNodes));
  informer("list nodes", "/api/v1/nodes", state.nodes, () => { schedule(renderNodes); schedule(renderArchitecture); });
  informer("list leases", "/apis/coordination.k8s.io/v1/leases", state.leases, () => {
    schedule(renderArchitecture);
    readComponentStatuses();
  });
  informer("get the API servers' endpoints", "/api/v1/namespaces/default/endpoints?fieldSelector=metadata.name%3Dkubernetes",
           state.apiservers, () => schedule(renderArchitecture));
  informer("list events", await eventsPath(), state.events, () => { trimEvents(); schedule(renderTimeline); });
}

main();
