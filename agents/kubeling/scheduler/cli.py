"""`kubeling scheduler`: flags, /healthz and /metrics, and the scheduler itself while holding the lease."""

from __future__ import annotations

import argparse
import logging

from kubeling import component
from kubeling.client.events import EventRecorder
from kubeling.scheduler import record
from kubeling.scheduler.scheduler import PROFILE, Scheduler

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    component.add_client_arguments(parser)
    component.add_leader_election_arguments(parser)
    component.add_serving_arguments(parser, 10259)
    parser.add_argument("--percentage-of-nodes-to-score", type=int, default=0,
                        help="stop filtering once this percentage of the nodes fit (0: adaptive, from 50%% down "
                             "to 5%% as the cluster grows, never fewer than 100 nodes; 100: every node)")
    parser.add_argument("--bind-workers", type=int, default=16,
                        help="bindings sent to the API server at once, while the next pods are scheduled")
    parser.add_argument("--assumed-pod-ttl", type=component._seconds, default=30.0,
                        help="how long a pod bound by this scheduler counts on its node before the informer "
                             "confirms the binding")
    parser.add_argument("--record-decisions", type=component._bool, nargs="?", const=True, default=True,
                        help="write each decision (every filter's verdict on every node, every score, the node "
                             "chosen) on the pod as kube-scheduler-simulator's annotations; false for large "
                             "clusters")
    parser.add_argument("--record-decisions-max-nodes", type=int, default=record.MAX_NODES,
                        help="how many nodes' results a record keeps: the chosen node, the best others, and the "
                             "first nodes turned down for each different reason (0: every node evaluated)")


def run(args: argparse.Namespace) -> int:
    component.setup_logging(args.v)
    client = component.make_client(args, "kube-scheduler")
    stop = component.wait_for_signal()
    if args.port:
        component.HealthServer(args.bind_address, args.port).start()

    def start() -> None:
        recorder = EventRecorder(client, PROFILE)
        scheduler = Scheduler(client, recorder, percentage_of_nodes_to_score=args.percentage_of_nodes_to_score,
                              bind_workers=args.bind_workers, assumed_pod_ttl=args.assumed_pod_ttl,
                              record_decisions=args.record_decisions,
                              record_max_nodes=args.record_decisions_max_nodes)
        scheduler.run(stop)

    component.run_with_leader_election(args, client, "kube-scheduler", start, stop)
    stop.wait()
    return 0
