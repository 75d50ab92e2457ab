"""The otel-genai-session API at the ``opentelemetry.util.genai`` import paths.

Every module of this package re-exports the same objects from
:mod:`otel_genai_session`, where the one implementation lives. This distribution
(``otel-genai-session-compat``) cannot share an environment with
``opentelemetry-util-genai``; new code should import ``otel_genai_session``.

Usage::

    from opentelemetry.util.genai import session_context

    with session_context(session_id="conv-123", user_id="user-456"):
        ...
"""

from typing import Any

import otel_genai_session
from otel_genai_session import (
    SessionContext as SessionContext,
)
from otel_genai_session import (
    __version__ as __version__,
)
from otel_genai_session import (
    clear_session_context as clear_session_context,
)
from otel_genai_session import (
    get_session_context as get_session_context,
)
from otel_genai_session import (
    session_context as session_context,
)
from otel_genai_session import (
    set_session_context as set_session_context,
)

# Splunk's GenAI context API, which its package also serves from the root.
_GENAI_CONTEXT = (
    "GenAIContext",
    "clear_genai_context",
    "genai_context",
    "get_genai_context",
    "set_genai_context",
)

__all__ = [*otel_genai_session.__all__, *_GENAI_CONTEXT]


def __getattr__(name: str) -> Any:
    # The package root's lazy names (handler, processors, types, middlewares).
    if name in otel_genai_session.__all__:
        return getattr(otel_genai_session, name)
    if name in _GENAI_CONTEXT:
        from otel_genai_session import splunk_context

        return getattr(splunk_context, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
