"""The manual session API: set_, get_ and clear_session_context, and session_context.

Prefer ``with session_context(...)``: it restores what was there before, even
when the block raises. Use ``set_session_context`` when a session starts in one
callback and ends in another (a message-queue consumer, a framework hook pair),
and keep the token it returns: ``clear_session_context(token)`` restores the
previous state instead of blanking it.

    python examples/manual_api.py
"""

from __future__ import annotations

import logging
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import (
    clear_session_context,
    get_session_context,
    session_context,
    set_session_context,
)
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.types import LLMInvocation

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SessionSpanProcessor())
provider.add_span_processor(SimpleSpanProcessor(exporter))
handler = TelemetryHandler(tracer_provider=provider)

KEYS = ("session.id", "user.id", "customer.id")
failures: list[str] = []


def ask_model(prompt: str) -> None:
    """Stands in for your model call; the handler makes its span."""
    with handler.llm(LLMInvocation(request_model="fake-model", provider="fake")) as call:
        call.input_tokens, call.output_tokens = len(prompt.split()), 7


def step(label: str, expected: tuple[str | None, str | None, str | None]) -> None:
    """Call the model, then show (and check) the ids its span got."""
    ask_model(label)
    attributes = exporter.get_finished_spans()[-1].attributes or {}
    got = tuple(attributes.get(key) for key in KEYS)
    shown = "".join(f"{value or '-':<13}" for value in got)
    print(f"  {label:<50} {shown}{'ok' if got == expected else 'UNEXPECTED'}")
    if got != expected:
        failures.append(f"{label}: expected {expected}, got {got}")


def main() -> int:
    # Dropped ids are reported on this logger (once per cause, never the value).
    logging.basicConfig(stream=sys.stdout, format="  log %(levelname)s: %(message)s")

    print("Outside any session:", get_session_context())
    print(
        f"  {'step: the span of a model call made after it':<50} "
        + "".join(f"{k:<13}" for k in KEYS)
    )
    step("1. nothing set", (None, None, None))

    token = set_session_context(session_id="conv-1", user_id="alice", customer_id="acme")
    print("After set_session_context:", get_session_context())
    step("2. set_session_context(conv-1, alice, acme)", ("conv-1", "alice", "acme"))

    with session_context(user_id="bob") as inner:
        # Nested: the arguments given override, the others are inherited.
        print("Inside session_context(user_id='bob'):", inner)
        step("3. nested session_context(user_id='bob')", ("conv-1", "bob", "acme"))
    step("4. after the with block: alice again", ("conv-1", "alice", "acme"))

    second = set_session_context(session_id="conv-2")  # replaces ALL fields
    step("5. set_session_context(session_id='conv-2')", ("conv-2", None, None))
    clear_session_context(second)  # restores what the set replaced
    step("6. clear_session_context(token): conv-1 is back", ("conv-1", "alice", "acme"))

    clear_session_context(token)  # back to before the first set: nothing
    step("7. clear_session_context(first token)", (None, None, None))

    @session_context(session_id="nightly-7", user_id="scheduler")
    def nightly_job() -> None:
        step("8. @session_context(...) as a decorator", ("nightly-7", "scheduler", None))

    nightly_job()

    set_session_context(session_id="conv-3", user_id="x" * 500)  # too long: dropped, logged
    step("9. an invalid id is dropped, never raised", ("conv-3", None, None))
    clear_session_context()  # no token: simply empty
    step("10. clear_session_context()", (None, None, None))

    if failures:
        print("\nUnexpected:", *failures, sep="\n  ")
        return 1
    print(f"\n{len(exporter.get_finished_spans())} spans, each with exactly the ids expected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
