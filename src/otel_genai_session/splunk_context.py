"""Splunk's GenAI context API, as a thin layer over the session and its properties.

``splunk-otel-python-contrib``'s ``opentelemetry-util-genai`` lets an
application name a conversation and attach association properties to every
GenAI invocation started inside it (``genai_context``, ``set_genai_context``,
``get_genai_context``, ``clear_genai_context``, ``GenAIContext``). Here the
same calls drive the one session of this package: **the conversation id is
the session id** and **the properties are the session's properties**, so
everything the session reaches (every span through ``SessionSpanProcessor``,
log records, baggage, Celery, executors) sees them too. The compat
distribution serves these names at ``opentelemetry.util.genai.handler``.

Inside a scope opened by this API, :class:`~otel_genai_session.handler.TelemetryHandler`
applies the context to each invocation it starts, as Splunk's handler does
(:func:`apply_genai_context`): the invocation's ``conversation_id`` (when it
has none) becomes the session id, exported as ``gen_ai.conversation.id``,
and the session's properties are merged under its own
``association_properties`` (the invocation's win per key), exported as
``gen_ai.association.properties.<key>``. The application named the
conversation, so this needs no opt-in; outside such a scope, a session set
with ``session_context`` gets ``gen_ai.conversation.id`` only with
``conversation_id_from_session`` on, as the GenAI conventions ask.
``OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION=false`` turns the applying off
(read on every invocation, as Splunk does; ids and properties still reach
spans through the session).

Usage::

    from otel_genai_session.splunk_context import genai_context

    with genai_context(conversation_id="conv-123", properties={"tier": "gold"}):
        chain.invoke({"input": "Hello"})   # the handler's spans: gen_ai.conversation.id,
                                            # gen_ai.association.properties.tier
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from otel_genai_session._properties import NO_PROPERTIES, overlay_properties
from otel_genai_session._store import (
    EMPTY_SESSION,
    SessionContext,
    _current,
    clear_session_context,
)
from otel_genai_session._validation import clean_id, warn_once
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION,
)

if TYPE_CHECKING:
    from otel_genai_session.types import GenAIInvocation

__all__ = [
    "GenAIContext",
    "apply_genai_context",
    "clear_genai_context",
    "context_propagation_enabled",
    "genai_context",
    "get_genai_context",
    "in_genai_context",
    "set_genai_context",
]

_ON: Final = frozenset(("1", "true", "yes", "on"))
_OFF: Final = frozenset(("0", "false", "no", "off"))
BAD_SWITCH: Final = "%s=%r is not one of true/false (1/0, yes/no, on/off): context not applied"

_named: Final[ContextVar[bool]] = ContextVar("otel_genai_session.splunk_context", default=False)
"""True inside a scope this API opened: the application named the session's id
as its conversation id there."""


@dataclass
class GenAIContext:
    """The GenAI context in effect: the session id and properties, as Splunk names them.

    A snapshot: :func:`get_genai_context` builds a new one each time, and
    changing it changes nothing in effect (sessions are shared by every task
    and request that uses them; use :func:`genai_context` to change them).

    Attributes:
        conversation_id: the session id (``gen_ai.conversation.id`` on the
            handler's spans in a scope of this API).
        properties: the session's properties, ``{key: value}``.
    """

    conversation_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    def is_empty(self) -> bool:
        """True when there is neither a conversation id nor a property."""
        return self.conversation_id is None and not self.properties


def _view(session: SessionContext) -> GenAIContext:
    return GenAIContext(session.session_id, dict(session.properties))


def get_genai_context() -> GenAIContext:
    """The context in effect: the session's id and properties (empty outside sessions)."""
    return _view(_current.get())


def set_genai_context(
    conversation_id: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> Token[SessionContext]:
    """Replace the conversation id and properties in effect (the session's user and
    tenant ids are kept: they are not part of a GenAI context).

    Properties are bounded and validated as the session's are (at most 16,
    keys of dot-separated ``[A-Za-z0-9_-]`` segments, values through the ids'
    rule; what breaks a rule is dropped and logged once). Returns the session
    token, which :func:`~otel_genai_session.session.clear_session_context`
    takes to restore what was in effect before.
    """
    token = _current.set(_replaced(conversation_id, properties, "set_genai_context()"))
    _named.set(True)
    return token


def clear_genai_context() -> None:
    """Remove the conversation id and every property from the session in effect."""
    _current.set(_replaced(None, None, "clear_genai_context()"))
    _named.set(False)


@contextmanager
def genai_context(
    conversation_id: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> Iterator[GenAIContext]:
    """Put a conversation and properties in effect for a block (or a decorated
    function); what was in effect before is restored on exit, also on error.

    Nested in a session (a request's, or another ``genai_context``), it
    inherits what it does not give: the conversation id, the user and tenant
    ids, and the properties, overridden per key (a key given None is removed).

    Yields:
        The context in effect inside the block.
    """
    session = _current.get().overlay(
        conversation_id, source="genai_context()", properties=properties
    )
    token, named = _current.set(session), _named.set(True)
    try:
        yield _view(session)
    finally:
        try:
            _current.reset(token)
        except (ValueError, RuntimeError):  # left in another context than entered
            clear_session_context(token)
        try:
            _named.reset(named)
        except (ValueError, RuntimeError):
            _named.set(named.old_value is True)


def in_genai_context() -> bool:
    """Whether a scope of this API is in effect here."""
    return _named.get()


def context_propagation_enabled() -> bool:
    """``OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION``, read now: on unless it is
    ``false``, ``0``, ``no`` or ``off`` (another value is logged once, and is off,
    as in Splunk's package)."""
    raw = os.environ.get(OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION, "").strip().lower()
    if not raw or raw in _ON:
        return True
    if raw not in _OFF:
        warn_once(BAD_SWITCH, OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION, raw[:20])
    return False


def apply_genai_context(invocation: GenAIInvocation) -> None:
    """Give ``invocation`` the context in effect, as Splunk's handler does at start:
    its ``conversation_id``, when it has none, becomes the session id, and the
    session's properties go under its ``association_properties`` (its own win
    per key). Does nothing when ``OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION``
    is off. :class:`~otel_genai_session.handler.TelemetryHandler` calls it on
    every start inside a scope of this API.
    """
    if not context_propagation_enabled():
        return
    session = _current.get()
    if not invocation.conversation_id and session.session_id is not None:
        invocation.conversation_id = session.session_id
    if session.properties:
        invocation.association_properties = {
            **session.properties,
            **invocation.association_properties,
        }


def _replaced(conversation_id: object, properties: object, source: str) -> SessionContext:
    """The session in effect with exactly this conversation id and these properties."""
    current = _current.get()
    session = SessionContext._validated(
        clean_id(conversation_id, "conversation_id", source),
        current.user_id,
        current.customer_id,
        overlay_properties(NO_PROPERTIES, properties, source),
    )
    return EMPTY_SESSION if session.is_empty() else session  # as clear_session_context()
