"""The kubelet's streaming endpoints: exec, attach and port-forward over SPDY/3.1 and WebSockets."""
