"""SessionLogRecordProcessor: the session ids on OpenTelemetry log records.

Needs the OpenTelemetry SDK (``pip install 'otel-genai-session[sdk]'``);
:mod:`otel_genai_session.logs` exports it and imports this module on first use.

Usage::

    from opentelemetry.sdk._logs import LoggerProvider
    from otel_genai_session.logs import SessionLogRecordProcessor

    provider = LoggerProvider()
    provider.add_log_record_processor(SessionLogRecordProcessor())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_genai_session._conversation import conversation_option, event_conversation_id
from otel_genai_session._sdk import missing_sdk
from otel_genai_session._validation import logger
from otel_genai_session.session import session_attributes

try:
    from opentelemetry.sdk._logs import LogRecordProcessor
except ImportError as error:  # the SDK is the `sdk` extra
    raise ImportError(missing_sdk("SessionLogRecordProcessor")) from error

__all__ = ["SessionLogRecordProcessor"]


class SessionLogRecordProcessor(LogRecordProcessor):
    """Adds the session attributes to OpenTelemetry log records as they are emitted.

    Register it on the ``LoggerProvider`` before the exporting processor: each
    record (the GenAI events of the official instrumentations included) gets
    the ``session.id``, ``user.id`` and ``customer.id`` in effect when it is
    emitted, the environment variables filling missing ids. Values a record
    already carries are kept; the processor never raises.

    Args:
        conversation_id_from_session: also give each GenAI event (a record
            whose event name starts with ``gen_ai.``) ``gen_ai.conversation.id``,
            the session id, when it carries none. Off by default, as the GenAI
            conventions ask; None reads
            ``OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION`` (``true``),
            like ``SessionSpanProcessor`` and ``TelemetryHandler``.

    Raises:
        TypeError: ``conversation_id_from_session`` is not a bool or None.
    """

    def __init__(self, *, conversation_id_from_session: bool | None = None) -> None:
        enabled = conversation_option(conversation_id_from_session, "SessionLogRecordProcessor")
        self.conversation_id_from_session = enabled

    def on_emit(self, log_record: Any) -> None:
        try:
            attributes: Mapping[str, str] = session_attributes()
            if not attributes:
                return
            record = getattr(log_record, "log_record", log_record)
            existing = record.attributes
            if existing is None:  # (an empty mapping is kept: the SDK's holds its limits)
                existing = record.attributes = {}
            missing = {k: v for k, v in attributes.items() if k not in existing}
            if self.conversation_id_from_session:
                missing.update(event_conversation_id(record, existing, attributes))
            if not missing:
                return
            try:  # into the record's own (maybe empty, so falsy) attributes
                for key, value in missing.items():
                    existing[key] = value
            except TypeError:  # immutable attributes (older SDKs): replace them
                record.attributes = {**existing, **missing}
        except Exception:
            logger.debug("SessionLogRecordProcessor.on_emit failed", exc_info=True)

    def emit(self, log_data: Any) -> None:  # SDKs before on_emit
        self.on_emit(log_data)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
