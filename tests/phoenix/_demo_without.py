"""Run the demo with one of our two pieces replaced by a stand-in that does nothing.

    python tests/phoenix/_demo_without.py processor  [demo arguments]
    python tests/phoenix/_demo_without.py middleware [demo arguments]

The stand-in is set where the demo imports the piece from, before the demo's
modules load, whatever their layout: ``SessionSpanProcessor`` becomes the SDK's
``SpanProcessor`` (whose hooks do nothing), ``GenAISessionMiddleware`` an ASGI
middleware that passes every request through. tests/phoenix runs it to show that
the Phoenix check fails without either piece.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor

import otel_genai_session
import otel_genai_session.middleware
import otel_genai_session.middleware.asgi
import otel_genai_session.processor

__all__ = ["REMOVED", "main"]

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo" / "demo.py"
REMOVED = "demo run without the {}"  # on stderr, so a test knows the stand-in took effect


class PassThrough:
    """GenAISessionMiddleware's place, empty: no ids from any request."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


STAND_INS = {
    "processor": (
        "SessionSpanProcessor",
        SpanProcessor,
        (otel_genai_session, otel_genai_session.processor),
    ),
    "middleware": (
        "GenAISessionMiddleware",
        PassThrough,
        (otel_genai_session, otel_genai_session.middleware, otel_genai_session.middleware.asgi),
    ),
}


def main(piece: str, demo_args: list[str]) -> None:
    name, stand_in, modules = STAND_INS[piece]
    for module in modules:
        getattr(module, name)  # fails loudly if the piece moved
        setattr(module, name, stand_in)
    print(REMOVED.format(piece), file=sys.stderr)
    sys.path.insert(0, str(DEMO.parent))
    sys.argv = [str(DEMO), *demo_args]
    runpy.run_path(str(DEMO), run_name="__main__")  # exits with the demo's status


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
