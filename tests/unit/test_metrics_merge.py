"""A server's exposition with its worker process's counters and histograms added in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from flowdeck.services.metrics_merge import add_peer


def _registry(runs: float, seconds: list[float], build: float) -> bytes:
    registry = CollectorRegistry()
    c = Counter("flowdeck_runs_finished", "runs", ["status"], registry=registry)
    c.labels("completed").inc(runs)
    h = Histogram("flowdeck_run_duration_seconds", "d", ["status"], registry=registry)
    for s in seconds:
        h.labels("completed").observe(s)
    Gauge("flowdeck_build_info", "b", registry=registry).set(build)
    Counter("process_thing", "not ours to add", registry=registry).inc(5)
    return generate_latest(registry)


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text.decode())
        for s in f.samples
    }


def test_counters_and_histograms_add_up_gauges_stay_our_own() -> None:
    own = _registry(2, [0.2], 1)
    peer = _registry(3, [0.3, 7.0], 1).decode()
    merged = _samples(add_peer(own, peer))
    done = (("status", "completed"),)
    assert merged[("flowdeck_runs_finished_total", done)] == 5
    assert merged[("flowdeck_run_duration_seconds_count", done)] == 3
    assert merged[("flowdeck_run_duration_seconds_sum", done)] == 7.5
    assert merged[("flowdeck_run_duration_seconds_bucket", (("le", "0.25"), *done))] == 1
    assert merged[("flowdeck_run_duration_seconds_bucket", (("le", "+Inf"), *done))] == 3
    assert merged[("flowdeck_build_info", ())] == 1
    assert merged[("process_thing_total", ())] == 5
    # Creation times are this process's own (a sum of two would be no time at all).
    created = _samples(own)[("flowdeck_runs_finished_created", done)]
    assert merged[("flowdeck_runs_finished_created", done)] == created


def test_a_family_only_the_peer_has_is_added() -> None:
    registry = CollectorRegistry()
    Counter("flowdeck_only_there", "x", registry=registry).inc(4)
    merged = _samples(add_peer(_registry(1, [], 1), generate_latest(registry).decode()))
    assert merged[("flowdeck_only_there_total", ())] == 4
