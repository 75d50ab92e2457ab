"""The OpenTelemetry SDK is the ``sdk`` extra (issue 13, item 15).

Each check runs in a fresh interpreter where ``opentelemetry.sdk`` cannot be
imported, as in an application that installed the core without the extra.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

EXTRA = "pip install 'otel-genai-session[sdk]'"

WITHOUT_SDK = textwrap.dedent(
    """
    import sys

    class NoSdk:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry.sdk" or name.startswith("opentelemetry.sdk."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoSdk())
    """
)


def run_without_sdk(code: str) -> str:
    """Run ``code`` where the SDK cannot be imported; its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_SDK + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_blocker_blocks() -> None:
    assert (
        run_without_sdk(
            """
        try:
            import opentelemetry.sdk.trace
        except ModuleNotFoundError:
            print("blocked")
        """
        )
        == "blocked"
    )


def test_everything_but_the_processors_works_without_the_sdk() -> None:
    output = run_without_sdk(
        """
        import logging
        import otel_genai_session
        from otel_genai_session import (
            GenAISessionMiddleware, LLMInvocation, SessionLogFilter, SessionWSGIMiddleware,
            get_session_context, get_telemetry_handler, session_context,
        )
        from otel_genai_session.executor import ContextThreadPoolExecutor

        record = logging.LogRecord("x", logging.INFO, "app.py", 1, "m", None, None)
        handler = get_telemetry_handler()  # the API's no-op providers
        with session_context(session_id="s", user_id="u"):
            SessionLogFilter().filter(record)
            with handler.llm(LLMInvocation(request_model="m")) as invocation:
                pass
        print(record.session_id, invocation.user_id, get_session_context().is_empty())
        print(sorted(name for name in sys.modules if name.startswith("opentelemetry.sdk")))
        """
    )
    assert output.splitlines() == ["s u True", "[]"]


@pytest.mark.parametrize(
    ("statement", "feature"),
    [
        pytest.param("import otel_genai_session.processor", "SessionSpanProcessor", id="module"),
        pytest.param(
            "from otel_genai_session import SessionSpanProcessor",
            "SessionSpanProcessor",
            id="package",
        ),
        pytest.param(
            "from otel_genai_session.logs import SessionLogRecordProcessor",
            "SessionLogRecordProcessor",
            id="logs",
        ),
        pytest.param(
            "from otel_genai_session import SessionLogRecordProcessor",
            "SessionLogRecordProcessor",
            id="logs-package",
        ),
    ],
)
def test_the_processors_name_the_extra(statement: str, feature: str) -> None:
    output = run_without_sdk(
        f"""
        try:
            {statement}
        except ImportError as error:
            print(type(error).__name__, "|", error, "|", type(error.__cause__).__name__)
        else:
            print("imported")
        """
    )
    assert output == (
        f"ImportError | {feature} needs the OpenTelemetry SDK (opentelemetry-sdk), "
        f"which is not installed: {EXTRA} | ModuleNotFoundError"
    )
