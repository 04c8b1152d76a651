"""The kubelet's streaming server: `kubectl exec`, `attach`, `cp` and `port-forward` end here.

The API server only relays bytes; the kubelet speaks every protocol the clients use (upstream keeps this in
`pkg/kubelet/cri/streaming/`):

- `server.py` reads the upgrade request and picks the protocol: SPDY/3.1 (kubectl ≤ 1.29, and the fallback of
  newer ones), WebSocket channels `v5.channel.k8s.io`/`v4.channel.k8s.io` (kubectl ≥ 1.30, the Python client),
  or the WebSocket tunnel that carries SPDY frames (`SPDY/3.1+portforward.k8s.io`, kubectl ≥ 1.31's port-forward).
- `spdy.py` is the SPDY/3.1 frame layer, `websocket.py` the WebSocket one.
- `remotecommand.py` runs exec and attach over either, against Docker; `portforward.py` relays TCP connections
  into the pod's network namespace.
"""
