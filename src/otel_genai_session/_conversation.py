"""``gen_ai.conversation.id`` from the session: the switch, and which spans and events get it.

The GenAI semantic conventions define ``gen_ai.conversation.id`` and ask
instrumentations not to invent one: "application developers MAY add
conversation id using custom span or log record processors". Our processors
and :class:`~otel_genai_session.handler.TelemetryHandler` are that, when the
application opts in (``conversation_id_from_session=True`` or
``OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION=true``): the
conversation id is then the session id, on GenAI telemetry only, and never
replaces one that an instrumentation set.

- A **GenAI span** is one started with ``gen_ai.operation.name``,
  ``gen_ai.provider.name`` or (older conventions) ``gen_ai.system`` among its
  attributes: what the official instrumentations (``chat``, ``embeddings``,
  ``invoke_agent``, ...), OpenLLMetry and our handler set when they start one.
- A **GenAI event** is a log record whose event name starts with ``gen_ai.``
  (``gen_ai.client.inference.operation.details``, ``gen_ai.user.message``, ...).

The conversation id written is the session id the span or record carries:
its own ``session.id`` when it was started with one, else the session in
effect (environment variables filling a missing id), so the two attributes
never disagree.

Usage::

    enabled = conversation_option(None, "SessionSpanProcessor")  # the env var
    add_with_conversation_id(span, session.attributes)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from otel_genai_session._fastpaths import add_span_attributes, span_attributes
from otel_genai_session._validation import warn_once
from otel_genai_session.attributes import GEN_AI_CONVERSATION_ID, SESSION_ID
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = [
    "GENAI_EVENT_PREFIX",
    "GENAI_SPAN_KEYS",
    "add_with_conversation_id",
    "conversation_option",
    "event_conversation_id",
    "is_genai_event",
    "is_genai_span",
]

GENAI_SPAN_KEYS: Final = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system")
"""A span started with any of these attributes is a GenAI span."""

GENAI_EVENT_PREFIX: Final = "gen_ai."
"""A log record whose event name starts with this is a GenAI event."""

BAD_FLAG: Final = "%s=%r is ignored (expected true or false): no conversation id from the session"


def conversation_option(value: object, owner: str) -> bool:
    """The option as given, or (None) as ``OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION``
    says: ``true`` (any case, spaces around) turns it on; anything else but
    ``false`` or empty is reported once, naming the variable, and leaves it off.

    Raises:
        TypeError: ``value`` is neither a bool nor None.
    """
    if value is None:
        variable = OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION
        flag = os.environ.get(variable, "").strip().lower()
        if flag not in ("", "true", "false"):
            warn_once(BAD_FLAG, variable, flag[:20])
        return flag == "true"
    if not isinstance(value, bool):
        raise TypeError(
            f"{owner}: conversation_id_from_session must be True, False or None, not {value!r}"
        )
    return value


def is_genai_span(present: Mapping[str, Any]) -> bool:
    """Whether a span started with these attributes is a GenAI span."""
    # Spelled out rather than any(...) over GENAI_SPAN_KEYS: no generator per span.
    return (
        "gen_ai.operation.name" in present
        or "gen_ai.provider.name" in present
        or ("gen_ai.system" in present)
    )


def add_with_conversation_id(span: Span, attributes: Mapping[str, str]) -> None:
    """:func:`~._fastpaths.add_span_attributes`, plus ``gen_ai.conversation.id``
    (the span's session id) on a GenAI span that has none yet. Under the span's
    attribute limit the conversation id is the first of ours left out."""
    present, _ = span_attributes(span)
    if present and GEN_AI_CONVERSATION_ID not in present and is_genai_span(present):
        own = present.get(SESSION_ID)
        session_id = own if isinstance(own, str) else attributes.get(SESSION_ID)
        if session_id is not None:
            attributes = {**attributes, GEN_AI_CONVERSATION_ID: session_id}
    add_span_attributes(span, attributes)


def is_genai_event(record: Any, attributes: Mapping[str, Any]) -> bool:
    """Whether an SDK log record is a GenAI event: its ``event_name`` (or, on
    SDKs before that field, its ``event.name`` attribute) starts with ``gen_ai.``."""
    name = getattr(record, "event_name", None) or attributes.get("event.name")
    return isinstance(name, str) and name.startswith(GENAI_EVENT_PREFIX)


def event_conversation_id(
    record: Any, existing: Mapping[str, Any], attributes: Mapping[str, str]
) -> dict[str, str]:
    """``{gen_ai.conversation.id: session id}`` for a GenAI event that has no
    conversation id yet (the record's own ``session.id`` first), else ``{}``."""
    if GEN_AI_CONVERSATION_ID in existing or not is_genai_event(record, existing):
        return {}
    own = existing.get(SESSION_ID)
    session_id = own if isinstance(own, str) else attributes.get(SESSION_ID)
    return {} if session_id is None else {GEN_AI_CONVERSATION_ID: session_id}
