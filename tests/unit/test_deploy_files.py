"""The container and service files name real commands and real settings (a typo in a
FLOWDECK_* variable would be ignored silently at run time)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from flowdeck.cli.main import app
from flowdeck.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = sorted((ROOT / "deploy").glob("compose.*.yaml"))
FILES = [ROOT / "Dockerfile", ROOT / "deploy" / "flowdeck.service", *COMPOSE]
_VARIABLE = re.compile(r"\bFLOWDECK_([A-Z0-9_]+)")


def _known_settings() -> set[str]:
    names = set(Settings.model_fields)
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        for choice in getattr(alias, "choices", ()):
            names.add(str(choice).lower().removeprefix("flowdeck_"))
    return names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_flowdeck_variable_is_a_setting(path: Path) -> None:
    used = {m.lower() for m in _VARIABLE.findall(path.read_text())}
    assert used, path
    assert used <= _known_settings(), used - _known_settings()


def _commands(compose: dict[str, Any]) -> list[list[str]]:
    found = []
    for service in compose["services"].values():
        if service.get("image") == "flowdeck:latest":
            found.append(service.get("command") or ["flowdeck", "serve"])
    return found


@pytest.mark.parametrize("path", COMPOSE, ids=lambda p: p.name)
def test_compose_services_run_real_commands(path: Path) -> None:
    compose = yaml.safe_load(path.read_text())
    commands = _commands(compose)
    assert commands
    for command in commands:
        assert command[0] == "flowdeck"
        result = CliRunner().invoke(app, [*command[1:], "--help"])
        assert result.exit_code == 0, (command, result.output)


def test_the_image_checks_readiness_and_runs_as_a_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "/readyz" in text and 'VOLUME ["/data"]' in text
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    unit = (ROOT / "deploy" / "flowdeck.service").read_text()
    assert re.findall(r"^ExecStart=(.*)$", unit, re.MULTILINE) == [
        "/opt/flowdeck/bin/flowdeck serve"
    ]
