"""Re-exports :mod:`otel_genai_session.attributes` at its former path."""

from otel_genai_session.attributes import (
    CUSTOMER_ID,
    SESSION_ATTRIBUTE_KEYS,
    SESSION_ID,
    USER_HASH,
    USER_ID,
)

__all__ = [
    "CUSTOMER_ID",
    "SESSION_ATTRIBUTE_KEYS",
    "SESSION_ID",
    "USER_HASH",
    "USER_ID",
]
