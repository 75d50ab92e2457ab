"""``otel_genai_session.instrument()``: the processors on the global providers, once
each; a provider that is not the SDK's is named in one log line. Each case in a
fresh process (the global providers can be set once per process)."""

from __future__ import annotations

import subprocess
import sys

from tests.sampling._support import child_environment

SDK_PROVIDERS = """
from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_genai_session
from otel_genai_session import providers, session_context
from otel_genai_session.instrumentor import GenAISessionInstrumentor

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
logger_provider = LoggerProvider()
set_logger_provider(logger_provider)

print(otel_genai_session.instrument())
print(otel_genai_session.instrument())
GenAISessionInstrumentor().instrument()
tracer = trace.get_tracer("t")
with session_context(session_id="s1"):
    tracer.start_span("on").end()
# SDK internals, read by this test only: how many processors each provider has
print(len(provider._active_span_processor._span_processors))
print(len(logger_provider._multi_log_record_processor._log_record_processors))
GenAISessionInstrumentor().uninstrument()
with session_context(session_id="s1"):
    tracer.start_span("off").end()
otel_genai_session.instrument()
with session_context(session_id="s1"):
    tracer.start_span("on again").end()
print(len(provider._active_span_processor._span_processors))
print([(s.name, s.attributes.get("session.id")) for s in exporter.get_finished_spans()])
"""

NO_SDK_PROVIDER = """
import otel_genai_session
print(otel_genai_session.instrument())
"""


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_environment(),
        check=False,
    )


def test_once_each_and_switched_off_by_uninstrument() -> None:
    result = _run(SDK_PROVIDERS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Instrumented(traces=True, logs=True)",
        "Instrumented(traces=True, logs=True)",
        "2",  # the exporter's and ours, once
        "1",
        "2",
        "[('on', 's1'), ('off', None), ('on again', 's1')]",
    ]


def test_a_provider_that_is_not_the_sdks_is_named_in_one_line() -> None:
    result = _run(NO_SDK_PROVIDER)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Instrumented(traces=False, logs=False)"]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # the traces line (WARNING); the logs one is INFO
    assert (
        "The global TracerProvider is ProxyTracerProvider, not the OpenTelemetry SDK's"
        in (lines[0])
    )
    assert "SessionSpanProcessor was not added" in lines[0]


EXPLICIT_PROVIDER = """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.instrumentor import GenAISessionInstrumentor

exporter = InMemorySpanExporter()
provider = TracerProvider()  # never made global
provider.add_span_processor(SimpleSpanProcessor(exporter))
GenAISessionInstrumentor().instrument(tracer_provider=provider)
with session_context(session_id="s1", customer_id="acme"):
    provider.get_tracer("t").start_span("explicit").end()
print([dict(s.attributes) for s in exporter.get_finished_spans()])
"""


def test_the_instrumentor_takes_a_tracer_provider_as_opentelemetrys_do() -> None:
    result = _run(EXPLICIT_PROVIDER)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[{'session.id': 's1', 'customer.id': 'acme'}]"]


HASHING_UNDONE = """
from otel_genai_session.instrumentor import GenAISessionInstrumentor
from otel_genai_session.privacy import user_id_attribute

instrumentor = GenAISessionInstrumentor()
instrumentor.instrument()
print(user_id_attribute("alice")[0])
instrumentor.uninstrument()
print(user_id_attribute("alice")[0])
"""


def test_uninstrument_switches_off_the_hashing_it_switched_on() -> None:
    result = subprocess.run(
        [sys.executable, "-c", HASHING_UNDONE],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_environment({"OTEL_GENAI_SESSION_USER_ID_HASH_KEY": "k"}),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["user.hash", "user.id"]
