"""Re-exports :mod:`otel_genai_session.attributes` at its former path."""

from otel_genai_session.attributes import (
    CUSTOMER_ID,
    DEFAULT_PROPERTY_PREFIX,
    GEN_AI_ASSOCIATION_PROPERTIES_PREFIX,
    GEN_AI_CONVERSATION_ID,
    PROPERTY_PREFIX,
    SESSION_ATTRIBUTE_KEYS,
    SESSION_ID,
    USER_HASH,
    USER_ID,
    property_attribute,
)

__all__ = [
    "CUSTOMER_ID",
    "DEFAULT_PROPERTY_PREFIX",
    "GEN_AI_ASSOCIATION_PROPERTIES_PREFIX",
    "GEN_AI_CONVERSATION_ID",
    "PROPERTY_PREFIX",
    "SESSION_ATTRIBUTE_KEYS",
    "SESSION_ID",
    "USER_HASH",
    "USER_ID",
    "property_attribute",
]
