"""Strategies and mutations shared by the signature property tests."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Bounded so CI stays fast and repeatable; `make fuzz` sets HUB_FUZZ_EXAMPLES for a longer,
# randomized run. No example database: a failure prints its own reproduction.
LONG_RUN = os.environ.get("HUB_FUZZ_EXAMPLES")


def budget(default: int) -> int:
    """How many examples a property or fuzz test runs."""
    return int(LONG_RUN) if LONG_RUN else default


bounded = settings(
    max_examples=budget(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=LONG_RUN is None,
    database=None,
)

# Text the SDKs can encode (no lone surrogates), as partners' bodies and secrets are.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)
nonempty_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60)
bodies = st.binary(max_size=2048)
# What an HTTP header value can hold once the edge decoded it as latin-1 (no CR, LF or NUL).
header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=120,
)


@st.composite
def byte_changes(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with exactly one byte replaced by a different value."""
    index = draw(st.integers(0, len(data) - 1))
    value = draw(st.integers(0, 255).filter(lambda v: v != data[index]))
    return data[:index] + bytes([value]) + data[index + 1 :]


@st.composite
def char_changes(draw: st.DrawFn, value: str, alphabet: str | None = None) -> str:
    """`value` with exactly one character replaced by a different printable ASCII one."""
    index = draw(st.integers(0, len(value) - 1))
    pool = alphabet or "".join(chr(c) for c in range(0x21, 0x7F))
    new = draw(st.sampled_from([c for c in pool if c != value[index]]))
    return value[:index] + new + value[index + 1 :]
