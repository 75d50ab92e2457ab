"""Run: python examples/flask_chat.py; query: curl --json '{"message":"hi"}' 127.0.0.1:5000/chat

A Flask chat service where every span of a chat turn carries its session ids.

``SessionWSGIMiddleware`` wraps ``app.wsgi_app``; it finds each request's ids
and keeps them in effect for the view *and* for a streamed response, which
Flask produces after the view has returned. The fake model is called through
``TelemetryHandler``, so its GenAI span gets ``session.id`` and ``user.id``
without the view passing them anywhere.

Where the ids come from (first found wins, per field):

- ``X-Session-ID`` / ``X-User-ID`` headers;
- the ``chat_session`` cookie, which the service sets on the first turn;
- the ``session_id`` field of the JSON body;
- otherwise a new session id is generated, and echoed in ``X-Session-ID``.

Run it::

    python examples/flask_chat.py              # http://127.0.0.1:5000
    python examples/flask_chat.py --port 0     # any free port (printed)

    curl -s 127.0.0.1:5000/chat -H 'Content-Type: application/json' \\
         -H 'X-User-ID: alice' -d '{"message": "hello", "session_id": "conv-1"}'
    curl -sN 127.0.0.1:5000/chat/stream -H 'Content-Type: application/json' \\
         --cookie 'chat_session=conv-1' -d '{"message": "tell me more"}'

Each finished span is printed with its ids. Ids sent by a client are
client-controlled: take the user from your authentication (the ``extract``
hook) when it matters.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence

import flask
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from werkzeug.serving import make_server

from otel_genai_session import get_session_context
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.middleware import SessionWSGIMiddleware
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.types import LLMInvocation

MODEL = "fake-chat-1"
SESSION_COOKIE = "chat_session"


class PrintingExporter(SpanExporter):
    """Prints one line per finished span: its name and session ids."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            attributes = span.attributes or {}
            ids = " ".join(
                f"{key}={attributes[key]}"
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


def fake_model(message: str) -> list[str]:
    """A deterministic stand-in for a language model: the reply, token by token."""
    return f"You said: {message.strip()}. Tell me more!".split()


def create_app(tracer_provider: TracerProvider | None = None) -> flask.Flask:
    """The chat app. ``tracer_provider`` should carry a SessionSpanProcessor
    (as :func:`build_provider`'s does); by default spans are printed."""
    provider = tracer_provider or build_provider()
    handler = TelemetryHandler(tracer_provider=provider)
    app = flask.Flask(__name__)

    def message_of(request: flask.Request) -> str:
        body = request.get_json(silent=True)
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            flask.abort(400, description='expected a JSON body with a "message" string')
        return message

    def remember_session(response: flask.Response) -> flask.Response:
        session_id = get_session_context().session_id
        if session_id is not None and flask.request.cookies.get(SESSION_COOKIE) != session_id:
            response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="Lax")
        return response

    @app.post("/chat")
    def chat() -> flask.Response:
        message = message_of(flask.request)
        invocation = LLMInvocation(
            request_model=MODEL, provider="fake", input_tokens=len(message.split())
        )
        with handler.llm(invocation):
            tokens = fake_model(message)
            invocation.output_tokens = len(tokens)
            invocation.finish_reasons = ["stop"]
        session = get_session_context()
        reply = {
            "reply": " ".join(tokens),
            "session_id": session.session_id,
            "user_id": session.user_id,
        }
        return remember_session(flask.jsonify(reply))

    @app.post("/chat/stream")
    def chat_stream() -> flask.Response:
        message = message_of(flask.request)

        @flask.stream_with_context
        def tokens() -> Iterator[str]:
            # Runs while the server sends the response, after chat_stream returned:
            # the middleware keeps the session in effect here too.
            invocation = LLMInvocation(request_model=MODEL, provider="fake", stream=True)
            with handler.llm(invocation):
                count = 0
                for token in fake_model(message):
                    count += 1
                    yield token + "\n"
                invocation.output_tokens = count
                invocation.finish_reasons = ["stop"]

        return remember_session(flask.Response(tokens(), mimetype="text/plain"))

    app.wsgi_app = SessionWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        header_mapping={"X-Session-ID": "session_id", "X-User-ID": "user_id"},
        cookie_mapping={SESSION_COOKIE: "session_id"},
        body_mapping={"session_id": "session_id"},
        generate_session_id=True,
        response_header="X-Session-ID",
    )
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    args = parser.parse_args(argv)
    server = make_server("127.0.0.1", args.port, create_app(), threaded=True)
    print(f"Serving on http://127.0.0.1:{server.server_port} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
