#!/usr/bin/env python3
"""Zero-code section: a request through the zero-code set-up against the same app set up by hand.

    python3 tasks.py bench --sections zerocode

Both are the same FastAPI route (one span of its own) behind
FastAPIInstrumentor, with the ids in the default headers and every span
exported to a no-op exporter through ``SimpleSpanProcessor``:

- **by hand** (the baseline): ``GenAISessionMiddleware(app)`` around the app
  (outside the server span, as docs/sampling.md advises) and
  ``SessionSpanProcessor`` on the provider;
- **zero-code**: what ``opentelemetry-instrument`` gives with the
  ``genai_session`` instrumentor: FastAPIInstrumentor's and our instrumentor's
  class patches, the middleware built from the environment (defaults), our
  processor added to the global provider by ``instrument()``.

The two are timed interleaved in one process: our instrumentor is switched on
for the zero-code blocks and off for the by-hand ones (one warm-up request
after each switch, untimed). Expect a ratio of about 1.0: the same middleware
and processor, plus one ``__call__`` frame and a dict lookup per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from _asgi_driver import ASGIRequest, asgi_block, drive, get
from _harness import Block, Result, Settings, measure

__all__ = ["run"]


def _exporting_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Discard()))
    return provider


def _route(app: Any, provider: Any) -> Any:
    tracer = provider.get_tracer("bench.app")

    @app.get("/chat")
    async def chat() -> dict[str, str]:
        with tracer.start_as_current_span("app work"):
            return {"reply": "hello"}

    return app


def _switched(loop: asyncio.AbstractEventLoop, app: Any, request: ASGIRequest,
              switch_on: Callable[[], None], switch_off: Callable[[], None]) -> Block:  # fmt: skip
    """``app``'s block with our instrumentor on for its duration (warmed, untimed)."""
    inner = asgi_block(loop, app, request)

    def block(n: int) -> float:
        switch_on()
        try:
            loop.run_until_complete(drive(app, request, request.raw_headers))
            return inner(n)
        finally:
            switch_off()

    return block


def run(settings: Settings, notes: list[str]) -> list[Result]:
    import fastapi
    from fastapi.applications import FastAPI as PlainFastAPI
    from opentelemetry import trace
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    from otel_genai_session.instrumentor import GenAISessionInstrumentor
    from otel_genai_session.middleware import GenAISessionMiddleware
    from otel_genai_session.processor import SessionSpanProcessor

    # What the CLI sets up: a global SDK provider, then the instrumentors.
    global_provider = _exporting_provider()
    trace.set_tracer_provider(global_provider)
    FastAPIInstrumentor().instrument()
    ours = GenAISessionInstrumentor()
    ours.instrument()
    zero_code = _route(fastapi.FastAPI(), global_provider)  # the app's code, unchanged
    ours.uninstrument()

    # By hand: its own provider with our processor, the app wrapped in code.
    hand_provider = _exporting_provider()
    hand_provider.add_span_processor(SessionSpanProcessor())
    plain = _route(PlainFastAPI(), hand_provider)
    FastAPIInstrumentor.instrument_app(plain, tracer_provider=hand_provider)
    by_hand = GenAISessionMiddleware(plain)

    loop = asyncio.new_event_loop()
    request = get("/chat")
    try:
        variants: list[tuple[str, Block]] = [
            ("by hand", asgi_block(loop, by_hand, request)),
            ("zero-code", _switched(loop, zero_code, request, ours.instrument, ours.uninstrument)),
        ]
        results = measure(
            "zerocode", "FastAPI + FastAPIInstrumentor", "GET, 3 id headers", variants, settings
        )
    finally:
        loop.close()
        FastAPIInstrumentor().uninstrument()
    notes.append(
        f"zerocode: a request through the zero-code set-up costs {results[1].ratio:.2f}x "
        "the same app set up by hand (GenAISessionMiddleware(app) + SessionSpanProcessor)"
    )
    return results


if __name__ == "__main__":
    import sys

    from _harness import PROFILES

    profile = "smoke" if "--smoke" in sys.argv else "quick" if "--quick" in sys.argv else "full"
    for row in run(PROFILES[profile], notes := []):
        print(row)
    print(*notes, sep="\n")
