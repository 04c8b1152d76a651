"""The API server's /metrics: what its watch cache holds and how lists were served, in Prometheus' text format.

As kube-apiserver, /metrics is served on the API port to whoever may `get` the non-resource URL /metrics (upstream's
system:monitoring role). Names follow upstream where it has the figure (staging/src/k8s.io/apiserver/pkg/storage/
cacher/metrics/metrics.go: `apiserver_watch_cache_capacity`, `apiserver_watch_cache_resource_version`,
`apiserver_cache_list_total`); kubeling's own figures are prefixed `kubeling_`:

- `kubeling_watch_cache_objects` and `kubeling_watch_cache_object_bytes`: the objects each resource's cache holds
  and their size as etcd stores them (the cache holds every object of the resource, as upstream's does; the
  Python objects take a few times more: see `process_resident_memory_bytes`);
- `kubeling_watch_cache_window_events`: the recent events kept for watches, at most the capacity;
- `kubeling_list_total{source}`: lists answered from the cache, or from etcd and why (`continue`, `exact`,
  `behind`: the cache did not catch up in time, `no cache`).
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, current_app
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubeling.apiserver.watch import Watcher
from kubeling.apiserver.watchcache import ListCache

blueprint = Blueprint("metrics", __name__)


class WatchCacheCollector(Collector):
    """Reads the figures at scrape time from the watch hubs and the list cache."""

    def __init__(self, watcher: Watcher, lists: ListCache) -> None:
        self.watcher, self.lists = watcher, lists

    def collect(self) -> Iterator[Metric]:
        objects = GaugeMetricFamily("kubeling_watch_cache_objects", "Objects held in the watch cache",
                                    labels=["resource"])
        size = GaugeMetricFamily("kubeling_watch_cache_object_bytes",
                                 "Size of the cached objects as etcd stores them", labels=["resource"])
        window = GaugeMetricFamily("kubeling_watch_cache_window_events", "Recent events kept for watches",
                                   labels=["resource"])
        capacity = GaugeMetricFamily("apiserver_watch_cache_capacity", "Capacity of the watch cache's event window",
                                     labels=["resource"])
        version = GaugeMetricFamily("apiserver_watch_cache_resource_version",
                                    "Current resource version of the watch cache", labels=["resource"])
        for name, hub in sorted(self.watcher.hubs.items()):
            held, stored_bytes, events = hub.stats()
            objects.add_metric([name], held)
            size.add_metric([name], stored_bytes)
            window.add_metric([name], events)
            capacity.add_metric([name], hub.capacity)
            version.add_metric([name], hub.last_revision)
        yield from (objects, size, window, capacity, version)
        lists = CounterMetricFamily("kubeling_list", "Lists answered, by where they were served from",
                                    labels=["resource", "source"])
        from_cache = CounterMetricFamily("apiserver_cache_list", "Lists served from the watch cache",
                                         labels=["resource_prefix"])
        for (resource, source), count in sorted(self.lists.counts.items()):
            lists.add_metric([resource, source], count)
            if source == "cache":
                from_cache.add_metric([resource], count)
        yield from (lists, from_cache)


def registry_for(watcher: Watcher, lists: ListCache) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(WatchCacheCollector(watcher, lists))
    ProcessCollector(registry=registry)  # process_resident_memory_bytes and friends
    return registry


@blueprint.route("/metrics")
def metrics() -> Response:
    registry: CollectorRegistry = current_app.extensions["kubeling.metrics"]
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4; charset=utf-8")
