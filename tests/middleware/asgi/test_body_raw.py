"""JSON body ids at the ASGI message level: what is read, and what the app receives.

Raw ASGI on purpose: the server's ``receive`` counts its calls and the app
records every message, so these tests prove *how* the body was handled (the
same messages with the same ``more_body`` flags, read once, never read when
it must not be), which a framework would hide.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import weakref
from typing import Any

import pytest

from otel_genai_session.middleware import GenAISessionMiddleware

from .support import (
    NO_IDS,
    ORIGINAL_END,
    BodyReadingApp,
    Message,
    Receive,
    Scope,
    ScriptedReceive,
    Send,
    SendRecorder,
    body_messages,
    current_ids,
    http_scope,
)

pytestmark = pytest.mark.anyio

BODY_OPTIONS: dict[str, Any] = {"body_mapping": {"session_id": "session_id", "user.id": "user_id"}}
JSON = (b"content-type", b"application/json")
DOCUMENT = json.dumps({"session_id": "s-body", "user": {"id": "u-body"}, "pad": "x" * 40}).encode()


def json_headers(body: bytes | None = None, *extra: tuple[bytes, bytes]) -> list[Any]:
    headers = [JSON, *extra]
    if body is not None:
        headers.append((b"content-length", str(len(body)).encode()))
    return headers


async def run(
    messages: list[Message],
    headers: list[tuple[bytes, bytes]],
    app: BodyReadingApp | None = None,
    method: str = "POST",
    http_version: str = "1.1",
    **options: Any,
) -> tuple[BodyReadingApp, ScriptedReceive]:
    app = app or BodyReadingApp()
    receive = ScriptedReceive(messages)
    middleware = GenAISessionMiddleware(app, **(options or BODY_OPTIONS))
    await middleware(
        http_scope(method, headers=headers, http_version=http_version), receive, SendRecorder()
    )
    return app, receive


@pytest.mark.parametrize(
    "chunk_size",
    [
        pytest.param(len(DOCUMENT), id="one-message"),
        pytest.param(7, id="7-byte-messages"),
        pytest.param(1, id="1-byte-messages"),
    ],
)
async def test_small_body_replayed_message_for_message(chunk_size: int) -> None:
    messages = body_messages(DOCUMENT, chunk_size)
    expected = [dict(m) for m in messages]
    app, receive = await run(messages, json_headers(DOCUMENT))
    assert app.ids == ("s-body", "u-body", None)
    assert app.received == expected, "same messages, same more_body flags"
    assert hashlib.sha256(app.body).digest() == hashlib.sha256(DOCUMENT).digest()
    assert receive.calls == len(expected), "each message read from the server once"


async def test_after_the_replay_receive_is_the_servers() -> None:
    """Pitfall 16: no made-up disconnect and no repeated body after the replay: the
    app's next calls reach the server's own receive."""
    app = BodyReadingApp(reads_after_body=2)
    app, receive = await run(body_messages(DOCUMENT, 10), json_headers(DOCUMENT), app)
    assert app.received[-2:] == [dict(ORIGINAL_END), dict(ORIGINAL_END)]
    assert app.body == DOCUMENT
    assert receive.calls == len(app.received)


@pytest.mark.parametrize(
    ("headers", "http_version"),
    [
        pytest.param([JSON, (b"transfer-encoding", b"chunked")], "1.1", id="chunked"),
        pytest.param([JSON], "2", id="http2-no-length"),
    ],
)
async def test_body_of_unknown_length_is_read(
    headers: list[tuple[bytes, bytes]], http_version: str
) -> None:
    messages = body_messages(DOCUMENT, 16)
    app, _ = await run(messages, headers, http_version=http_version)
    assert app.ids == ("s-body", "u-body", None)
    assert app.body == DOCUMENT


async def test_chunked_body_over_the_limit_is_buffered_up_to_it_then_streamed_on() -> None:
    """Pitfall 14: 5 MB chunked, limit 1 MiB: at most limit + one message is held
    before the app starts; the app then gets every message unchanged; no parse."""
    document = json.dumps({"session_id": "s-body", "pad": "x" * (5 * 1024 * 1024)}).encode()
    messages = body_messages(document, 64 * 1024)
    reads_before_app: list[int] = []

    class App(BodyReadingApp):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            reads_before_app.append(counting.calls)
            await super().__call__(scope, receive, send)

    counting = ScriptedReceive(messages)
    app = App()
    await GenAISessionMiddleware(app, **BODY_OPTIONS)(
        http_scope(headers=[JSON, (b"transfer-encoding", b"chunked")]), counting, SendRecorder()
    )
    assert reads_before_app == [1024 * 1024 // (64 * 1024) + 1]
    assert app.ids == NO_IDS
    assert len(app.received) == len(messages) and counting.calls == len(messages)
    assert hashlib.sha256(app.body).hexdigest() == hashlib.sha256(document).hexdigest()


@pytest.mark.parametrize("app_reads", [False, True], ids=["app-ignores-body", "app-reads-body"])
async def test_declared_length_over_the_limit_is_never_read(app_reads: bool) -> None:
    """Pitfall 18: Content-Length above max_body_size: the middleware makes no
    receive() call (so no ``100 Continue``); the app reads the body itself if it wants."""
    messages = body_messages(DOCUMENT, 8)
    app, receive = await run(
        messages,
        json_headers(DOCUMENT, (b"expect", b"100-continue")),
        BodyReadingApp(read_body=app_reads),
        max_body_size=len(DOCUMENT) - 1,
        **BODY_OPTIONS,
    )
    assert app.ids == NO_IDS
    assert receive.calls == (len(messages) if app_reads else 0)
    if app_reads:
        assert app.body == DOCUMENT


NOT_READ = [
    pytest.param({"headers": json_headers(DOCUMENT)}, {}, id="no-body-mapping"),
    pytest.param(
        {"headers": [(b"content-type", b"text/plain"), (b"content-length", b"10")]},
        BODY_OPTIONS,
        id="text-plain",
    ),
    pytest.param(
        {"headers": [(b"content-type", b"application/x-www-form-urlencoded")]},
        BODY_OPTIONS,
        id="form",
    ),
    pytest.param(
        {"headers": [(b"content-type", b"multipart/form-data; boundary=x")]},
        BODY_OPTIONS,
        id="multipart",
    ),
    pytest.param({"headers": [(b"content-length", b"10")]}, BODY_OPTIONS, id="no-content-type"),
    pytest.param(
        {"headers": json_headers(DOCUMENT, (b"content-encoding", b"gzip"))},
        BODY_OPTIONS,
        id="gzip",
    ),
    pytest.param(
        {"headers": [(b"content-type", b"application/json; charset=latin-1")]},
        BODY_OPTIONS,
        id="charset-latin-1",
    ),
    pytest.param({"headers": json_headers(DOCUMENT), "method": "GET"}, BODY_OPTIONS, id="GET"),
    pytest.param({"headers": json_headers(DOCUMENT), "method": "HEAD"}, BODY_OPTIONS, id="HEAD"),
    pytest.param({"headers": json_headers(b"")}, BODY_OPTIONS, id="content-length-0"),
    pytest.param(
        {"headers": [JSON, (b"content-length", b"abc")]}, BODY_OPTIONS, id="content-length-abc"
    ),
    pytest.param(
        {"headers": [JSON, (b"content-length", b"-1")]}, BODY_OPTIONS, id="content-length-neg"
    ),
    pytest.param({"headers": [JSON]}, BODY_OPTIONS, id="no-length-not-chunked"),
    pytest.param(
        {
            "headers": json_headers(
                DOCUMENT, (b"x-session-id", b"s-header"), (b"x-user-id", b"u-header")
            )
        },
        BODY_OPTIONS,
        id="fields-already-found",
    ),
]


@pytest.mark.parametrize(("request_args", "options"), NOT_READ)
async def test_no_receive_call_when_the_body_is_not_ours_to_read(
    request_args: dict[str, Any], options: dict[str, Any]
) -> None:
    """Pitfalls 18-20 and 26: the middleware leaves ``receive`` alone."""
    app = BodyReadingApp(read_body=False)
    receive = ScriptedReceive(body_messages(DOCUMENT, 8))
    scope = http_scope(request_args.get("method", "POST"), headers=request_args["headers"])
    await GenAISessionMiddleware(app, **options)(scope, receive, SendRecorder())
    assert receive.calls == 0
    from_headers = any(name == b"x-session-id" for name, _ in request_args["headers"])
    assert app.ids == (("s-header", "u-header", None) if from_headers else NO_IDS)


@pytest.mark.parametrize(
    "content_type",
    [b"application/json; charset=utf-8", b"APPLICATION/JSON", b"application/vnd.api+json"],
)
async def test_json_content_types_that_are_read(content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(DOCUMENT)).encode())]
    app, _ = await run(body_messages(DOCUMENT, 100), headers)
    assert app.ids == ("s-body", "u-body", None)


MALFORMED = [
    pytest.param(DOCUMENT[:-5], id="truncated"),
    pytest.param(DOCUMENT + b" }", id="trailing-garbage"),
    pytest.param(b'{"session_id": "\xff"}', id="invalid-utf-8"),
    pytest.param('{"session_id": "s"}'.encode("utf-16"), id="utf-16-bom"),
    pytest.param(b'{"session_id": NaN}', id="NaN"),
    pytest.param(b"[" * 100_000, id="deep-nesting"),
    pytest.param(b'{"session_id": ' + b"9" * 5000 + b"}", id="5000-digit-int"),
    pytest.param(b'["s-body"]', id="top-level-array"),
    pytest.param(b'"s-body"', id="top-level-string"),
    pytest.param(b"null", id="top-level-null"),
    pytest.param(b'{"session_id": {"a": 1}, "user": "flat"}', id="object-value-flat-middle"),
    pytest.param(b'{"session_id": [1], "user": {"id": true}}', id="list-and-bool"),
    pytest.param(b'{"session_id": 1e400}', id="huge-float"),
    pytest.param(b'{"session_id": "\\ud800"}', id="lone-surrogate"),
]


@pytest.mark.parametrize("body", MALFORMED)
async def test_unusable_body_changes_nothing(body: bytes, reported: None) -> None:
    """Pitfalls 21-25 and 32: no exception, no body id, other sources still apply,
    and the app receives the original bytes."""
    headers = json_headers(body, (b"x-tenant-id", b"t-header"))
    app, _ = await run(body_messages(body, 4096), headers)
    assert app.ids == (None, None, "t-header")
    assert app.body == body


async def test_duplicate_keys_last_wins_and_int_is_accepted() -> None:
    body = b'{"session_id": "first", "session_id": "last", "user": {"id": 42}}'
    app, _ = await run(body_messages(body, 5), json_headers(body))
    assert app.ids == ("last", "42", None)


async def test_disconnect_mid_body_reaches_the_app() -> None:
    """Pitfall 17: the client leaves while we buffer: nothing escapes, nothing is
    parsed from the partial JSON, the app meets the disconnect where it would have."""
    partial = body_messages(DOCUMENT, 10)[:3]
    disconnect = {"type": "http.disconnect"}
    app, receive = await run([*partial, disconnect], json_headers(DOCUMENT, (b"x-user-id", b"u")))
    assert app.received == [*partial, disconnect]
    assert app.ids == (None, "u", None)
    assert receive.calls == 4
    assert current_ids() == NO_IDS


async def test_receive_error_while_buffering_is_raised_to_the_app_in_place() -> None:
    """The server's receive raising while we buffer (e.g. an OSError) does not fail
    the middleware; the app gets the messages before it, then that very exception."""
    error = OSError("connection reset")
    messages = body_messages(DOCUMENT, 10)[:2]
    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        if calls <= len(messages):
            return messages[calls - 1]
        raise error

    got: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        got.append(current_ids())
        for _ in range(3):
            try:
                got.append(await receive())
            except OSError as raised:
                got.append(raised)

    await GenAISessionMiddleware(app, **BODY_OPTIONS)(
        http_scope(headers=json_headers(DOCUMENT)), receive, SendRecorder()
    )
    assert got[0] == NO_IDS
    assert got[1:3] == messages
    assert got[3] is error
    assert calls == 3


class TrackedMessage(dict[str, Any]):
    """A message the test can hold a weak reference to."""


async def test_receive_error_while_buffering_frees_the_buffer_with_the_request() -> None:
    """The kept error must not hold the buffered messages in a reference cycle:
    they go with the request, without waiting for the garbage collector."""
    buffered = TrackedMessage(body_messages(DOCUMENT, 10)[0])
    alive = weakref.ref(buffered)
    pending: list[Message] = [buffered]

    async def receive() -> Message:
        if pending:
            return pending.pop()
        raise OSError("connection reset")  # a fresh error each time, as a socket's

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"ok"})

    gc.disable()
    try:
        del buffered
        await GenAISessionMiddleware(app, **BODY_OPTIONS)(
            http_scope(headers=json_headers(DOCUMENT)), receive, SendRecorder()
        )
        assert alive() is None
    finally:
        gc.enable()


async def test_buffering_is_cancellable() -> None:
    """A request cancelled while we wait for body bytes ends with CancelledError and
    leaves no session behind."""
    started = asyncio.Event()

    async def stalled_receive() -> Message:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def request() -> None:
        await GenAISessionMiddleware(BodyReadingApp(), **BODY_OPTIONS)(
            http_scope(headers=json_headers(DOCUMENT)), stalled_receive, SendRecorder()
        )

    task = asyncio.ensure_future(request())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert current_ids() == NO_IDS
