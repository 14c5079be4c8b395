"""Secret values never leave the engine in clear: every stored or sent value passes here.

What is masked with `***`, for each secret value S (the rule README's "Secrets" section states):

- S itself, whatever its length; a secret shorter than `VARIANT_MIN_LENGTH` (6) only as itself,
  with its exact letter case, so a short secret does not mask every word that resembles it.
- From 6 characters on, the spellings a template filter or a script produces: S in any ASCII
  letter case (upper, lower, title, swapcase…), reversed, base64 (standard and URL-safe, padded
  or not, and at each of the three byte alignments, so S inside a longer encoded text such as a
  Basic auth header is caught too), hex, percent-encoding (`quote`, `quote_plus`) and JSON
  string escaping.
- From `FRAGMENT_LENGTH` (10) characters on, any run of 10 or more characters of any of those
  spellings: a slice, a message cut short, a line of wrapped `base64` or `xxd -p` output.
  Pieces shorter than 10 characters are not masked; neither is a secret rebuilt by arbitrary
  code (a workflow author can always send a secret elsewhere: redaction keeps secrets out of
  what Flowdeck stores and shows, it does not confine the workflow's own code).

All spellings of a secret set are compiled once into one Aho-Corasick automaton (cached per set
of values), so masking a string is one pass over it however many secrets the workspace holds.
Nested values are walked with an explicit stack: no depth can exhaust the recursion limit.
"""

from __future__ import annotations

import base64
import functools
import json
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import ahocorasick

MASK = "***"
VARIANT_MIN_LENGTH = 6
FRAGMENT_LENGTH = 10

# Matching runs on an ASCII-lowercased copy of the text: the same length as the original (unlike
# str.lower, which may grow a character), so a match's span is the span to mask in the original.
_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _base64_spellings(raw: bytes) -> set[str]:
    """Base64 of `raw` whole (padded and not), and the stable core of `raw` at each alignment."""
    out: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        out |= {whole, whole.rstrip("=")}
        for skip in range(3):
            # Text before the secret shifts it by 0, 1 or 2 bytes in the 3-byte groups; the
            # groups made only of the secret's bytes encode the same way whatever precedes it.
            body = raw[skip:]
            core = encode(body[: len(body) // 3 * 3]).decode("ascii")
            if len(core) >= FRAGMENT_LENGTH:
                out.add(core)
    return out


def spellings(secret: str) -> set[str]:
    """Every spelling of `secret` that is masked whole (see the module docstring)."""
    if len(secret) < VARIANT_MIN_LENGTH:
        return {secret}
    out = {
        secret,
        secret[::-1],
        secret.upper(),
        secret.lower(),
        secret.title(),
        secret.swapcase(),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    try:
        raw = secret.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no byte encoding of it can be sent anyway
        return out
    out |= {raw.hex(), quote(secret, safe=""), quote(secret), quote_plus(secret)}
    return out | _base64_spellings(raw)


@dataclass(frozen=True)
class _Pattern:
    """What a match of one folded pattern means: its length, and for short secrets the exact
    original texts it stands for (None: any letter case counts)."""

    length: int
    exact: frozenset[str] | None


def _patterns(values: Iterable[str]) -> dict[str, _Pattern]:
    found: dict[str, _Pattern] = {}
    # Any-case patterns of one length share one object: most are the 10-character fragments.
    any_case: dict[int, _Pattern] = {}

    def add(text: str, exact: str | None) -> None:
        key = text.translate(_FOLD)
        old = found.get(key)
        if exact is None or (old is not None and old.exact is None):
            found[key] = any_case.setdefault(len(key), _Pattern(len(key), None))
        else:
            kept = old.exact if old is not None and old.exact is not None else frozenset()
            found[key] = _Pattern(len(key), kept | {exact})

    for secret in values:
        if len(secret) < VARIANT_MIN_LENGTH:
            add(secret, secret)
            continue
        for spelling in spellings(secret):
            add(spelling, None)
            if len(secret) >= FRAGMENT_LENGTH:
                for start in range(len(spelling) - FRAGMENT_LENGTH + 1):
                    add(spelling[start : start + FRAGMENT_LENGTH], None)
    return found


@functools.lru_cache(maxsize=64)
def _automaton(values: tuple[str, ...]) -> tuple[ahocorasick.Automaton, int]:
    """The compiled automaton of a set of secret values (built once per distinct set) and the
    length of its shortest pattern."""
    automaton = ahocorasick.Automaton()
    patterns = _patterns(values)
    for key, pattern in patterns.items():
        automaton.add_word(key, pattern)
    automaton.make_automaton()
    return automaton, min(len(key) for key in patterns)


class Redactor:
    """Masks every spelling of the secret values in a value, however deeply nested."""

    def __init__(
        self, secrets: Mapping[str, str] | None = None, *, keep: Iterable[str] = ()
    ) -> None:
        """`keep`: values to leave whole wherever they appear, although fragments of them may
        look like fragments of a masked secret (the secrets an agent step may send by name)."""
        self.secrets: dict[str, str] = dict(secrets or {})
        self._keep = tuple(sorted({v for v in keep if v}, key=len, reverse=True))
        values = tuple(sorted({v for v in self.secrets.values() if v}))
        compiled: tuple[ahocorasick.Automaton | None, int] = (
            _automaton(values) if values else (None, 0)
        )
        self._automaton, self._shortest = compiled

    def redact(self, value: Any) -> Any:
        """`value` with secrets masked in every string and dict key; unchanged when there are
        no secrets."""
        if self._automaton is None:
            return value
        if isinstance(value, str):
            return self.redact_text(value)
        if not isinstance(value, dict | list | tuple):
            return value
        return self._walk(value)

    def redact_text(self, text: str) -> str:
        """`text` with every masked span (merged where they touch) replaced by `***`."""
        if self._automaton is None or len(text) < self._shortest:
            return text
        folded = text.lower() if text.isascii() else text.translate(_FOLD)
        spans = []
        for end, pattern in self._automaton.iter(folded):
            start = end + 1 - pattern.length
            if pattern.exact is not None and text[start : end + 1] not in pattern.exact:
                continue
            spans.append((start, end + 1))
        if spans and self._keep:
            spans = _outside(spans, _occurrences(text, self._keep))
        if not spans:
            return text
        spans.sort()
        parts, cursor, open_start, open_end = [], 0, spans[0][0], spans[0][1]
        for start, end in spans[1:]:
            if start <= open_end:
                open_end = max(open_end, end)
                continue
            parts += [text[cursor:open_start], MASK]
            cursor, open_start, open_end = open_end, start, end
        parts += [text[cursor:open_start], MASK, text[open_end:]]
        return "".join(parts)

    def _walk(self, root: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> Any:
        """A masked copy of a nested value, built with an explicit stack (no recursion)."""
        copies: dict[int, Any] = {}  # shared (or cyclic) containers are copied once
        stack: list[tuple[Any, Any]] = []
        out = self._child(root, copies, stack)
        while stack:
            source, copy = stack.pop()
            if isinstance(source, dict):
                for key, item in source.items():
                    masked = self.redact_text(key) if isinstance(key, str) else key
                    if masked in copy:  # two keys masked alike: keep both values
                        masked = _free_key(copy, masked)
                    copy[masked] = self._child(item, copies, stack)
            else:
                copy.extend(self._child(item, copies, stack) for item in source)
        return out

    def _child(self, item: Any, copies: dict[int, Any], stack: list[tuple[Any, Any]]) -> Any:
        if isinstance(item, str):
            return self.redact_text(item)
        if not isinstance(item, dict | list | tuple):
            return item
        seen = copies.get(id(item))
        if seen is not None:
            return seen
        copy: dict[Any, Any] | list[Any] = {} if isinstance(item, dict) else []
        copies[id(item)] = copy
        stack.append((item, copy))
        return copy


def _occurrences(text: str, values: Iterable[str]) -> list[tuple[int, int]]:
    found = []
    for value in values:
        start = text.find(value)
        while start >= 0:
            found.append((start, start + len(value)))
            start = text.find(value, start + 1)
    return found


def _outside(spans: list[tuple[int, int]], kept: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans not wholly inside a kept one."""
    return [s for s in spans if not any(k[0] <= s[0] and s[1] <= k[1] for k in kept)]


def _free_key(taken: Mapping[Any, Any], key: str) -> str:
    n = 2
    while f"{key} ({n})" in taken:
        n += 1
    return f"{key} ({n})"
