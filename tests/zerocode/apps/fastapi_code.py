"""FastAPI that adds the session middleware in its own code (the README's way):
the instrumentor must step aside, so the code's options are the ones used."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace

from otel_genai_session.middleware import GenAISessionMiddleware

app = FastAPI()
app.add_middleware(GenAISessionMiddleware, header_mapping={"X-Conversation": "session_id"})
tracer = trace.get_tracer(__name__)


@app.get("/chat")
async def chat() -> dict[str, str]:
    with tracer.start_as_current_span("app work"):
        return {"reply": "hello"}
