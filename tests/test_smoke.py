from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry.util.genai.handler import TelemetryHandler, session_context
from opentelemetry.util.genai.types import LLMInvocation


def test_llm_span_carries_session(
    handler: TelemetryHandler, exporter: InMemorySpanExporter, tracer_provider: TracerProvider
) -> None:
    with session_context(session_id="conv-1", user_id="u-1"):
        with handler.llm(LLMInvocation(request_model="gpt-4", provider="openai")) as inv:
            inv.output_tokens = 3
        tracer_provider.get_tracer("t").start_span("plain").end()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["chat gpt-4"].attributes is not None
    assert spans["chat gpt-4"].attributes["session.id"] == "conv-1"
    assert spans["chat gpt-4"].attributes["gen_ai.usage.output_tokens"] == 3
    assert dict(spans["plain"].attributes or {}) == {"session.id": "conv-1", "user.id": "u-1"}
