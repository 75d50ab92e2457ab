"""SessionSpanProcessor: the session ids on every span, not only GenAI ones.

Add it to the ``TracerProvider`` and each span started while a session is in
effect (HTTP client and database spans, other instrumentations' spans, the
server span when it starts inside the session) gets ``session.id``,
``user.id`` and ``customer.id``. Values a span was started with are kept, the
span attribute limit is respected (ours are skipped rather than evicting
others), and the processor never raises. With ``conversation_id_from_session``
on, GenAI spans also get ``gen_ai.conversation.id`` (the session id) when
their instrumentation gives none.

Needs the OpenTelemetry SDK: ``pip install 'otel-genai-session[sdk]'``.

Usage::

    from opentelemetry.sdk.trace import TracerProvider
    from otel_genai_session.processor import SessionSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from opentelemetry.context import Context

from otel_genai_session._conversation import add_with_conversation_id, conversation_option
from otel_genai_session._fastpaths import add_span_attributes
from otel_genai_session._sdk import missing_sdk
from otel_genai_session._store import _current
from otel_genai_session._validation import logger
from otel_genai_session.session import env_ids_unset, session_attributes

try:
    from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
except ImportError as error:  # the SDK is the `sdk` extra
    raise ImportError(missing_sdk("SessionSpanProcessor")) from error

__all__ = ["SessionSpanProcessor"]

_session: Final = _current.get


class SessionSpanProcessor(SpanProcessor):
    """Copies the session in effect (env vars filling missing ids) onto spans.

    Add it to the ``TracerProvider`` before the exporting processors. In
    ``on_start`` each span gets ``session.id``, ``user.id`` (or ``user.hash``
    with hashing on) and ``customer.id`` of the session in effect, and its
    properties (``PROPERTY_PREFIX + key``);
    ``OTEL_INSTRUMENTATION_GENAI_SESSION_ID``, ``..._USER_ID`` and
    ``..._CUSTOMER_ID`` fill the ids the session lacks. Values a span was
    started with are kept, the span attribute limit is respected, and it never
    raises.

    Args:
        conversation_id_from_session: also give each GenAI span (one started
            with ``gen_ai.operation.name``, ``gen_ai.provider.name`` or
            ``gen_ai.system``: the official instrumentations' ``chat`` spans,
            for example) ``gen_ai.conversation.id``, the session id, when it
            was started without one. An instrumentation that sets its own
            later (at the end of the span, as the official ones do) replaces
            ours. Off by default, as the GenAI conventions ask; None reads
            ``OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION``
            (``true``), the variable ``TelemetryHandler`` reads too.

    Raises:
        TypeError: ``conversation_id_from_session`` is not a bool or None.

    Example:
        ```python
        provider = TracerProvider()
        provider.add_span_processor(SessionSpanProcessor())  # first
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        ```
    """

    conversation_id_from_session: bool = False
    """Whether GenAI spans get ``gen_ai.conversation.id`` from the session."""

    def __init__(self, *, conversation_id_from_session: bool | None = None) -> None:
        if conversation_option(conversation_id_from_session, "SessionSpanProcessor"):
            # Chosen once, here, and only when on: off, the instance holds nothing
            # and ``on_start`` is the plain one, so a span costs what it did
            # before the option existed (benchmarks/conversation_callgrind.py).
            self.conversation_id_from_session = True
            self.on_start = self._on_start_with_conversation_id  # type: ignore[method-assign]

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            session = _session()
            attributes: Mapping[str, str] = session.attributes
            if not session._complete and not env_ids_unset():
                attributes = session_attributes()  # env vars fill the missing ids
            if attributes:  # the span's own values kept; ours skipped rather than evict others
                add_span_attributes(span, attributes)
        except Exception:  # never break the caller's span creation
            logger.debug("SessionSpanProcessor.on_start failed", exc_info=True)

    def _on_start_with_conversation_id(
        self, span: Span, parent_context: Context | None = None
    ) -> None:
        """``on_start`` with the option on: the same, plus the conversation id."""
        try:
            attributes = session_attributes()
            if attributes:
                add_with_conversation_id(span, attributes)
        except Exception:
            logger.debug("SessionSpanProcessor.on_start failed", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
