"""kubeling: a small, readable Kubernetes written in Python."""

__version__ = "0.1.0"

# The Kubernetes release whose API we follow; kubectl's dispatcher picks its binary from this.
KUBERNETES_VERSION = "v1.32.4"
