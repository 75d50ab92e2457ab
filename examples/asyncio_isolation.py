"""asyncio.gather: many conversations in one event loop, none sees another's ids.

Each task created by ``asyncio.gather`` (or ``create_task``, or a TaskGroup)
runs in a copy of its creator's context, so a session set inside one task
stays there: it cannot leak to its siblings, nor back to the caller, even when
the task calls ``set_session_context`` and never clears it.

    python examples/asyncio_isolation.py
"""

from __future__ import annotations

import asyncio
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import get_session_context, session_context, set_session_context
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.types import AgentInvocation, LLMInvocation

CONVERSATIONS = 50
TURNS = 3
TENANTS = ("acme", "globex")

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SessionSpanProcessor())
provider.add_span_processor(SimpleSpanProcessor(exporter))
handler = TelemetryHandler(tracer_provider=provider)

in_flight = 0
most_in_flight = 0


async def fake_model_call(n: int, turn: int) -> int:
    """Awaits, as a real client would: this is where the tasks interleave."""
    global in_flight, most_in_flight
    in_flight += 1
    most_in_flight = max(most_in_flight, in_flight)
    await asyncio.sleep(0.001 * ((n * 7 + turn * 3) % 5))
    in_flight -= 1
    return 5 + (n + turn) % 20


async def conversation(n: int) -> None:
    session_id = f"conv-{n:02}"
    async with session_context(session_id, user_id=f"user-{n % 3}", customer_id=TENANTS[n % 2]):
        with handler.agent(AgentInvocation(name="assistant")):
            for turn in range(TURNS):
                with handler.llm(LLMInvocation(request_model="fake-model")) as call:
                    call.output_tokens = await fake_model_call(n, turn)
                assert get_session_context().session_id == session_id


async def careless_task() -> None:
    # Sets a session and never clears it: only this task's context copy changes.
    set_session_context(session_id="careless", user_id="nobody")


async def main() -> int:
    with session_context(session_id="caller", user_id="ops"):
        await asyncio.gather(*(conversation(n) for n in range(CONVERSATIONS)), careless_task())
        caller_after = get_session_context()

    spans = exporter.get_finished_spans()
    expected = {f"conv-{n:02}": (f"user-{n % 3}", TENANTS[n % 2]) for n in range(CONVERSATIONS)}
    wrong = 0
    for span in spans:
        attributes = span.attributes or {}
        owner = expected.get(str(attributes.get("session.id")))
        wrong += owner is None or owner != (
            attributes.get("user.id"),
            attributes.get("customer.id"),
        )

    order = [str((s.attributes or {}).get("session.id")) for s in spans[:8]]
    print(f"{CONVERSATIONS} conversations x {TURNS} turns gathered in one event loop;")
    print(f"up to {most_in_flight} model calls were in flight at the same moment.")
    print("First spans to end, in order:", ", ".join(order), "...")
    print(f"{len(spans)} spans; {wrong} carry ids of another conversation.")
    print(f"The caller's session after gather: {caller_after.session_id} / {caller_after.user_id}")

    ok = (
        wrong == 0
        and len(spans) == CONVERSATIONS * (TURNS + 1)
        and (caller_after.session_id, caller_after.user_id) == ("caller", "ops")
        and most_in_flight > 1
    )
    print("Isolated: every span carries only its own conversation's ids." if ok else "NOT ISOLATED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
