"""The Prometheus metrics of issue #15, built at scrape time from the daemon's status (`vrrpctl status --json`, the
one source of truth): `StatusCollector` and `metrics_registry`.

The collector is handed a callable returning that snapshot (services never import the daemon), registered in a
private CollectorRegistry (the global one would also export the process/GC collectors and could not hold two
daemons in one test process), and rendered by prometheus_client's own exposition code (vrrpd.services.metrics_http).

Each per-instance metric carries the labels ``instance`` (name), ``vrid``, ``interface`` and ``family`` (``ipv4`` /
``ipv6``). A value the status does not have (``master_age`` while we are master, ``hooks`` of an instance without
any, ``drained`` before the maintenance drain exists) is left out, never invented.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

INSTANCE_LABELS = ("instance", "vrid", "interface", "family")
STATES = ("INITIALIZE", "BACKUP", "MASTER", "FAULT")
"""vrrpd.protocol.State's values, as the status shows them: the one-hot gauge has a series for each."""
DRAIN_MODES = ("hard", "soft")

Snapshot = Callable[[], dict[str, Any]]


class StatusCollector(Collector):
    """Every vrrpd metric, from one status snapshot taken per scrape."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        status = self.snapshot()
        build = GaugeMetricFamily("vrrpd_build_info", "vrrpd's version and Python's", labels=["version", "python"])
        build.add_metric([str(status.get("version", "")), platform.python_version()], 1)
        yield build
        yield from instance_metrics(status.get("instances", []))
        reloads = CounterMetricFamily("vrrpd_reloads", "Configuration reloads by result", labels=["result"])
        for result, count in ((status.get("config") or {}).get("reloads") or {}).items():
            reloads.add_metric([result], count)
        yield reloads


def instance_metrics(instances: list[dict[str, Any]]) -> Iterator[Metric]:
    per = [*INSTANCE_LABELS]
    state = GaugeMetricFamily("vrrpd_instance_state", "1 for the instance's current state", labels=[*per, "state"])
    priority = GaugeMetricFamily("vrrpd_priority", "Configured priority", labels=per)
    effective = GaugeMetricFamily("vrrpd_effective_priority", "Priority after trackers' weights", labels=per)
    sent = CounterMetricFamily("vrrpd_adverts_sent", "Adverts sent", labels=per)
    received = CounterMetricFamily("vrrpd_adverts_received", "Adverts received and accepted", labels=per)
    drops = CounterMetricFamily("vrrpd_drops", "Received adverts dropped, by reason", labels=[*per, "reason"])
    transitions = CounterMetricFamily("vrrpd_transitions", "State transitions", labels=per)
    became = CounterMetricFamily("vrrpd_became_master", "Transitions to MASTER", labels=per)
    age = GaugeMetricFamily(
        "vrrpd_master_advert_age_seconds", "Seconds since the last advert from the master (backups)", labels=per
    )
    tracker = GaugeMetricFamily(
        "vrrpd_tracker_up", "1 when the tracker is up, 0 down or not yet known", labels=[*per, "tracker", "kind"]
    )
    hooks = CounterMetricFamily("vrrpd_hook_runs", "Notify hook runs, by result", labels=[*per, "result"])
    drained = GaugeMetricFamily("vrrpd_instance_drained", "1 when drained for maintenance", labels=[*per, "mode"])
    for inst in instances:
        labels = [str(inst["name"]), str(inst["vrid"]), str(inst["interface"]), str(inst["family"]).lower()]
        for name in STATES:
            state.add_metric([*labels, name], 1 if inst["state"] == name else 0)
        priority.add_metric(labels, inst["priority"])
        effective.add_metric(labels, inst["effective_priority"])
        counters = inst["counters"]
        sent.add_metric(labels, counters["adverts_sent"])
        received.add_metric(labels, counters["adverts_received"])
        transitions.add_metric(labels, counters["transitions"])
        became.add_metric(labels, counters["became_master"])
        for reason, count in sorted(counters.get("drops", {}).items()):
            drops.add_metric([*labels, reason], count)
        if inst.get("master_age") is not None:
            age.add_metric(labels, inst["master_age"])
        for t in inst.get("trackers", []):
            tracker.add_metric([*labels, str(t["name"]), str(t["kind"])], 1 if t["state"] == "up" else 0)
        if (run := inst.get("hooks")) is not None:
            hooks.add_metric([*labels, "success"], run["runs"] - run["failures"])
            hooks.add_metric([*labels, "failure"], run["failures"])
        if "drained" in inst:
            mode = inst["drained"]
            for name in DRAIN_MODES:
                on = mode == name or (name == "hard" and mode is True)
                drained.add_metric([*labels, name], 1 if on else 0)
    yield from (state, priority, effective, sent, received, drops, transitions, became, age, tracker, hooks)
    if any("drained" in inst for inst in instances):
        yield drained


def metrics_registry(snapshot: Snapshot) -> CollectorRegistry:
    """A private registry holding only vrrpd's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(snapshot))
    return registry
