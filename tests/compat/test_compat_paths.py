"""The compat distribution: every ``opentelemetry.util.genai`` path the README
documented before the core split resolves to the very objects of the core."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import otel_genai_session

# (former path, core module): each name of the former module's public surface.
PATHS = [
    ("opentelemetry.util.genai", "otel_genai_session"),
    ("opentelemetry.util.genai.handler", "otel_genai_session.handler"),
    ("opentelemetry.util.genai.types", "otel_genai_session.types"),
    ("opentelemetry.util.genai.session", "otel_genai_session.session"),
    ("opentelemetry.util.genai.environment_variables", "otel_genai_session.environment_variables"),
    ("opentelemetry.util.genai.processor", "otel_genai_session.processor"),
    ("opentelemetry.util.genai.logs", "otel_genai_session.logs"),
    ("opentelemetry.util.genai.executor", "otel_genai_session.executor"),
    ("opentelemetry.util.genai.privacy", "otel_genai_session.privacy"),
    ("opentelemetry.util.genai.middleware", "otel_genai_session.middleware"),
    ("opentelemetry.util.genai.middleware.asgi", "otel_genai_session.middleware.asgi"),
    ("opentelemetry.util.genai.middleware.wsgi", "otel_genai_session.middleware.wsgi"),
    ("opentelemetry.util.genai.langchain", "otel_genai_session.langchain"),
    ("opentelemetry.util.genai.attributes", "otel_genai_session.attributes"),
    ("opentelemetry.util.genai.version", "otel_genai_session.version"),
]

# A former module that also served names the core now serves from one place only:
# the seed's handler module re-exported the session API, and Splunk's serves its
# GenAI context API there too.
MOVED = {
    "opentelemetry.util.genai": ("otel_genai_session.splunk_context",),
    "opentelemetry.util.genai.handler": (
        "otel_genai_session.session",
        "otel_genai_session.splunk_context",
    ),
}

# The seed's two names for the scope and environ key: the core defines one.
RENAMED = {"SCOPE_KEY": "SESSION_KEY", "ENVIRON_KEY": "SESSION_KEY"}

# What the README and the session-context spec import, by path.
DOCUMENTED = {
    "opentelemetry.util.genai": [
        "session_context", "set_session_context", "get_session_context",
        "clear_session_context", "SessionContext", "TelemetryHandler",
        "get_telemetry_handler", "SessionSpanProcessor", "LLMInvocation", "ToolCall",
        "AgentInvocation", "Workflow", "Step", "EmbeddingInvocation",
        "RetrievalInvocation", "GenAIInvocation", "__version__",
    ],
    "opentelemetry.util.genai.handler": [
        "session_context", "set_session_context", "get_session_context",
        "clear_session_context", "SessionContext", "TelemetryHandler",
        "get_telemetry_handler",
        # Splunk's GenAI context API (issue 24)
        "GenAIContext", "genai_context", "set_genai_context", "get_genai_context",
        "clear_genai_context",
    ],
    "opentelemetry.util.genai.types": [
        "LLMInvocation", "ToolCall", "AgentInvocation", "Workflow", "Step",
        "EmbeddingInvocation", "RetrievalInvocation", "GenAIInvocation",
    ],
    "opentelemetry.util.genai.environment_variables": [
        "OTEL_INSTRUMENTATION_GENAI_SESSION_ID", "OTEL_INSTRUMENTATION_GENAI_USER_ID",
        "OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID",
        "OTEL_INSTRUMENTATION_GENAI_SESSION_METRIC_ATTRIBUTES",
        "OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION",
        "OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY",
        "OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION",
    ],
    "opentelemetry.util.genai.processor": ["SessionSpanProcessor"],
    "opentelemetry.util.genai.logs": ["SessionLogFilter", "SessionLogRecordProcessor"],
    "opentelemetry.util.genai.executor": [
        "ContextThreadPoolExecutor", "bind_context", "run_in_executor",
    ],
    "opentelemetry.util.genai.privacy": [
        "enable_user_id_hashing", "disable_user_id_hashing", "user_id_hashing_enabled",
    ],
    "opentelemetry.util.genai.middleware": ["GenAISessionMiddleware", "SessionWSGIMiddleware"],
    "opentelemetry.util.genai.langchain": [
        "instrument_langchain", "uninstrument_langchain", "OpenTelemetryCallbackHandler",
    ],
    "opentelemetry.util.genai.attributes": [
        "SESSION_ID", "USER_ID", "CUSTOMER_ID", "USER_HASH",
        "GEN_AI_CONVERSATION_ID", "GEN_AI_ASSOCIATION_PROPERTIES_PREFIX",
    ],
}  # fmt: skip


@pytest.mark.parametrize(("former", "core"), PATHS, ids=[former for former, _ in PATHS])
def test_every_compat_name_is_the_core_object(former: str, core: str) -> None:
    compat_module, core_module = importlib.import_module(former), importlib.import_module(core)
    assert compat_module is not core_module
    assert compat_module.__all__, former
    homes = [core_module, *map(importlib.import_module, MOVED.get(former, ()))]
    for name in compat_module.__all__:
        if name in RENAMED:
            core_key = importlib.import_module("otel_genai_session.middleware").SESSION_KEY
            assert getattr(compat_module, name) is core_key == "otel_genai_session.session"
            continue
        home = next((module for module in homes if hasattr(module, name)), core_module)
        assert getattr(compat_module, name) is getattr(home, name), f"{former}.{name}"


@pytest.mark.parametrize("path", sorted(DOCUMENTED))
def test_documented_names_resolve(path: str) -> None:
    module = importlib.import_module(path)
    for name in DOCUMENTED[path]:
        assert name in module.__all__, f"{path}.{name}"
        getattr(module, name)


def test_compat_root_serves_every_core_name() -> None:
    import opentelemetry.util.genai as compat

    assert set(otel_genai_session.__all__) <= set(compat.__all__)
    with pytest.raises(AttributeError):
        compat.not_a_name  # noqa: B018


def test_same_behaviour_through_either_path() -> None:
    from opentelemetry.util.genai.handler import get_session_context, session_context
    from opentelemetry.util.genai.types import LLMInvocation

    with session_context(session_id="conv-1", user_id="alice"):
        assert otel_genai_session.get_session_context().session_id == "conv-1"
        call = LLMInvocation(request_model="gpt-4o")
    assert (call.session_id, call.user_id) == ("conv-1", "alice")
    with otel_genai_session.session_context(customer_id="acme"):
        assert get_session_context().customer_id == "acme"


def test_compat_import_stays_light() -> None:
    """Like the core: the root loads neither the SDK nor a web framework."""
    code = (
        "import sys, opentelemetry.util.genai, opentelemetry.util.genai.middleware;"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'starlette',"
        " 'flask', 'werkzeug'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
