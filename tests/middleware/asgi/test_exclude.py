"""exclude_paths: exact strings, '*' prefixes and fully-matched patterns (pitfall 52).

Unlike OpenTelemetry's unanchored ``re.search``, ``/healthz`` does not exclude
``/api/healthz-report``. An excluded request still gets an explicit empty
session: nothing is extracted, generated or inherited.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.middleware import GenAISessionMiddleware

from .conftest import Connect, MakeApp
from .support import (
    NO_IDS,
    BodyReadingApp,
    ScriptedReceive,
    SendRecorder,
    body_messages,
    http_scope,
    ids_from_json,
    ids_of,
    spans_named,
)

pytestmark = pytest.mark.anyio

OPTIONS: dict[str, Any] = {
    "exclude_paths": ["/healthz", "/metrics*", re.compile(r"/internal/\d+")],
    "generate_session_id": True,
    "response_header": "X-Session-ID",
}


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        pytest.param("/healthz", True, id="exact"),
        pytest.param("/healthz/", False, id="exact-not-prefix"),
        pytest.param("/api/healthz-report", False, id="exact-not-substring"),
        pytest.param("/healthz-report", False, id="exact-not-startswith"),
        pytest.param("/metrics", True, id="prefix-itself"),
        pytest.param("/metrics/cpu", True, id="prefix-below"),
        pytest.param("/metricsz", True, id="prefix-is-textual"),
        pytest.param("/api/metrics", False, id="prefix-anchored"),
        pytest.param("/internal/42", True, id="pattern"),
        pytest.param("/internal/42/x", False, id="pattern-fullmatch"),
        pytest.param("/internal/abc", False, id="pattern-no-match"),
    ],
)
async def test_exclusion_matching(
    make_app: MakeApp,
    connect: Connect,
    exporter: InMemorySpanExporter,
    path: str,
    excluded: bool,
) -> None:
    async with connect(make_app(**OPTIONS)) as client:
        response = await client.get(path, headers={"X-User-ID": "u1"})
    assert response.status_code == 200
    ids = ids_from_json(response.json())
    [span] = spans_named(exporter, "anything")
    if excluded:
        assert ids == NO_IDS and ids_of(span) == NO_IDS
        assert "x-session-id" not in response.headers, "nothing generated or echoed"
    else:
        assert ids[1] == "u1" and ids[0] is not None, "a session id was generated"
        assert ids_of(span) == ids
        assert response.headers["x-session-id"] == ids[0]


async def test_excluded_request_does_not_inherit_an_outer_session(
    make_app: MakeApp, exporter: InMemorySpanExporter
) -> None:
    """In-process (ASGITransport runs the app in the caller's task): the session of
    the caller is explicitly replaced by an empty one for an excluded path."""
    transport = httpx.ASGITransport(app=make_app(**OPTIONS))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with session_context(session_id="outer", user_id="outer-user"):
            excluded = await client.get("/healthz")
            included = await client.get("/other")
    assert ids_from_json(excluded.json()) == NO_IDS
    assert ids_from_json(included.json())[1:] == (None, None)


async def test_excluded_request_body_is_not_read() -> None:
    app = BodyReadingApp(read_body=False)
    receive = ScriptedReceive(body_messages(b'{"session_id": "s"}', 4))
    headers = [(b"content-type", b"application/json"), (b"content-length", b"19")]
    middleware = GenAISessionMiddleware(
        app, exclude_paths=["/healthz"], body_mapping={"session_id": "session_id"}
    )
    await middleware(http_scope(path="/healthz", headers=headers), receive, SendRecorder())
    assert receive.calls == 0
    assert app.ids == NO_IDS
