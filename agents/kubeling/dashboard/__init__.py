"""`kubeling dashboard`: the live view, an add-on that serves one static page (HTML, CSS, plain JavaScript).

The page holds no data and no credential. Users reach it through the API server's service proxy with their own
kubeconfig (`kubectl proxy`, then `/api/v1/namespaces/kube-system/services/https:kubeling-dashboard:https/proxy/`);
its JavaScript then reads the API with watches through the same `kubectl proxy`, so it shows exactly what the
user's RBAC allows, and says so when the API refuses.
"""
