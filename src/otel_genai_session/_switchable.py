"""The processors :mod:`otel_genai_session.providers` adds, with an off switch.

The SDK can add a processor to a provider but not remove it, so
``uninstrument()`` switches ours off instead, and a later ``instrument()``
switches the same ones on again (never a second one on the same provider).
Imported only once an SDK provider has been found.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span

from otel_genai_session._log_processor import SessionLogRecordProcessor
from otel_genai_session.processor import SessionSpanProcessor

__all__ = ["SwitchableLogRecordProcessor", "SwitchableSpanProcessor"]


class SwitchableSpanProcessor(SessionSpanProcessor):
    """:class:`SessionSpanProcessor` that does nothing while ``active`` is False."""

    active = True

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.active:
            super().on_start(span, parent_context)

    def _on_start_with_conversation_id(
        self, span: Span, parent_context: Context | None = None
    ) -> None:  # what ``on_start`` is, with conversation_id_from_session on
        if self.active:
            super()._on_start_with_conversation_id(span, parent_context)


class SwitchableLogRecordProcessor(SessionLogRecordProcessor):
    """:class:`SessionLogRecordProcessor` that does nothing while ``active`` is False."""

    active = True

    def on_emit(self, log_record: Any) -> None:
        if self.active:
            super().on_emit(log_record)
