"""What a committed run transaction did that someone must act on: wake-ups, SSE, cancels."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Effects:
    """Collected during one run transaction, published after it commits."""

    ready: bool = False
    admit: bool = False
    # Admission was busy elsewhere: try again shortly (not at once: that would spin).
    admit_again: bool = False
    timers: bool = False
    runs_touched: set[str] = field(default_factory=set)
    cancelled_runs: set[str] = field(default_factory=set)
