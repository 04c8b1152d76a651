// The JavaScript client (@kubernetes/client-node) against a kubeling API server: list, merge patch, watch and an
// informer. Prints one JSON line per step; tests/e2e/test_client_compat.py checks them.
// Usage: node node_client.mjs KUBECONFIG NAMESPACE
import * as k8s from '@kubernetes/client-node';

const [kubeconfig, ns] = process.argv.slice(2);
const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const report = (step, value) => console.log(JSON.stringify({step, value}));
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

await core.createNamespacedConfigMap({namespace: ns, body: {metadata: {name: 'js-a'}, data: {v: '1'}}});
const list = await core.listNamespacedConfigMap({namespace: ns});
report('list', list.items.map((item) => item.metadata.name));

const patched = await core.patchNamespacedConfigMap({name: 'js-a', namespace: ns, body: {data: {v: '2'}}},
  k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
report('patch', patched.data);

const daemonSet = await apps.createNamespacedDaemonSet({namespace: ns, body: {
  metadata: {name: 'js-ds'},
  spec: {selector: {matchLabels: {app: 'js'}},
         template: {metadata: {labels: {app: 'js'}}, spec: {containers: [{name: 'c', image: 'busybox'}]}}}}});
report('daemonset-status', daemonSet.status);

const seen = [];
const watch = new k8s.Watch(kc);
const request = await watch.watch(`/api/v1/namespaces/${ns}/configmaps`,
  {resourceVersion: list.metadata.resourceVersion},
  (type, obj) => seen.push([type, obj.metadata.name]), () => {});
await core.createNamespacedConfigMap({namespace: ns, body: {metadata: {name: 'js-b'}}});
for (let i = 0; i < 50 && seen.length < 2; i++) await pause(100);
request.abort();
report('watch', seen);

const added = [];
const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/configmaps`,
  () => core.listNamespacedConfigMap({namespace: ns}));
informer.on('add', (obj) => added.push(obj.metadata.name));
await informer.start();
await core.createNamespacedConfigMap({namespace: ns, body: {metadata: {name: 'js-c'}}});
for (let i = 0; i < 50 && !added.includes('js-c'); i++) await pause(100);
await informer.stop();
report('informer', added.sort());
process.exit(0);
