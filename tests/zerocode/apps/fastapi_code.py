"""FastAPI apps that add the session middleware in their own code, with their own
header: the instrumentor must step aside (the code's options are the ones used,
and no request is handled twice).

``app``: the README's ``add_middleware`` line; ``wrapped``: the app wrapped.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace

from otel_genai_session.middleware import GenAISessionMiddleware

CODE_OPTIONS = {"header_mapping": {"X-Conversation": "session_id"}}
tracer = trace.get_tracer(__name__)


def _chat_app() -> FastAPI:
    chat_app = FastAPI()

    @chat_app.get("/chat")
    async def chat() -> dict[str, str]:
        with tracer.start_as_current_span("app work"):
            return {"reply": "hello"}

    return chat_app


app = _chat_app()
app.add_middleware(GenAISessionMiddleware, **CODE_OPTIONS)  # type: ignore[arg-type]
wrapped = GenAISessionMiddleware(_chat_app(), **CODE_OPTIONS)  # type: ignore[arg-type]
