"""Bodies the middleware will not parse say so, once per cause (issue 13, item 13).

An OpenAI-style request with a base64 image is over the default
``max_body_size`` (1 MiB), and the SDK serialises ``user`` and ``metadata``
after ``messages``: the ids in it are not read. That used to happen silently;
now a warning says why (once, however many requests) and points to the
README's sizing advice. The request still reaches the app whole, and with a
``max_body_size`` sized for such requests the ids are read. The real
``openai`` client talks to a real uvicorn server.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_genai_session import get_session_context
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.middleware._asgi_body import FREE_MESSAGES, MESSAGE_COST, most_messages
from otel_genai_session.middleware._parsing import BODY_NOT_PARSED
from otel_genai_session.middleware._resolver import EMPTY_PIECES, OVER_LIMIT, TOO_MANY_PIECES

from .support import ScriptedReceive, SendRecorder, http_scope

pytestmark = [pytest.mark.anyio, pytest.mark.servers]

MIB = 1024 * 1024
OPENAI_BODY_MAPPING = {"user": "user_id", "metadata.session_id": "session_id"}
IMAGE = base64.b64encode(os.urandom(900 * 1024)).decode()  # 1.2 MB as base64


def completion(request_body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": request_body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "A cat."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


async def chat_completions(request: Request) -> JSONResponse:
    """A stand-in for the OpenAI API: answers, and reports what it saw."""
    raw = await request.body()
    body = json.loads(raw)
    session = get_session_context()
    return JSONResponse(
        completion(body),
        headers={
            "x-seen-ids": f"{session.session_id}|{session.user_id}",
            "x-body-user": body["user"],
        },
    )


def openai_app(**options: Any) -> Any:
    app = Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])])
    return GenAISessionMiddleware(app, body_mapping=OPENAI_BODY_MAPPING, **options)


@pytest.fixture
def openai_client(served: Any) -> Iterator[Any]:
    openai = pytest.importorskip(
        "openai",
        reason="the openai SDK is not installed (the 'test' extra: pip install -e '.[test]')",
    )

    def make(app: Any) -> Any:
        return openai.AsyncOpenAI(base_url=served(app) + "/v1", api_key="test", max_retries=0)

    yield make


async def ask_about_an_image(client: Any) -> Any:
    return await client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE}"}},
                ],
            }
        ],
        user="u-vision",
        metadata={"session_id": "s-vision"},
    )


async def test_openai_request_over_max_body_size_is_logged_once(
    openai_client: Any, caplog: pytest.LogCaptureFixture, reported: None
) -> None:
    async with openai_client(openai_app()) as client:
        for _ in range(3):
            raw = await ask_about_an_image(client)
            assert raw.parse().choices[0].message.content == "A cat."
            assert raw.headers["x-body-user"] == "u-vision"  # the app got the body whole
            assert raw.headers["x-seen-ids"] == "None|None"
    warnings = [r.getMessage() for r in caplog.records if r.name == "otel_genai_session"]
    assert warnings == [BODY_NOT_PARSED % (OVER_LIMIT % MIB)]


async def test_openai_request_within_a_sized_max_body_size_gives_its_ids(
    openai_client: Any, caplog: pytest.LogCaptureFixture, reported: None
) -> None:
    """The README's advice for multimodal requests: size ``max_body_size`` for them."""
    async with openai_client(openai_app(max_body_size=8 * MIB)) as client:
        raw = await ask_about_an_image(client)
    assert raw.headers["x-seen-ids"] == "s-vision|u-vision"
    assert [r for r in caplog.records if r.name == "otel_genai_session"] == []


# -- the other causes, on raw ASGI -------------------------------------------------------

CHUNKED_JSON = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]


class BodyReader:
    """Reads the body to its end; records the session and the bytes."""

    def __init__(self) -> None:
        self.body = b""
        self.session_id: str | None = "unset"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.session_id = get_session_context().session_id
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break


@pytest.mark.parametrize(
    ("pieces", "reason"),
    [
        pytest.param([b"x" * 700, b"x" * 700], OVER_LIMIT % 1024, id="chunked-over-the-limit"),
        pytest.param(
            [b" "] * (most_messages(1024) + 5),
            TOO_MANY_PIECES % most_messages(1024),
            id="too-many-pieces",
        ),
        pytest.param([b""] * (FREE_MESSAGES + 5), EMPTY_PIECES % FREE_MESSAGES, id="empty-pieces"),
    ],
)
async def test_bodies_not_parsed_say_why_once(
    pieces: list[bytes], reason: str, caplog: pytest.LogCaptureFixture, reported: None
) -> None:
    pieces = [*pieces, b'{"session_id": "s-late"}']
    options = {"body_mapping": {"session_id": "session_id"}, "max_body_size": 1024}
    for _ in range(3):
        app = BodyReader()
        messages = [
            {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
            for i, piece in enumerate(pieces)
        ]
        await GenAISessionMiddleware(app, **options)(
            http_scope(headers=CHUNKED_JSON), ScriptedReceive(messages), SendRecorder()
        )
        assert (app.session_id, app.body) == (None, b"".join(pieces))
    warnings = [r.getMessage() for r in caplog.records if r.name == "otel_genai_session"]
    assert warnings == [BODY_NOT_PARSED % reason]


class BodyReaderCountingPulls(BodyReader):
    """A BodyReader that notes how many messages the server had given when it started."""

    def __init__(self, receive: ScriptedReceive) -> None:
        super().__init__()
        self.server_receive = receive
        self.pulled_before_app = -1

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.pulled_before_app = self.server_receive.calls
        await super().__call__(scope, receive, send)


@pytest.mark.parametrize(
    ("pieces", "parsed", "most_pulled"),
    [
        # 1,000 empty HTTP/2 DATA frames: each costs a Python step and brings
        # nothing; the default max_body_size let 4,096 be buffered before the app.
        pytest.param([b""] * 1000, False, FREE_MESSAGES + 1, id="1000-empty-messages"),
        # A real body in small pieces (TCP segments, single bytes) is still read.
        pytest.param([b" " * 1460] * 64, True, 64 + 1, id="64-segments-of-1460"),
        pytest.param([b" "] * 400, True, 400 + 1, id="400-one-byte-pieces"),
        pytest.param([b""] * 10 + [b" "] * 50, True, 60 + 1, id="a-few-empty-then-bytes"),
    ],
)
async def test_messages_must_bring_bytes_to_be_buffered(
    pieces: list[bytes], parsed: bool, most_pulled: int
) -> None:
    """Past the first FREE_MESSAGES, a message is buffered only while there are
    no more messages than bytes received (default ``max_body_size``): the work
    before the app is bounded by the bytes the server accepted."""
    pieces = [*pieces, b'{"session_id": "s-late"}']
    messages = [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    ]
    receive = ScriptedReceive(messages)
    app = BodyReaderCountingPulls(receive)
    middleware = GenAISessionMiddleware(app, body_mapping={"session_id": "session_id"})
    await middleware(http_scope(headers=CHUNKED_JSON), receive, SendRecorder())
    assert app.body == b"".join(pieces)
    assert app.session_id == ("s-late" if parsed else None)
    assert app.pulled_before_app <= most_pulled
    assert most_messages(1024 * 1024) == 1024 * 1024 // MESSAGE_COST
