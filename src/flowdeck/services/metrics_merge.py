"""Adding another process's Flowdeck counters and histograms to this process's exposition.

`flowdeck serve` runs its worker as a child process, so the runs and steps it finishes are
counted there. The server's `GET /metrics` fetches the child's registry (on a loopback port) and
adds it in: counters and histograms of the same name and labels are summed (their `_created`
samples dropped, since a sum of creation times means nothing); gauges, and the other process's
`process_*` and `python_*`, stay this process's own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

log = logging.getLogger("flowdeck.metrics")
_ADDITIVE = ("counter", "histogram")
_PREFIX = "flowdeck_"


class _Parsed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _key(sample: Sample) -> tuple[str, tuple[tuple[str, str], ...]]:
    return sample.name, tuple(sorted(sample.labels.items()))


def add_peer(own: bytes, peer: str) -> bytes:
    """`own` exposition with the peer's Flowdeck counters and histograms added in."""
    families = {f.name: f for f in text_string_to_metric_families(own.decode())}
    for theirs in text_string_to_metric_families(peer):
        if not theirs.name.startswith(_PREFIX) or theirs.type not in _ADDITIVE:
            continue
        mine = families.get(theirs.name)
        if mine is None:
            families[theirs.name] = mine = Metric(theirs.name, theirs.documentation, theirs.type)
        elif mine.type != theirs.type:
            continue
        totals = {_key(s): s for s in mine.samples if not s.name.endswith("_created")}
        for s in theirs.samples:
            if s.name.endswith("_created"):
                continue
            found = totals.get(_key(s))
            value = s.value + (found.value if found is not None else 0.0)
            totals[_key(s)] = Sample(s.name, s.labels, value)
        mine.samples = list(totals.values())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Parsed(list(families.values())))
    return generate_latest(registry)


async def fetch_peer(url: str) -> str | None:
    """The peer's exposition text, or None when it cannot be read now (it is restarting)."""
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            resp = await client.get(url)
            resp.raise_for_status()
            return resp.text
    except httpx.HTTPError as exc:
        log.warning("cannot read the worker's metrics at %s: %s", url, exc)
        return None
