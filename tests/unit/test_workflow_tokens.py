"""Workflow tokens: format, expiry and tampering (pure, no database)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowdeck.crypto import SecretBox
from flowdeck.errors import Unauthorized
from flowdeck.services.auth import (
    TOKEN_PREFIX,
    WorkflowTokenClaims,
    sign_workflow_token,
    verify_workflow_token,
)

KEY = SecretBox.from_passphrase("unit-test").signing_key("workflow-token")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CLAIMS = WorkflowTokenClaims(
    workspace_id="ws_01hzzzzzzzzzzzzzzzzzzzzzzz",
    workflow_id="wf_01hzzzzzzzzzzzzzzzzzzzzzzz",
    key_id="key_01hzzzzzzzzzzzzzzzzzzzzzzz",
    expires_at=NOW + timedelta(hours=1),
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_round_trip_and_shape() -> None:
    token = sign_workflow_token(KEY, CLAIMS)
    assert token.startswith(TOKEN_PREFIX) and token.count(".") == 1
    assert len(token) < 250
    assert all(c.isalnum() or c in "_-." for c in token)  # safe in a URL and a header
    assert verify_workflow_token(KEY, token, NOW) == CLAIMS


def test_expiry_is_exact_to_the_second() -> None:
    token = sign_workflow_token(KEY, CLAIMS)
    assert verify_workflow_token(KEY, token, CLAIMS.expires_at - timedelta(seconds=1))
    for late in (CLAIMS.expires_at, CLAIMS.expires_at + timedelta(days=1)):
        with pytest.raises(Unauthorized, match="expired"):
            verify_workflow_token(KEY, token, late)


def test_a_token_from_another_instance_key_is_invalid() -> None:
    token = sign_workflow_token(KEY, CLAIMS)
    other = SecretBox.from_passphrase("another").signing_key("workflow-token")
    same_box_other_purpose = SecretBox.from_passphrase("unit-test").signing_key("other")
    for key in (other, same_box_other_purpose):
        with pytest.raises(Unauthorized, match="invalid"):
            verify_workflow_token(key, token, NOW)


def test_edited_claims_break_the_signature() -> None:
    token = sign_workflow_token(KEY, CLAIMS)
    payload, _, signature = token.removeprefix(TOKEN_PREFIX).partition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for change in ({"wf": "wf_someoneelse"}, {"exp": data["exp"] + 86400}, {"ws": "ws_x"}):
        forged = _b64(json.dumps({**data, **change}, separators=(",", ":")).encode())
        with pytest.raises(Unauthorized, match="invalid"):
            verify_workflow_token(KEY, f"{TOKEN_PREFIX}{forged}.{signature}", NOW)


@pytest.mark.parametrize(
    "token",
    ["", "fdt_", "fdt_.", "fdt_abc", "fdk_abc.def", "fdt_abc.def", "fdt_!!!.???", "xfdt_a.b"],
)
def test_malformed_tokens_are_invalid(token: str) -> None:
    with pytest.raises(Unauthorized, match="invalid"):
        verify_workflow_token(KEY, token, NOW)


def test_well_signed_but_malformed_claims_are_invalid() -> None:
    # Only the key holder could make these; the verifier still refuses them cleanly.
    for raw in (b"[]", b"not json", b'{"ws": 1, "wf": "a", "key": "b", "exp": 1}', b"{}"):
        payload = _b64(raw)
        sig = _b64(hmac.new(KEY, payload.encode(), hashlib.sha256).digest())
        with pytest.raises(Unauthorized, match="invalid"):
            verify_workflow_token(KEY, f"{TOKEN_PREFIX}{payload}.{sig}", NOW)


@given(index=st.integers(min_value=0), char=st.sampled_from("AQgw-_09"))
def test_any_single_character_change_is_refused(index: int, char: str) -> None:
    token = sign_workflow_token(KEY, CLAIMS)
    i = len(TOKEN_PREFIX) + index % (len(token) - len(TOKEN_PREFIX))
    if token[i] == char or token[i] == ".":
        return
    with pytest.raises(Unauthorized):
        verify_workflow_token(KEY, token[:i] + char + token[i + 1 :], NOW)
