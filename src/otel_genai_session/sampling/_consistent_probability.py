"""OpenTelemetry consistent probability sampling, with a session as the randomness.

The OpenTelemetry specification ("TraceState: Probability Sampling") makes a
sampling decision comparable across participants with two 56-bit numbers
carried in the W3C ``tracestate`` entry ``ot``: the randomness value ``rv`` and
the rejection threshold ``th``. A span is kept when ``rv >= th``; the
probability it was kept with is ``(2**56 - th) / 2**56``. The randomness is
normally the trace id's last 7 bytes; a root sampler may instead set an
explicit ``rv``, which then serves "a consistent sampling decision across an
entire trace (or even across a group of traces)". A session is such a group:
here ``rv`` is derived from the session id, the same in every process, host and
language, with no state shared between them.

The session randomness (the spec other implementations match)::

    rv = the first 14 hex digits of SHA-256(UTF-8 bytes of the session id)
       = the first 7 bytes of that digest as a big-endian unsigned integer

Nothing here needs the OpenTelemetry SDK; ``sampling`` builds the samplers.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Final

from opentelemetry.trace import TraceState

__all__ = [
    "MAX_THRESHOLD",
    "OT_KEY",
    "RANDOMNESS_MASK",
    "explicit_randomness",
    "ot_value",
    "parent_randomness",
    "probability_of",
    "ratio_to_threshold",
    "replaced_trace_state",
    "session_randomness",
    "th_value",
]

RANDOMNESS_BITS: Final = 56
MAX_THRESHOLD: Final = 1 << RANDOMNESS_BITS
"""The rejection threshold that keeps nothing (ratio 0); never written as ``th``."""
RANDOMNESS_MASK: Final = MAX_THRESHOLD - 1
"""The trace id's randomness: its last 56 bits (W3C Trace Context Level 2)."""
OT_KEY: Final = "ot"
_HEX_DIGITS: Final = "0123456789abcdef"
DEFAULT_PRECISION: Final = 4
"""Hex digits of ``th`` the specification recommends SDKs write by default."""


def session_randomness(session_id: str) -> int:
    """The 56-bit randomness value of a session: ``rv`` for all of its traces.

    SHA-256, not :func:`hash` (salted per process) nor a CRC (too easy to aim):
    the first 7 bytes of the digest of the id's UTF-8 bytes, big-endian. A lone
    surrogate (invalid UTF-8, which our validation already rejects) is encoded
    with ``surrogatepass`` rather than raising inside span creation.
    """
    digest = hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:7], "big")


def ratio_to_threshold(ratio: float, precision: int = DEFAULT_PRECISION) -> int:
    """The rejection threshold of ``ratio``, rounded to ``precision`` hex digits.

    As the specification's reference algorithm: the precision grows by one
    digit for each leading ``f`` small ratios produce (so 0.001 keeps its 4
    significant digits); the rounding is half-up. Computed exactly from the
    float's integer ratio, so up to all 14 digits (the reference, in floating
    point, stops at 12). 1 gives 0 (keep all), 0 gives :data:`MAX_THRESHOLD`
    (keep none), and a positive ratio never rounds to it.
    """
    if ratio >= 1:
        return 0
    if ratio <= 0:
        return MAX_THRESHOLD
    _, exponent = math.frexp(ratio)
    digits = max(1, min(RANDOMNESS_BITS // 4, precision + exponent // -4))
    unit = 1 << (4 * (RANDOMNESS_BITS // 4 - digits))
    numerator, denominator = ratio.as_integer_ratio()
    rejected = (denominator - numerator) << RANDOMNESS_BITS  # (1 - ratio) * 2**56 * denominator
    units = (2 * rejected + denominator * unit) // (2 * denominator * unit)
    return min(units * unit, MAX_THRESHOLD - 1)


def probability_of(threshold: int) -> float:
    """The sampling probability a threshold stands for (what ``th`` tells a backend)."""
    return (MAX_THRESHOLD - threshold) / MAX_THRESHOLD


def th_value(threshold: int) -> str:
    """``th``'s encoding: 14 lower-case hex digits, trailing zeros removed ("0" keeps all)."""
    return f"{threshold:014x}".rstrip("0") or "0"


def ot_value(threshold: int | None, randomness: int | None) -> str:
    """The ``ot`` entry's value: ``th`` (when given), then ``rv`` (when given)."""
    members = [] if threshold is None else [f"th:{th_value(threshold)}"]
    if randomness is not None:
        members.append(f"rv:{randomness:014x}")
    return ";".join(members)


def explicit_randomness(state: TraceState) -> int | None:
    """The ``rv`` of a tracestate's ``ot`` entry, or None (absent or malformed)."""
    for member in state.get(OT_KEY, "").split(";"):
        text = member[3:]
        if member.startswith("rv:") and len(text) == 14 and not text.strip(_HEX_DIGITS):
            return int(text, 16)
    return None


def parent_randomness(parent: TraceState, trace_id: int) -> int:
    """The trace's randomness as a consistent sampler sees it: ``rv``, else the trace id's."""
    randomness = explicit_randomness(parent)
    return trace_id & RANDOMNESS_MASK if randomness is None else randomness


# A W3C tracestate value (what TraceState accepts): at most 256 printable
# characters but "," and "=", not ending in a space.
_VALID_VALUE: Final = re.compile(
    r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
_MOST_ENTRIES: Final = 32


def replaced_trace_state(parent: TraceState, own: str) -> TraceState:
    """``parent`` with its ``ot`` ``th`` and ``rv`` replaced by ``own`` (an
    :func:`ot_value`); the parent's other ``ot`` sub-keys and other vendors'
    entries pass through untouched.

    A parent's ``th``/``rv`` are never forwarded: a client sets them at will
    (``th:0`` reads as "kept with probability 1", a chosen ``rv`` steers every
    downstream consistent sampler). When the rebuilt ``ot`` value would not be
    a valid tracestate value (a parent's value near the 256-character limit
    has no room for ours), ``ot`` is removed rather than the parent's kept.
    Checked here, before ``TraceState`` sees it: it would log the value, which
    holds a client's bytes, and keep the old one.
    """
    old = parent.get(OT_KEY)
    if old is None:
        if not own or len(parent) >= _MOST_ENTRIES:
            return parent
        return parent.add(OT_KEY, own)
    kept = [m for m in old.split(";") if m and not m.startswith(("th:", "rv:"))]
    value = ";".join([own, *kept] if own else kept)
    if not value or not _VALID_VALUE.fullmatch(value):
        return parent.delete(OT_KEY)
    return parent.update(OT_KEY, value)
