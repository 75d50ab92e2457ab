"""A Flask app that wraps its ``wsgi_app`` in the session middleware in its own code
(the README's way), with its own header: the instrumentor must step aside."""

from __future__ import annotations

from flask import Flask
from opentelemetry import trace

from otel_genai_session.middleware import SessionWSGIMiddleware

app = Flask(__name__)
app.wsgi_app = SessionWSGIMiddleware(  # type: ignore[method-assign]
    app.wsgi_app, header_mapping={"X-Conversation": "session_id"}
)
tracer = trace.get_tracer(__name__)


@app.get("/chat")
def chat() -> dict[str, str]:
    with tracer.start_as_current_span("app work"):
        return {"reply": "hello"}
