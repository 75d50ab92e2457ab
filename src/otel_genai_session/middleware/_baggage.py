"""The entries of a request's W3C ``baggage`` header, read without echoing it.

OpenTelemetry's :class:`~opentelemetry.baggage.propagation.W3CBaggagePropagator`
does the parsing, the percent-decoding and the W3C size limits. It also logs
every entry it rejects verbatim, at WARNING, on every request: a client's
bytes (terminal escapes, CR/LF) in the server's logs. While we call it, a
filter on its logger holds those records back, and each distinct cause is
logged once by us, in our own words, without the header's bytes.

Usage::

    entries = request_baggage(b"session.id=conv-1,user.id=alice")
    entries["session.id"]  # 'conv-1'
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Final

from otel_genai_session._validation import warn_once

__all__ = ["BAGGAGE_IGNORED", "request_baggage"]

BAGGAGE_IGNORED: Final = "Ignored part of a baggage header: %s"
"""Logged once per cause; the cause is ours, never the client's bytes."""

_PROPAGATOR_LOGGER: Final = "opentelemetry.baggage.propagation"
# The propagator's message templates (its wording, not the header's bytes)
# mapped to a cause; any other template is "a malformed entry".
_CAUSES: Final = (
    ("non-ASCII", "an entry with non-ASCII characters"),
    ("per list-member", "an entry over the W3C limit of 4096 bytes"),
    ("number of list-members", "entries past the W3C limit of 180"),
    ("per baggage-string", "a header over the W3C limit of 8192 bytes"),
)
_held: ContextVar[list[str] | None] = ContextVar("otel_genai_session.held_logs", default=None)


class _HoldBack(logging.Filter):
    """Keeps the template of each record logged while we extract, drops the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        held = _held.get()
        if held is None:  # someone else's call: not ours to silence
            return True
        held.append(str(record.msg))
        return False


_HOLD_BACK: Final = _HoldBack()


def request_baggage(header: bytes) -> dict[str, str]:
    """The baggage entries of ``header`` (raw bytes), by key."""
    from opentelemetry.baggage import get_all
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.context import Context

    logging.getLogger(_PROPAGATOR_LOGGER).addFilter(_HOLD_BACK)  # no-op once added
    held: list[str] = []
    token = _held.set(held)
    try:
        carrier = {"baggage": header.decode("latin-1")}
        context = W3CBaggagePropagator().extract(carrier, context=Context())
    finally:
        _held.reset(token)
    for template in held:
        warn_once(BAGGAGE_IGNORED, _cause(template))
    return {key: str(value) for key, value in get_all(context).items()}


def _cause(template: str) -> str:
    for marker, cause in _CAUSES:
        if marker in template:
            return cause
    return "a malformed entry"
