"""Which definition values count as literal credentials, and how they are masked."""

from __future__ import annotations

from typing import Any

import pytest

from flowdeck.domain.credentials import (
    credential_warnings,
    is_credential_name,
    is_literal,
    mask_credentials,
)


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "X-API-Key",
        "x_api_key",
        "secret",
        "password",
        "GITHUB_TOKEN",
        "X-Auth-Token",
        "client_secret",
        "X-Hub-Secret",
        "AWS_SECRET_ACCESS_KEY",
    ],
)
def test_credential_names(name: str) -> None:
    assert is_credential_name(name)


@pytest.mark.parametrize(
    "name", ["Content-Type", "X-Trace", "next_token", "page-token", "tokens", "url", "key"]
)
def test_other_names(name: str) -> None:
    assert not is_credential_name(name)


def test_templates_and_scheme_words_are_not_literal() -> None:
    for value in ("{{ secrets.T }}", "Bearer {{ secrets.T }}", "Basic {{ secrets.B }}", "", None):
        assert not is_literal(value), value
    for value in ("hunter2", "Bearer abc", "{{ secrets.T }}-suffix", 12345, "***"):
        assert is_literal(value), value


def _definition(config: dict[str, Any]) -> dict[str, Any]:
    return {"name": "x", "steps": [{"id": "s", "type": "http_request", "config": config}]}


def test_mask_keeps_everything_but_the_credential() -> None:
    config = {
        "url": "https://bot:p4ss@db.example.com:5432/x?a=1",
        "headers": {"Authorization": "Token abc", "Accept": "json"},
        "json": {"items": [{"password": "pw", "name": "n"}]},
    }
    masked = mask_credentials(_definition(config))["steps"][0]["config"]
    assert masked == {
        "url": "https://bot:***@db.example.com:5432/x?a=1",
        "headers": {"Authorization": "Token ***", "Accept": "json"},
        "json": {"items": [{"password": "***", "name": "n"}]},
    }
    assert config["headers"]["Authorization"] == "Token abc"  # the original is untouched
    warnings = credential_warnings(_definition(config))
    assert len(warnings) == 3 and all("abc" not in w and "p4ss" not in w for w in warnings)


def test_nothing_to_mask_in_odd_shapes() -> None:
    assert credential_warnings([1, 2]) == []
    assert credential_warnings({"steps": "nope"}) == []
    odd = {"steps": [None, {"id": 3, "config": {"secret": "x" * 8}}]}
    assert credential_warnings(odd)[0].startswith("steps[1]: config.secret")
