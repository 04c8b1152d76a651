"""`kubectl why` (and `kubeling why`): the story of one object, told from what the cluster recorded about it.

- `story.py` builds the story from objects already fetched (pure: tests feed it fixtures);
- `advice.py` says what would fix each reason the scheduler gave for turning a node down;
- `cli.py` reads the kubeconfig as kubectl does, fetches through `kubeling.client`, prints text or JSON.

Everything it reads is public API: the object, its owners, its Events (events.k8s.io fields), and the scheduler's
record of its decision (kube-scheduler-simulator's annotations: kubeling/api/decisionrecord.py).
"""
