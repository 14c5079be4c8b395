"""The redactor: every common spelling of a secret is masked, short secrets only as themselves,
and no nesting depth can make it fail."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st

from flowdeck.engine.redaction import FRAGMENT_LENGTH, MASK, Redactor

SECRET = "sk-live-8Qw2/Zr+p=Y7tLm"


def spelled(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "itself": secret,
        "upper": secret.upper(),
        "lower": secret.lower(),
        "title": secret.title(),
        "swapcase": secret.swapcase(),
        "mixed": "".join(c.upper() if i % 3 else c.lower() for i, c in enumerate(secret)),
        "reversed": secret[::-1],
        "slice": secret[4:17],
        "base64": base64.b64encode(raw).decode(),
        "base64 unpadded": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode(),
        "base64url unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "percent": quote(secret, safe=""),
        "percent lower": quote(secret, safe="").lower(),
        "form": quote_plus(secret),
        "json": json.dumps(secret)[1:-1],
    }


def test_every_spelling_is_masked_whole() -> None:
    redactor = Redactor({"TOKEN": SECRET})
    for name, text in spelled(SECRET).items():
        assert redactor.redact(f"<{text}>") == f"<{MASK}>", name


def test_a_secret_inside_a_longer_encoding_is_masked() -> None:
    redactor = Redactor({"TOKEN": SECRET})
    for prefix in ("", "u:", "us:", "user:"):  # every alignment of the 3-byte groups
        encoded = base64.b64encode(f"{prefix}{SECRET}\n".encode()).decode()
        masked = redactor.redact_text(encoded)
        assert MASK in masked and len(masked) < len(encoded) - 20, prefix
    wrapped = base64.encodebytes((SECRET * 4).encode()).decode()  # lines of 76, like `base64`
    assert all(len(part) < FRAGMENT_LENGTH for part in redactor.redact_text(wrapped).split(MASK))


def test_short_secrets_mask_only_themselves() -> None:
    redactor = Redactor({"PIN": "4711", "WORD": "alpha"})
    assert redactor.redact("pin 4711, ALPHA alpha ahpla") == "pin ***, ALPHA *** ahpla"
    assert redactor.redact("NDcxMQ== 34373131") == "NDcxMQ== 34373131"


def test_fragments_shorter_than_the_limit_stay() -> None:
    redactor = Redactor({"TOKEN": SECRET})
    assert redactor.redact(SECRET[: FRAGMENT_LENGTH - 1]) == SECRET[: FRAGMENT_LENGTH - 1]
    assert redactor.redact(SECRET[:FRAGMENT_LENGTH]) == MASK


def test_keys_values_and_containers_are_walked() -> None:
    redactor = Redactor({"A": SECRET, "B": "another-secret-value"})
    value = {
        SECRET: [SECRET.upper(), ("x", 1, None, True, 2.5)],
        SECRET.lower(): "kept apart",
        "nested": {"deeper": [{"b": "pre-another-secret-value-post"}]},
    }
    assert redactor.redact(value) == {
        MASK: [MASK, ["x", 1, None, True, 2.5]],
        f"{MASK} (2)": "kept apart",
        "nested": {"deeper": [{"b": f"pre-{MASK}-post"}]},
    }
    assert value[SECRET] == [SECRET.upper(), ("x", 1, None, True, 2.5)]  # input untouched
    assert Redactor({}).redact(value) is value


def test_five_thousand_levels_pass_without_error() -> None:
    redactor = Redactor({"TOKEN": SECRET})
    root: list[object] = []
    node = root
    for _ in range(5000):
        child: list[object] = []
        node.append({"k": SECRET, SECRET.upper(): child})
        node = child
    masked = redactor.redact(root)
    depth = 0
    while masked:
        assert masked[0]["k"] == MASK
        masked = masked[0][MASK]
        depth += 1
    assert depth == 5000


def test_a_value_with_a_cycle_terminates() -> None:
    loop: list[object] = [SECRET]
    loop.append(loop)
    masked = Redactor({"TOKEN": SECRET}).redact(loop)
    assert masked[0] == MASK and masked[1] is masked


def test_fifty_secrets_compile_once() -> None:
    values = {f"S{i}": f"secret-number-{i:03d}-{'x' * i}" for i in range(50)}
    first, again = Redactor(values), Redactor(dict(values))
    assert first._automaton is again._automaton  # built once per set of values
    assert again.redact(f"a {values['S7'].upper()} b") == f"a {MASK} b"


# Printable ASCII without the mask's own character: any letter case counts only for ASCII.
_ASCII = st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="*")


@given(
    st.text(_ASCII, min_size=FRAGMENT_LENGTH, max_size=40),
    st.text(max_size=30),
    st.text(max_size=30),
)
def test_no_spelling_survives_between_arbitrary_text(secret: str, before: str, after: str) -> None:
    redactor = Redactor({"S": secret})
    for name, text in spelled(secret).items():
        if name == "slice" and len(text) < FRAGMENT_LENGTH:
            continue
        assert text not in redactor.redact_text(f"{before}{text}{after}"), name


def test_kept_values_stay_whole_though_they_share_fragments() -> None:
    # Two keys of one account share a long prefix; an agent step may send the one it names.
    named, other = "sk_live_51HqZ-named-0001", "sk_live_51HqZ-other-0002"
    redactor = Redactor({"OTHER": other}, keep=[named])
    assert redactor.redact(f"use {named}, not {other}") == f"use {named}, not {MASK}"
    assert Redactor({"OTHER": other}).redact(named) == f"{MASK}named-0001"
