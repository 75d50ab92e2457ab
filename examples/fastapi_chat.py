"""Run: python examples/fastapi_chat.py; query: curl --json '{"message":"hi"}' 127.0.0.1:8000/chat

A FastAPI chat service where every span of a chat turn carries its session ids.

``GenAISessionMiddleware`` finds each request's ids and keeps them in effect
for the endpoint *and* for a streamed reply, which Starlette sends after the
endpoint has returned. The agent, its tool call and the fake model's streamed
answer go through ``TelemetryHandler``; with ``SessionSpanProcessor`` on the
provider, every span gets ``session.id`` and ``user.id`` without the endpoint
passing them anywhere::

    invoke_agent assistant        AgentInvocation
    ├─ execute_tool word_count    ToolCall
    └─ chat fake-chat-1           LLMInvocation (streamed tokens)

Where the ids come from (first found wins, per field):

- ``X-Session-ID`` / ``X-User-ID`` / ``X-Tenant-ID`` headers;
- the ``session_id`` field of the JSON body;
- otherwise a new session id is generated. Either way it is echoed in the
  ``X-Session-ID`` response header, so the client can continue the conversation.

Run it::

    python examples/fastapi_chat.py              # http://127.0.0.1:8000
    python examples/fastapi_chat.py --port 0     # any free port (printed)

    curl -s 127.0.0.1:8000/chat -H 'Content-Type: application/json' \\
         -H 'X-User-ID: alice' -d '{"message": "hello", "session_id": "conv-1"}'
    curl -sN '127.0.0.1:8000/chat?stream=true' -H 'Content-Type: application/json' \\
         -H 'X-Session-ID: conv-1' -d '{"message": "tell me more"}'

Each finished span is printed with its ids. Ids sent by a client are
client-controlled: take the user from your authentication (the ``extract``
hook) when it matters.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Sequence

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from pydantic import BaseModel

from otel_genai_session import get_session_context
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.types import AgentInvocation, LLMInvocation, ToolCall

MODEL = "fake-chat-1"
TOKEN_DELAY = 0.001  # seconds between streamed tokens


class PrintingExporter(SpanExporter):
    """Prints one line per finished span: its name and session ids."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            attributes = span.attributes or {}
            ids = " ".join(
                f"{key}={attributes[key]!s}"
                for key in ("session.id", "user.id", "customer.id")
                if key in attributes
            )
            print(f"span {span.name!r}: {ids or '(no ids)'}", flush=True)
        return SpanExportResult.SUCCESS


def build_provider(exporter: SpanExporter | None = None) -> TracerProvider:
    """A provider whose spans all get the session ids (SessionSpanProcessor first)."""
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter or PrintingExporter()))
    return provider


class ChatRequest(BaseModel):
    message: str
    session_id: str | None = None  # read by the middleware; the endpoint ignores it


async def fake_model(message: str, words: int) -> AsyncIterator[str]:
    """A deterministic stand-in for a streaming language model."""
    for token in f"You said {words} words: {message.strip()}".split():
        await asyncio.sleep(TOKEN_DELAY)
        yield token


def build_app(tracer_provider: TracerProvider | None = None) -> FastAPI:
    """The chat app. ``tracer_provider`` should carry a SessionSpanProcessor (as
    :func:`build_provider`'s does); by default spans are printed."""
    handler = TelemetryHandler(tracer_provider or build_provider())
    app = FastAPI(title="fastapi-chat", openapi_url=None, docs_url=None, redoc_url=None)

    async def answer(message: str) -> AsyncIterator[str]:
        """One agent turn: a tool call, then the model's streamed answer."""
        with handler.agent(AgentInvocation(name="assistant", request_model=MODEL)):
            tool = ToolCall(name="word_count", arguments={"text": message})
            with handler.tool_call(tool):
                tool.result = words = len(message.split())
            llm = LLMInvocation(
                request_model=MODEL, provider="fake", input_tokens=words, stream=True
            )
            with handler.llm(llm):
                count = 0
                async for token in fake_model(message, words):
                    count += 1
                    yield token
                llm.output_tokens = count
                llm.finish_reasons = ["stop"]

    @app.post("/chat", response_model=None)
    async def chat(request: ChatRequest, stream: bool = False) -> JSONResponse | StreamingResponse:
        if stream:
            # The generator runs after this function returned, while the response
            # is sent: the middleware keeps the session in effect there too.
            tokens = (token + "\n" async for token in answer(request.message))
            return StreamingResponse(tokens, media_type="text/plain")
        reply = " ".join([token async for token in answer(request.message)])
        session = get_session_context()
        return JSONResponse(
            {"reply": reply, "session_id": session.session_id, "user_id": session.user_id}
        )

    app.add_middleware(
        GenAISessionMiddleware,
        header_mapping={
            "X-Session-ID": "session_id",
            "X-User-ID": "user_id",
            "X-Tenant-ID": "customer_id",
        },
        body_mapping={"session_id": "session_id"},
        generate_session_id=True,
        response_header="X-Session-ID",
    )
    return app


app = build_app()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    config = uvicorn.Config(app, ws="none", log_level="warning")
    sock.listen(config.backlog)  # connections wait in the backlog until uvicorn is up
    print(f"Serving on http://127.0.0.1:{sock.getsockname()[1]} (Ctrl-C to stop)", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
