"""LangChain and LangGraph runs as GenAI spans that carry the session ids.

Needs the ``langchain`` extra: ``pip install 'otel-genai-session[langchain]'``.
Nothing else in the package imports LangChain.

Usage::

    from otel_genai_session import session_context
    from otel_genai_session.langchain import instrument_langchain

    instrument_langchain()  # every chain, graph, model and tool run from now on

    with session_context(session_id="conv-123", user_id="user-456"):
        chain.invoke({"input": "Hello"})  # spans carry session.id and user.id

Or per call, without the global switch::

    from otel_genai_session.langchain import OpenTelemetryCallbackHandler

    handler = OpenTelemetryCallbackHandler()
    chain.invoke({"input": "Hello"}, config={"callbacks": [handler]})
"""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised without the extra only
    raise ImportError(
        "otel_genai_session.langchain needs langchain-core: "
        "pip install 'otel-genai-session[langchain]'"
    ) from error

from otel_genai_session.langchain._callback import (
    DEFAULT_AGENT_NAMES,
    OpenTelemetryCallbackHandler,
)
from otel_genai_session.langchain._ids import DEFAULT_METADATA_KEYS
from otel_genai_session.langchain._instrument import (
    installed_handler,
    instrument_langchain,
    uninstrument_langchain,
)
from otel_genai_session.langchain._runs import HIDDEN_TAG

__all__ = [
    "DEFAULT_AGENT_NAMES",
    "DEFAULT_METADATA_KEYS",
    "HIDDEN_TAG",
    "OpenTelemetryCallbackHandler",
    "installed_handler",
    "instrument_langchain",
    "uninstrument_langchain",
]
