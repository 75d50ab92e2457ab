"""``opentelemetry.util.genai.langchain``: re-exports :mod:`otel_genai_session.langchain`."""

from otel_genai_session.langchain import (
    DEFAULT_AGENT_NAMES,
    DEFAULT_METADATA_KEYS,
    HIDDEN_TAG,
    OpenTelemetryCallbackHandler,
    installed_handler,
    instrument_langchain,
    uninstrument_langchain,
)

__all__ = [
    "DEFAULT_AGENT_NAMES",
    "DEFAULT_METADATA_KEYS",
    "HIDDEN_TAG",
    "OpenTelemetryCallbackHandler",
    "installed_handler",
    "instrument_langchain",
    "uninstrument_langchain",
]
