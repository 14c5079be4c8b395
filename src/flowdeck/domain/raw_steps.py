"""What could be read of a definition's raw steps, valid or not (for validation's checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawStep:
    """What could be read of one raw step, valid or not."""

    index: int
    id: str | None
    type: str | None
    depends_on: list[str]
    config: dict[str, Any]
    when: str | None
    trigger_rule: Any
    label: str = field(init=False)

    def __post_init__(self) -> None:
        self.label = f"Step '{self.id}'" if self.id is not None else f"steps[{self.index}]"


def read_step(index: int, raw: Any) -> RawStep:
    data = raw if isinstance(raw, dict) else {}
    raw_id, raw_type, deps = data.get("id"), data.get("type"), data.get("depends_on")
    config, when = data.get("config"), data.get("when")
    return RawStep(
        index=index,
        id=raw_id if isinstance(raw_id, str) and raw_id else None,
        type=raw_type if isinstance(raw_type, str) else None,
        depends_on=[d for d in deps if isinstance(d, str)] if isinstance(deps, list) else [],
        config=config if isinstance(config, dict) else {},
        when=when if isinstance(when, str) else None,
        trigger_rule=data.get("trigger_rule", "all_success"),
    )


def strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
