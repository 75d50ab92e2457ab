"""Body replay end to end: the endpoint receives byte-for-byte what was sent.

Starlette and FastAPI, through ASGITransport and a real uvicorn server; the
endpoint reports the sha256 of the body it read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session.middleware import GenAISessionMiddleware

from .apps import Endpoints, build_app
from .conftest import Connect, MakeApp
from .support import NO_IDS, ids_from_json, ids_of, spans_named

pytestmark = pytest.mark.anyio

BODY_OPTIONS: dict[str, Any] = {
    "body_mapping": {"session_id": "session_id", "metadata.user.id": "user_id"}
}
MIB = 1024 * 1024


def document(pad: int) -> bytes:
    body = {"session_id": "s-body", "metadata": {"user": {"id": "u-body"}}, "pad": "x" * pad}
    return json.dumps(body).encode()


async def in_chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_small_body_gives_ids_and_reaches_the_app_whole(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    sent = document(100)
    async with connect(make_app(**BODY_OPTIONS)) as client:
        response = await client.post(
            "/echo", content=sent, headers={"content-type": "application/json"}
        )
    data = response.json()
    assert (data["sha256"], data["length"]) == (hashlib.sha256(sent).hexdigest(), len(sent))
    assert ids_from_json(data) == ("s-body", "u-body", None)
    assert [ids_of(span) for span in spans_named(exporter, "echo")] == [("s-body", "u-body", None)]


async def test_small_chunked_body_gives_ids(make_app: MakeApp, connect: Connect) -> None:
    sent = document(2000)
    async with connect(make_app(**BODY_OPTIONS)) as client:
        response = await client.post(
            "/echo", content=in_chunks(sent, 100), headers={"content-type": "application/json"}
        )
    assert response.json()["sha256"] == hashlib.sha256(sent).hexdigest()
    assert ids_from_json(response.json()) == ("s-body", "u-body", None)


@pytest.mark.parametrize(
    "chunked",
    [
        pytest.param(True, id="5MB-chunked-no-content-length"),
        pytest.param(False, id="2MB-with-content-length"),
    ],
)
async def test_body_over_the_limit_reaches_the_app_whole_without_ids(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter, chunked: bool
) -> None:
    """Pitfalls 13-14: not parsed, not lost, not reordered."""
    sent = document(5 * MIB if chunked else 2 * MIB)
    content = in_chunks(sent, 64 * 1024) if chunked else sent
    async with connect(make_app(**BODY_OPTIONS)) as client:
        response = await client.post(
            "/echo",
            content=content,
            headers={"content-type": "application/json", "X-Tenant-ID": "t-header"},
        )
        assert ("content-length" in response.request.headers) is not chunked
    data = response.json()
    assert (data["sha256"], data["length"]) == (hashlib.sha256(sent).hexdigest(), len(sent))
    assert ids_from_json(data) == (None, None, "t-header")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"session_id": "s-body", ', id="truncated"),
        pytest.param(b'{"session_id": "s-body"} trailing', id="trailing-garbage"),
        pytest.param(b'{"session_id": "\xff"}', id="invalid-utf-8"),
        pytest.param(b"[" * 100_000, id="deep-nesting"),
    ],
)
async def test_malformed_json_gets_the_apps_own_400(
    make_app: MakeApp, connect: Connect, body: bytes, reported: None
) -> None:
    async with connect(make_app(**BODY_OPTIONS)) as client:
        response = await client.post(
            "/strict-json",
            content=body,
            headers={"content-type": "application/json", "X-User-ID": "u-header"},
        )
    assert response.status_code == 400
    assert response.json() == {
        "error": "malformed JSON",
        "sha256": hashlib.sha256(body).hexdigest(),
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"message": "hi", ', id="truncated"),
        pytest.param(b'{"message": "hi"} trailing', id="trailing-garbage"),
        pytest.param(b'{"message": 3}', id="wrong-type"),
        pytest.param(b'["message"]', id="array"),
        pytest.param(b'{"message": "hi", "session_id": "s-body"}', id="valid"),
    ],
)
async def test_fastapi_validation_is_the_same_with_and_without_us(
    endpoints: Endpoints, connect: Connect, body: bytes, reported: None
) -> None:
    """FastAPI answers 422 (or 200) from the original bytes: status and body are
    identical to the same app without the middleware."""
    bare = build_app("fastapi", endpoints)
    wrapped = GenAISessionMiddleware(build_app("fastapi", endpoints), **BODY_OPTIONS)
    answers = []
    for app in (bare, wrapped):
        async with connect(app) as client:
            response = await client.post(
                "/typed", content=body, headers={"content-type": "application/json"}
            )
        answers.append((response.status_code, response.json()))
    without, with_ = answers
    if body.endswith(b'"s-body"}'):
        assert without[0] == 200 and with_[0] == 200
        assert ids_from_json(without[1]) == NO_IDS
        assert ids_from_json(with_[1]) == ("s-body", None, None)
    else:
        assert without[0] == 422
        assert with_ == without
