"""Session ids on log records: a ``logging.Filter`` and an OpenTelemetry log processor.

:class:`SessionLogFilter` adds ``session_id``, ``user_id`` and ``customer_id``
attributes to every standard-library log record, so formatters can print them
(``%(session_id)s``). Attach it to *handlers*: a filter on a logger does not see
records propagated from its child loggers. With user-id hashing on,
``user_id`` holds the pseudonym, never the raw id.

:class:`SessionLogRecordProcessor` gives OpenTelemetry log records (those the
SDK's ``LoggingHandler`` or any OpenTelemetry logger emits) the span attribute
names: ``session.id``, ``user.id`` (or ``user.hash``) and ``customer.id``. It
needs the OpenTelemetry SDK (``pip install 'otel-genai-session[sdk]'``) and is
imported on first use: without the SDK, the filter works and asking for the
processor raises an ImportError that names the extra.

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
from typing import TYPE_CHECKING, Any

from otel_genai_session.attributes import CUSTOMER_ID, SESSION_ID, USER_HASH, USER_ID
from otel_genai_session.session import session_attributes

if TYPE_CHECKING:
    from otel_genai_session._log_processor import SessionLogRecordProcessor

__all__ = ["SessionLogFilter", "SessionLogRecordProcessor"]


class SessionLogFilter(logging.Filter):
    """Adds the session in effect to each record; never drops a record.

    Args:
        name: the ``logging.Filter`` name, kept for ``dictConfig``; it selects
            nothing: every record passes, with the ids added.
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


def __getattr__(name: str) -> Any:
    if name == "SessionLogRecordProcessor":  # needs the SDK: imported on first use
        from otel_genai_session._log_processor import SessionLogRecordProcessor

        globals()[name] = SessionLogRecordProcessor
        return SessionLogRecordProcessor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
