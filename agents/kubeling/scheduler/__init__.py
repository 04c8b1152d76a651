"""`kubeling scheduler`: assigns pending pods to nodes, as kube-scheduler does.

`framework.py` holds the plugin interfaces and the per-pod and per-node views plugins read; `plugins/` has one
module per plugin and the registry; `generic.py` runs filters and scores for one pod; `cache.py` accounts what
is (or is about to be) bound to each node; `queue.py` orders pending pods and holds back unschedulable ones;
`scheduler.py` wires informers, queue, cache and binding together; `cli.py` is the subcommand.
"""
