"""generate_session_id and response_header: a client can continue the conversation."""

from __future__ import annotations

import itertools
import uuid

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .conftest import Connect, MakeApp
from .support import ids_from_json, ids_of, spans_named

pytestmark = pytest.mark.anyio


async def test_generated_uuid4_is_used_and_echoed(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    app = make_app(generate_session_id=True, response_header="X-Session-ID")
    async with connect(app) as client:
        first = await client.get("/ids", headers={"X-User-ID": "u1"})
        second = await client.get("/ids")
    generated = [first.json()["session_id"], second.json()["session_id"]]
    assert all(uuid.UUID(value).version == 4 for value in generated)
    assert generated[0] != generated[1]
    assert [first.headers["x-session-id"], second.headers["x-session-id"]] == generated
    assert [ids_of(span) for span in spans_named(exporter, "endpoint")] == [
        (generated[0], "u1", None),
        (generated[1], None, None),
    ]


async def test_callable_generator_and_an_incoming_id_wins(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    counter = itertools.count(1)
    app = make_app(generate_session_id=lambda: f"gen-{next(counter)}", response_header="X-Sid")
    async with connect(app) as client:
        generated = await client.get("/ids")
        incoming = await client.get("/ids", headers={"X-Session-ID": "client-chosen"})
    assert ids_from_json(generated.json()) == ("gen-1", None, None)
    assert generated.headers.get_list("x-sid") == ["gen-1"]
    assert ids_from_json(incoming.json()) == ("client-chosen", None, None)
    assert incoming.headers.get_list("x-sid") == ["client-chosen"]
    assert next(counter) == 2, "the generator runs only when no session id arrives"


async def test_no_header_without_a_session_id(make_app: MakeApp, connect: Connect) -> None:
    async with connect(make_app(response_header="X-Session-ID")) as client:
        response = await client.get("/ids", headers={"X-User-ID": "u1"})
    assert "x-session-id" not in response.headers


async def test_app_header_is_not_duplicated_and_cookies_are_kept(
    make_app: MakeApp, connect: Connect
) -> None:
    app = make_app(response_header="X-Session-ID")
    async with connect(app) as client:
        ours = await client.get("/cookies", headers={"X-Session-ID": "s1"})
        apps = await client.get("/cookies?own=app-chosen", headers={"X-Session-ID": "s1"})
    assert ours.headers.get_list("x-session-id") == ["s1"]
    assert apps.headers.get_list("x-session-id") == ["app-chosen"]
    for response in (ours, apps):
        assert sorted(response.headers.get_list("set-cookie")) == [
            "a=1; Path=/; SameSite=lax",
            "b=2; Path=/; SameSite=lax",
        ]


async def test_non_ascii_session_id_is_not_echoed(make_app: MakeApp, connect: Connect) -> None:
    async with connect(make_app(response_header="X-Session-ID")) as client:
        response = await client.get("/ids", headers={b"X-Session-ID": "séance".encode()})
    assert response.status_code == 200
    assert response.json()["session_id"] == "séance"
    assert "x-session-id" not in response.headers
