"""Is a secret guessable? A small estimator for production's start-up checks.

Length alone lets through `aaaa…`, `changeme` four times or the development key three
times. These checks look for what people actually type instead of random characters: known
defaults and common passwords (also with digits or symbols around them), a short unit
repeated, few different characters, runs such as `abcdef…` or `654321…`, and what is left:
an estimate of the randomness, the string's Shannon entropy (per character, from its own
character counts, times its length). A truly random string of the required length is far
above every threshold here; see ``tests/server/test_production.py``.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

# Defaults and words that should not appear in a machine secret. Six characters or more:
# a random 64-character token contains one of them by chance about once in 10^7.
KNOWN_DEFAULTS = (
    "dev-key-12345",  # settings.DEV_API_KEY
    "admin123",  # settings.DEV_ADMIN_PASSWORD
    "changeme",
    "change-me",
    "password",
    "passwd",
    "secret",
    "default",
    "example",
    "qwerty",
    "letmein",
)
# What is left of a common password once the digits and symbols around it are removed.
COMMON_PASSWORDS = frozenset(
    {
        "",  # digits and symbols only
        "password",
        "passw0rd",
        "p@ssword",
        "p@ssw0rd",
        "admin",
        "administrator",
        "root",
        "changeme",
        "welcome",
        "letmein",
        "qwerty",
        "qwertyuiop",
        "asdfgh",
        "asdfghjkl",
        "iloveyou",
        "secret",
        "default",
        "master",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "sunshine",
        "princess",
        "trustno",
        "abc",
        "login",
        "test",
        "buildstate",
    }
)
_AROUND = "0123456789!@#$%^&*()-_=+.,;:?/ "
MIN_DISTINCT = 6
GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def estimated_bits(value: str) -> float:
    """Shannon entropy of ``value``'s characters times its length, in bits."""
    n = len(value)
    return -sum(k * math.log2(k / n) for k in Counter(value).values())


def repeated_unit(value: str) -> int | None:
    """The length of the shortest unit ``value`` repeats (whole or in part) at least
    twice, or ``None``: ``"abcabcab"`` → 3."""
    for period in range(1, len(value) // 2 + 1):
        if value[period:] == value[:-period]:
            return period
    return None


def _mostly_consecutive(value: str) -> bool:
    steps = [abs(ord(b) - ord(a)) for a, b in itertools.pairwise(value)]
    return bool(steps) and steps.count(1) > 0.75 * len(steps)


def secret_weakness(value: str, *, min_length: int, min_bits: int) -> str | None:
    """Why ``value`` is not a random secret of at least ``min_length`` characters (as a
    phrase completing "the value …"), or ``None`` when nothing is found."""
    if len(value) < min_length:
        return f"is {len(value)} characters long"
    lowered = value.lower()
    for word in KNOWN_DEFAULTS:
        if word in lowered:
            return f"contains {word!r}, a known default or common word"
    return _pattern(value) or _randomness(value, min_bits)


def password_weakness(value: str, *, min_length: int) -> str | None:
    """Why ``value`` is a guessable password, or ``None``. People pick passwords, so these
    checks are the patterns people use rather than a demand for random characters."""
    if len(value) < min_length:
        return f"is {len(value)} characters long"
    core = value.lower().strip(_AROUND)
    if core in COMMON_PASSWORDS:
        return "is a common password with digits or symbols added"
    return _pattern(value) or _randomness(value, 32)


def _pattern(value: str) -> str | None:
    unit = repeated_unit(value)
    if unit is not None:
        return f"repeats a {unit}-character pattern"
    distinct = len(set(value))
    if distinct < MIN_DISTINCT:
        return f"uses only {distinct} different characters"
    if _mostly_consecutive(value):
        return "is mostly a run of consecutive characters (abc…, 123…)"
    return None


def _randomness(value: str, min_bits: int) -> str | None:
    bits = estimated_bits(value)
    if bits < min_bits:
        return f"looks predictable (about {bits:.0f} bits of randomness, {min_bits} needed)"
    return None
