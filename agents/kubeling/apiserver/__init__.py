"""`kubeling apiserver`: the Kubernetes REST API over etcd, as a Flask application."""
