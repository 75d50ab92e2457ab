"""Environment variables as the fallback: a batch job, a CLI, one process per tenant.

    OTEL_INSTRUMENTATION_GENAI_SESSION_ID=nightly-2024-06-01 \\
    OTEL_INSTRUMENTATION_GENAI_USER_ID=etl-bot \\
    OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID=acme \\
    python examples/env_fallback.py

(Without them, the example sets those three values itself.) Each field
resolves on its own: a value given on the invocation wins, then the session in
effect, then the environment variable, which is read when a span starts, so a
change made at run time takes effect on the next span.
"""

from __future__ import annotations

import logging
import os
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID,
    OTEL_INSTRUMENTATION_GENAI_SESSION_ID,
    OTEL_INSTRUMENTATION_GENAI_USER_ID,
)
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.types import LLMInvocation

KEYS = ("session.id", "user.id", "customer.id")

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SessionSpanProcessor())  # env ids on non-GenAI spans too
provider.add_span_processor(SimpleSpanProcessor(exporter))
handler = TelemetryHandler(tracer_provider=provider)
tracer = provider.get_tracer("env-fallback-example")
failures: list[str] = []


def show(label: str, expected: tuple[str | None, ...]) -> None:
    attributes = exporter.get_finished_spans()[-1].attributes or {}
    got = tuple(attributes.get(key) for key in KEYS)
    cells = "".join(f"{value or '-':<20}" for value in got)
    print(f"  {label:<48} {cells}{'ok' if got == expected else 'UNEXPECTED'}")
    if got != expected:
        failures.append(f"{label}: expected {expected}, got {got}")


def main() -> int:
    logging.basicConfig(stream=sys.stdout, format="  log %(levelname)s: %(message)s")
    os.environ.setdefault(OTEL_INSTRUMENTATION_GENAI_SESSION_ID, "nightly-2024-06-01")
    os.environ.setdefault(OTEL_INSTRUMENTATION_GENAI_USER_ID, "etl-bot")
    os.environ.setdefault(OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID, "acme")
    env = tuple(
        os.environ[name]
        for name in (
            OTEL_INSTRUMENTATION_GENAI_SESSION_ID,
            OTEL_INSTRUMENTATION_GENAI_USER_ID,
            OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID,
        )
    )
    print("Environment:", dict(zip(KEYS, env, strict=True)))
    print(f"  {'':<48} " + "".join(f"{key:<20}" for key in KEYS).rstrip())

    with handler.llm(LLMInvocation(request_model="fake-model")):
        pass
    show("1. no session: all three from the environment", env)

    with tracer.start_as_current_span("GET /internal/report"):
        pass
    show("2. a plain span gets them too (the processor)", env)

    with session_context(user_id="alice"):
        with handler.llm(LLMInvocation(request_model="fake-model")):
            pass
        show("3. session sets user only: others from env", (env[0], "alice", env[2]))

        with handler.llm(LLMInvocation(request_model="fake-model", customer_id="globex")):
            pass
        show("4. explicit customer_id on the invocation", (env[0], "alice", "globex"))

    os.environ[OTEL_INSTRUMENTATION_GENAI_SESSION_ID] = "nightly-2024-06-02"
    with handler.llm(LLMInvocation(request_model="fake-model")):
        pass
    show("5. env changed at run time: read again", ("nightly-2024-06-02", env[1], env[2]))

    os.environ[OTEL_INSTRUMENTATION_GENAI_USER_ID] = "etl\nbot"  # a control character
    with handler.llm(LLMInvocation(request_model="fake-model")):
        pass
    show("6. an invalid env value is dropped (logged once)", ("nightly-2024-06-02", None, env[2]))

    if failures:
        print("\nUnexpected:", *failures, sep="\n  ")
        return 1
    print("\nPriority per field: explicit on the invocation > session in effect > environment.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
