"""Small inline SVG charts for the Analytics tab: bars and a line, scaled to a fixed box."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 520, 120, 18


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    label: str
    value: float


def bars(labels: Sequence[str], values: Sequence[float]) -> list[Bar]:
    """One bar per value, scaled to the tallest."""
    if not values:
        return []
    top = max(max(values), 1e-9)
    slot = (WIDTH - 2 * PAD) / len(values)
    out = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (HEIGHT - 2 * PAD) * (value / top)
        out.append(Bar(PAD + i * slot + 1, HEIGHT - PAD - h, max(slot - 2, 1), h, label, value))
    return out


def line(values: Sequence[float | None]) -> str:
    """An SVG polyline's points for values in 0..1 (gaps where a value is None)."""
    if not values:
        return ""
    slot = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    points = [
        f"{PAD + i * slot:.1f},{HEIGHT - PAD - (HEIGHT - 2 * PAD) * v:.1f}"
        for i, v in enumerate(values)
        if v is not None
    ]
    return " ".join(points)
