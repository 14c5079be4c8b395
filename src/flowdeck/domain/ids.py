"""Prefixed, random, time-sortable identifiers (ULID layout in Crockford base32).

Monotonic within a process: ids made in the same millisecond increment the random part, so
ordering by id is creation order (the run queue is first in, first out by id).
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return `<prefix>_` + 26 chars: 48-bit millisecond time then 80 random bits."""
    global _last_ms, _last_random
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            rand = _last_random + 1
            if rand >= 1 << _RANDOM_BITS:  # 2^80 ids in one millisecond: borrow the next one
                ms, rand = ms + 1, int.from_bytes(os.urandom(10), "big") >> 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # headroom for increments
        _last_ms, _last_random = ms, rand
    return f"{prefix}_{_encode(ms, 10)}{_encode(rand, 16)}"
