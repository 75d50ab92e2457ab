"""Websocket connections: ids from the handshake for the whole connection.

Pitfall 10: ids come from handshake headers, cookies and the query string;
every span during the connection carries them; no body is read; a rejected
connection never gets ``http.response.*`` messages.
"""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from otel_genai_session.middleware import SESSION_KEY

from .conftest import MakeApp, Served
from .support import (
    Scope,
    ScriptedReceive,
    SendRecorder,
    current_ids,
    http_scope,
    ids_of,
    wait_until,
)

OPTIONS = {
    "cookie_mapping": {"sid": "session_id"},
    "query_mapping": {"tenant": "customer_id"},
    "body_mapping": {"session_id": "session_id"},  # never used for websockets
    "response_header": "X-Session-ID",
}
EXPECTED = ("s-cookie", "u-header", "t-query")


def test_ids_from_the_handshake_on_uvicorn(
    make_app: MakeApp, served: Served, exporter: InMemorySpanExporter
) -> None:
    url = served(make_app(**OPTIONS)).replace("http://", "ws://")
    headers = {"X-User-ID": "u-header", "Cookie": "sid=s-cookie"}
    with ws_connect(f"{url}/ws?tenant=t-query", additional_headers=headers, open_timeout=5) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Session-ID"] == "s-cookie"
        replies = []
        for text in ("1", "2", "3"):
            ws.send(text)
            replies.append(json.loads(ws.recv(timeout=5)))
        ws.send("bye")
    assert [tuple(reply.values()) for reply in replies] == [EXPECTED] * 3
    spans = [span for span in exporter.get_finished_spans() if span.name.startswith("ws-")]
    assert [span.name for span in spans] == ["ws-1", "ws-2", "ws-3"]
    assert [ids_of(span) for span in spans] == [EXPECTED] * 3


def test_rejected_websocket_on_uvicorn(
    make_app: MakeApp, served: Served, exporter: InMemorySpanExporter
) -> None:
    url = served(make_app(**OPTIONS)).replace("http://", "ws://")
    with pytest.raises(InvalidStatus) as rejected:
        ws_connect(f"{url}/ws-reject", additional_headers={"X-Session-ID": "s1"}, open_timeout=5)
    assert rejected.value.response.status_code == 403
    wait_until(lambda: len(exporter.get_finished_spans()) == 1)  # ends after the close
    assert [ids_of(span) for span in exporter.get_finished_spans()] == [("s1", None, None)]


def websocket_scope(path: str) -> Scope:
    scope = http_scope(
        "GET",
        path,
        headers=[(b"x-user-id", b"u-header"), (b"cookie", b"sid=s-cookie")],
        query_string=b"tenant=t-query",
        scope_type="websocket",
    )
    del scope["method"]
    scope["scheme"] = "ws"
    scope["subprotocols"] = []
    return scope


@pytest.mark.anyio
async def test_websocket_messages_through_the_framework(
    make_app: MakeApp, exporter: InMemorySpanExporter
) -> None:
    """Raw ASGI, to see every message: the middleware does not consume
    ``websocket.connect`` (no body read), adds the header to ``websocket.accept``,
    and the ids hold across receives."""
    receive = ScriptedReceive(
        [
            {"type": "websocket.connect"},
            {"type": "websocket.receive", "text": "1"},
            {"type": "websocket.receive", "text": "2"},
            {"type": "websocket.receive", "text": "bye"},
        ]
    )
    send = SendRecorder()
    scope = websocket_scope("/ws")
    await make_app(**OPTIONS)(scope, receive, send)
    assert receive.calls == 4, "only the app's own receives"
    assert send.types == ["websocket.accept", "websocket.send", "websocket.send", "websocket.close"]
    assert (b"x-session-id", b"s-cookie") in send.messages[0]["headers"]
    assert [tuple(json.loads(m["text"]).values()) for m in send.messages[1:3]] == [EXPECTED] * 2
    assert [ids_of(span) for span in exporter.get_finished_spans()] == [EXPECTED] * 2
    assert scope[SESSION_KEY].session_id == "s-cookie"
    assert current_ids() == (None, None, None)


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/ws-reject", "/no-such-websocket"])
async def test_rejection_sends_only_websocket_close(
    make_app: MakeApp, exporter: InMemorySpanExporter, path: str
) -> None:
    """Pitfall 10 (the starlette-context bug): never an ``http.response.*`` message
    on a websocket, also with response_header set and for a route that does not exist."""
    send = SendRecorder()
    await make_app(**OPTIONS)(
        websocket_scope(path), ScriptedReceive([{"type": "websocket.connect"}]), send
    )
    assert send.types == ["websocket.close"]
    assert not any(message["type"].startswith("http.") for message in send.messages)
