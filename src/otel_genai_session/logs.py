"""Session ids on log records: a ``logging.Filter`` and an OpenTelemetry log processor.

:class:`SessionLogFilter` adds ``session_id``, ``user_id`` and ``customer_id``
attributes to every standard-library log record, so formatters can print them
(``%(session_id)s``). Attach it to *handlers*: a filter on a logger does not see
records propagated from its child loggers. With user-id hashing on,
``user_id`` holds the pseudonym, never the raw id.

:class:`SessionLogRecordProcessor` gives OpenTelemetry log records (those the
SDK's ``LoggingHandler`` or any OpenTelemetry logger emits) the span attribute
names: ``session.id``, ``user.id`` (or ``user.hash``) and ``customer.id``.

Usage with ``logging.config.dictConfig``::

    LOGGING = {
        "version": 1,
        "filters": {"session": {"()": "otel_genai_session.logs.SessionLogFilter"}},
        "formatters": {
            "plain": {"format": "%(levelname)s [%(session_id)s %(user_id)s] %(message)s"}
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "filters": ["session"],
                "formatter": "plain",
            }
        },
        "root": {"handlers": ["console"], "level": "INFO"},
    }
"""

from __future__ import annotations

import logging
from typing import Any

from otel_genai_session._validation import logger
from otel_genai_session.attributes import CUSTOMER_ID, SESSION_ID, USER_HASH, USER_ID
from otel_genai_session.session import session_attributes

__all__ = ["SessionLogFilter", "SessionLogRecordProcessor"]


class SessionLogFilter(logging.Filter):
    """Adds the session in effect to each record; never drops a record.

    Args:
        default_value: what the attributes hold outside a session (``None``
            prints as ``None``; ``"-"`` reads better in plain-text logs).
    """

    def __init__(self, name: str = "", default_value: str | None = None) -> None:
        super().__init__(name)
        self.default_value = default_value

    def filter(self, record: logging.LogRecord) -> bool:
        attributes = session_attributes()
        default = self.default_value
        record.session_id = attributes.get(SESSION_ID, default)
        record.user_id = attributes.get(USER_ID) or attributes.get(USER_HASH, default)
        record.customer_id = attributes.get(CUSTOMER_ID, default)
        return True


try:
    from opentelemetry.sdk._logs import LogRecordProcessor
except ImportError:  # pragma: no cover - SDKs before the logs API
    LogRecordProcessor = object  # type: ignore[misc,assignment]


class SessionLogRecordProcessor(LogRecordProcessor):
    """Adds the session attributes to OpenTelemetry log records as they are emitted.

    Register it on the ``LoggerProvider`` before the exporting processor.
    Values a record already carries are kept; the processor never raises.
    """

    def on_emit(self, log_record: Any) -> None:
        try:
            attributes = session_attributes()
            if not attributes:
                return
            record = getattr(log_record, "log_record", log_record)
            existing = record.attributes or {}
            missing = {k: v for k, v in attributes.items() if k not in existing}
            if not missing:
                return
            try:
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
