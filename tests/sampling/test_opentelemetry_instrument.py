"""``OTEL_TRACES_SAMPLER=parentbased_genai_session_ratio`` under ``opentelemetry-instrument``.

The SDK's configurator (opentelemetry-distro) loads the sampler from the
``opentelemetry_traces_sampler`` entry point and passes it
``OTEL_TRACES_SAMPLER_ARG`` as a string, as for ``parentbased_traceidratio``.
First a script, exporting to the console; then a FastAPI service, instrumented
by the CLI, with ``GenAISessionMiddleware`` around it, exporting to a file.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._support import (
    INSTRUMENT_CLI,
    child_environment,
    expected_kept,
    running_service,
    rv_hex,
)

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(
        not INSTRUMENT_CLI.exists() or importlib.util.find_spec("opentelemetry.distro") is None,
        reason="needs opentelemetry-instrument and opentelemetry-distro (the 'ecosystem' extra)",
    ),
]

SESSIONS = [f"conv-{index}" for index in range(60)]

APP = f"""
from opentelemetry import trace
from otel_genai_session import session_context
from otel_genai_session.processor import SessionSpanProcessor

provider = trace.get_tracer_provider()
provider.add_span_processor(SessionSpanProcessor())
tracer = provider.get_tracer("instrumented-script")
for index, session_id in enumerate({SESSIONS!r}):
    with session_context(session_id=session_id, customer_id="acme" if index < 10 else "other"):
        for _ in range(2):
            with tracer.start_as_current_span("turn"):
                tracer.start_span("model call").end()
print("SAMPLER:", provider.sampler.get_description(), flush=True)
"""

CONSOLE = {
    "OTEL_SERVICE_NAME": "sampling-script",
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_TRACES_SAMPLER": "parentbased_genai_session_ratio",
}


def _run_instrumented(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTRUMENT_CLI), sys.executable, "-c", APP],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_environment(env),
        check=False,
    )


def _console_spans(output: str) -> list[dict[str, Any]]:
    """The JSON documents ConsoleSpanExporter printed, among other lines."""
    decoder, spans, position = json.JSONDecoder(), [], 0
    while (start := output.find("{", position)) != -1:
        try:
            document, position = decoder.raw_decode(output, start)
        except ValueError:
            position = start + 1
            continue
        if isinstance(document, dict) and "context" in document:
            spans.append(document)
    return spans


@pytest.mark.parametrize(
    ("argument", "acme_ratio"),
    [pytest.param("0.1", None, id="ratio"), pytest.param("0.1,acme=1", 1.0, id="tenant")],
)
def test_the_sampler_from_the_environment_keeps_whole_sessions(
    argument: str, acme_ratio: float | None
) -> None:
    result = _run_instrumented({**CONSOLE, "OTEL_TRACES_SAMPLER_ARG": argument})
    assert result.returncode == 0, result.stderr

    customers = "" if acme_ratio is None else ",customers=1"
    assert f"SAMPLER: ParentBased{{root:SessionRatioSampler{{0.1{customers}}}" in result.stdout
    spans = _console_spans(result.stdout)
    per_session = Counter(span["attributes"]["session.id"] for span in spans)
    acme = set(SESSIONS[:10]) if acme_ratio else set()
    expected = {s for s in SESSIONS if s in acme or expected_kept(s, 0.1)}
    assert per_session == dict.fromkeys(expected, 4)  # 2 traces x 2 spans, or nothing
    for span in spans:
        session_id = span["attributes"]["session.id"]
        th = "0" if session_id in acme else "e666"
        assert f"value=th:{th};rv:{rv_hex(session_id)}" in span["context"]["trace_state"]


def test_an_invalid_argument_is_reported_with_the_variable_and_the_value() -> None:
    result = _run_instrumented({**CONSOLE, "OTEL_TRACES_SAMPLER_ARG": "ten percent"})
    # The SDK's configurator logs the sampler's error and keeps its default sampler.
    assert result.returncode == 0, result.stderr
    assert "Failed to initialize sampler, parentbased_genai_session_ratio" in result.stderr
    assert (
        "OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, optionally followed by "
        "',customer=ratio' pairs; got 'ten percent'" in result.stderr
    )
    assert "SAMPLER: ParentBased{root:AlwaysOnSampler" in result.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("opentelemetry.instrumentation.fastapi") is None,
    reason="needs opentelemetry-instrumentation-fastapi (the 'ecosystem' extra)",
)
def test_an_instrumented_fastapi_service_keeps_whole_sessions(tmp_path: Path) -> None:
    env = {
        "OTEL_SERVICE_NAME": "sampling-service",
        "OTEL_TRACES_EXPORTER": "none",  # the service writes its spans to a file
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_TRACES_SAMPLER": "parentbased_genai_session_ratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.5",
    }
    with running_service(tmp_path, "instrumented", [], instrument=True, env=env) as service:
        assert "sampler: ParentBased{root:SessionRatioSampler{0.5}" in service.log()
        with httpx.Client(base_url=service.url, timeout=30, trust_env=False) as client:
            for session_id in SESSIONS[:30]:
                for _ in range(2):
                    response = client.get("/turn", headers={"X-Session-ID": session_id})
                    assert response.status_code == 200, response.text
        expected = {s for s in SESSIONS[:30] if expected_kept(s, 0.5)}
        servers = service.spans_until(lambda span: span["kind"] == "SERVER", 2 * len(expected))
    assert 0 < len(expected) < 30
    assert Counter(span["attributes"]["session.id"] for span in servers) == dict.fromkeys(
        expected, 2
    )
    for span in servers:  # the auto-instrumentation's server span: a root, decided by session
        assert span["parent_id"] is None
        assert span["tracestate"] == f"ot=th:8;rv:{rv_hex(span['attributes']['session.id'])}"
