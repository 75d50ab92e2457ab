"""Where the ids come from: each source, their precedence, the defaults, the hook.

Run on Starlette and FastAPI, through httpx's ASGITransport and a real uvicorn
server; every check looks at the exported spans and at what the endpoint saw.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection

from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.middleware._sources import HOOK_RAISED, HOOK_RETURNED

from .conftest import Connect, MakeApp
from .support import (
    NO_IDS,
    BodyReadingApp,
    Ids,
    ScriptedReceive,
    SendRecorder,
    http_scope,
    ids_from_json,
    ids_of,
    spans_named,
)

pytestmark = pytest.mark.anyio

SOURCES = ("header", "cookie", "query", "body")  # highest precedence first
ALL_SOURCES = {
    "cookie_mapping": {"sid": "session_id"},
    "query_mapping": {"sid": "session_id"},
    "body_mapping": {"conversation.id": "session_id"},
}


def request_from(sources: dict[str, str]) -> dict[str, Any]:
    """httpx arguments for a POST carrying ``session_id`` in the given sources."""
    body: dict[str, Any] = {"message": "hi"}
    if "body" in sources:
        body["conversation"] = {"id": sources["body"]}
    headers = {"content-type": "application/json"}
    if "header" in sources:
        headers["X-Session-ID"] = sources["header"]
    if "cookie" in sources:
        headers["cookie"] = f"theme=dark; sid={sources['cookie']}"
    params = {"sid": sources["query"]} if "query" in sources else {}
    return {"headers": headers, "params": params, "content": json.dumps(body).encode()}


def assert_spans_carry(exporter: InMemorySpanExporter, expected: Ids) -> None:
    spans = exporter.get_finished_spans()
    assert {span.name for span in spans} >= {"endpoint", "chat fake-model"}
    assert [ids_of(span) for span in spans] == [expected] * len(spans)


SUBSETS = [
    pytest.param(subset, id="+".join(subset) or "none")
    for size in range(len(SOURCES) + 1)
    for subset in itertools.combinations(SOURCES, size)
]


@pytest.mark.parametrize("present", SUBSETS)
async def test_precedence_header_cookie_query_body(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter, present: tuple[str, ...]
) -> None:
    """All four sources disagree; the first present one in precedence order wins,
    whichever others are missing."""
    sources = {source: f"from-{source}" for source in present}
    async with connect(make_app(**ALL_SOURCES)) as client:
        response = await client.post("/ids", **request_from(sources))
    assert response.status_code == 200
    expected = (f"from-{present[0]}" if present else None, None, None)
    assert ids_from_json(response.json()) == expected
    assert_spans_carry(exporter, expected)


async def test_each_field_from_its_own_source(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    """Precedence is per field: fields missing from a higher source come from lower ones."""
    app = make_app(
        header_mapping={"X-User-ID": "user_id"},
        cookie_mapping={"sid": "session_id", "uid": "user_id"},
        query_mapping={"tenant": "customer_id", "sid": "session_id"},
        body_mapping={"session_id": "session_id", "tenant": "customer_id"},
    )
    async with connect(app) as client:
        response = await client.post(
            "/ids",
            headers={"X-User-ID": "u-header", "cookie": "sid=s-cookie; uid=u-cookie"},
            params={"tenant": "t-query", "sid": "s-query"},
            json={"session_id": "s-body", "tenant": "t-body"},
        )
    expected = ("s-cookie", "u-header", "t-query")
    assert ids_from_json(response.json()) == expected
    assert_spans_carry(exporter, expected)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"X-Session-ID": "s1"}, ("s1", None, None), id="X-Session-ID"),
        pytest.param({"x-session-id": "s1"}, ("s1", None, None), id="lower-case"),
        pytest.param({"X-SESSION-ID": "s1"}, ("s1", None, None), id="upper-case"),
        pytest.param({"X-User-ID": "u1"}, (None, "u1", None), id="X-User-ID"),
        pytest.param({"x-user-id": "u1"}, (None, "u1", None), id="user-lower-case"),
        pytest.param({"X-Tenant-ID": "t1"}, (None, None, "t1"), id="X-Tenant-ID"),
        pytest.param({"X-Customer-ID": "c1"}, (None, None, "c1"), id="X-Customer-ID"),
        pytest.param({"X-CUSTOMER-id": "c1"}, (None, None, "c1"), id="customer-mixed-case"),
        pytest.param(
            {"X-Customer-ID": "c1", "X-Tenant-ID": "t1"}, (None, None, "t1"), id="tenant-first"
        ),
        pytest.param(
            {"X-Session-ID": "s1", "X-User-ID": "u1", "X-Customer-ID": "c1"},
            ("s1", "u1", "c1"),
            id="all-three",
        ),
        pytest.param({"X-Session": "s1", "Session-ID": "s2"}, NO_IDS, id="other-names"),
        pytest.param({}, NO_IDS, id="none"),
    ],
)
async def test_zero_config_default_headers(
    make_app: MakeApp,
    connect: Connect,
    exporter: InMemorySpanExporter,
    headers: dict[str, str],
    expected: Ids,
) -> None:
    async with connect(make_app()) as client:
        response = await client.get("/ids", headers=headers)
    assert ids_from_json(response.json()) == expected
    assert_spans_carry(exporter, expected)


async def test_header_mapping_replaces_the_defaults(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    app = make_app(header_mapping={"X-Conversation": "session_id"})
    async with connect(app) as client:
        ignored = await client.get(
            "/ids", headers={"X-Session-ID": "s", "X-User-ID": "u", "X-Tenant-ID": "t"}
        )
        used = await client.get("/ids", headers={"x-conversation": "conv-1", "X-User-ID": "u"})
    assert ids_from_json(ignored.json()) == NO_IDS
    assert ids_from_json(used.json()) == ("conv-1", None, None)
    assert [ids_of(span) for span in spans_named(exporter, "endpoint")] == [
        NO_IDS,
        ("conv-1", None, None),
    ]


async def test_blank_or_invalid_value_falls_back_to_the_next_source(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter, reported: None
) -> None:
    """An empty header, a blank cookie and an over-long header count as absent: the
    field comes from the next source, and the request still succeeds."""
    app = make_app(
        cookie_mapping={"sid": "session_id", "cid": "customer_id"},
        query_mapping={"uid": "user_id", "cid": "customer_id"},
    )
    async with connect(app) as client:
        response = await client.get(
            "/ids",
            headers={"X-Session-ID": "", "X-User-ID": "u" * 201, "cookie": 'cid=" "; sid=s-cookie'},
            params={"uid": "u-query", "cid": "t-query"},
        )
    assert response.status_code == 200
    assert ids_from_json(response.json()) == ("s-cookie", "u-query", "t-query")
    assert_spans_carry(exporter, ("s-cookie", "u-query", "t-query"))


async def test_cookie_and_query_parsing(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    """A malformed cookie pair does not lose the others (unlike SimpleCookie); quoted
    values are unquoted; query values are percent-decoded with '+' as a space."""
    app = make_app(cookie_mapping={"sid": "session_id"}, query_mapping={"who": "user_id"})
    async with connect(app) as client:
        response = await client.get(
            "/ids?who=ada+lovelace%21",
            headers={"cookie": 'foo=bar baz; broken; sid="abc-1"; sid=second'},
        )
    assert ids_from_json(response.json()) == ("abc-1", "ada lovelace!", None)


# -- the extract hook ----------------------------------------------------------------


def tenant_from_host(scope: dict[str, Any]) -> dict[str, str | None]:
    host = dict(scope["headers"])[b"host"].decode()
    return {"customer_id": host.split(".")[0], "user_id": None}


async def test_extract_hook_wins_and_gets_the_scope(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    """The hook's values beat every source; a None from it leaves the field to them."""
    app = make_app(extract=tenant_from_host, body_mapping={"tenant": "customer_id"})
    async with connect(app) as client:
        response = await client.post(
            "/ids",
            headers={"host": "acme.example.com", "X-Tenant-ID": "t-header", "X-User-ID": "u1"},
            json={"tenant": "t-body"},
        )
    assert ids_from_json(response.json()) == (None, "u1", "acme")
    assert_spans_carry(exporter, (None, "u1", "acme"))


async def test_extract_hook_reads_the_authenticated_user(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    """The documented use: ``scope["user"]`` set by Starlette's AuthenticationMiddleware
    (installed outside ours) beats a client-sent X-User-ID."""

    class BearerBackend(AuthenticationBackend):
        async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser]:
            name = conn.headers.get("authorization", "Bearer anonymous").split()[-1]
            return AuthCredentials(["authenticated"]), SimpleUser(name)

    def authenticated_user(scope: dict[str, Any]) -> dict[str, str]:
        return {"user_id": scope["user"].display_name}

    app = make_app(extract=authenticated_user)
    app.add_middleware(AuthenticationMiddleware, backend=BearerBackend())
    async with connect(app) as client:
        response = await client.get(
            "/ids", headers={"authorization": "Bearer alice", "X-User-ID": "mallory"}
        )
    assert ids_from_json(response.json()) == (None, "alice", None)
    assert_spans_carry(exporter, (None, "alice", None))


def broken_hook(scope: dict[str, Any]) -> dict[str, str]:
    raise KeyError("user")


def list_hook(scope: dict[str, Any]) -> list[str]:
    return ["not", "a", "mapping"]


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        pytest.param(broken_hook, HOOK_RAISED, id="raises"),
        pytest.param(list_hook, HOOK_RETURNED, id="returns-a-list"),
    ],
)
async def test_broken_extract_hook_is_logged_once_and_ignored(
    make_app: MakeApp,
    connect: Connect,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    reported: None,
    hook: Any,
    message: str,
) -> None:
    app = make_app(extract=hook)
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        async with connect(app) as client:
            for i in range(3):
                response = await client.get("/ids", headers={"X-Session-ID": f"s{i}"})
                assert response.status_code == 200
                assert ids_from_json(response.json()) == (f"s{i}", None, None)
    records = [r for r in caplog.records if r.msg == message]
    assert len(records) == 1
    assert hook.__qualname__ in records[0].getMessage()
    assert [ids_of(span) for span in spans_named(exporter, "endpoint")] == [
        (f"s{i}", None, None) for i in range(3)
    ]


async def test_non_ascii_header_value_is_kept_and_not_utf8_is_dropped(
    make_app: MakeApp, connect: Connect, reported: None
) -> None:
    """Header bytes are UTF-8: 'é' survives, invalid UTF-8 drops the value, never a 4xx/5xx."""
    async with connect(make_app()) as client:
        accented = await client.get("/ids", headers={b"X-User-ID": "andré".encode()})
        invalid = await client.get("/ids", headers={b"X-User-ID": b"\xff\xfe"})
    assert ids_from_json(accented.json()) == (None, "andré", None)
    assert invalid.status_code == 200
    assert ids_from_json(invalid.json()) == NO_IDS


def test_httpx_sends_what_we_think() -> None:
    """Guard for request_from: the cookie and query really go out as written."""
    request = httpx.Request("POST", "http://x/ids", **request_from({"cookie": "c", "query": "q"}))
    assert request.headers["cookie"] == "theme=dark; sid=c"
    assert request.url.params["sid"] == "q"


# -- raw header lines (what a server may put in the scope) ---------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param([(b"x_session_id", b"s1")], NO_IDS, id="underscore-is-another-name"),
        pytest.param([(b"x-session-id", b"s1")] * 2, ("s1", None, None), id="repeated-same"),
        pytest.param(
            [(b"x-session-id", b"s1"), (b"x-session-id", b"s2")], NO_IDS, id="repeated-conflicting"
        ),
        pytest.param([(b"x-session-id", b"s1, s1")], ("s1", None, None), id="list-of-equal-values"),
        pytest.param(
            [(b"cookie", b"theme=dark"), (b"cookie", b"sid=c1")],
            ("c1", None, None),
            id="http2-cookie-lines",
        ),
        pytest.param([(b"x-user-id", b"\xc3\xa9")], (None, "é", None), id="utf-8-bytes"),
        pytest.param([(b"x-user-id", b"a\x00b")], NO_IDS, id="control-character"),
    ],
)
async def test_raw_header_lines(
    headers: list[tuple[bytes, bytes]], expected: Ids, reported: None
) -> None:
    app = BodyReadingApp(read_body=False)
    middleware = GenAISessionMiddleware(app, cookie_mapping={"sid": "session_id"})
    await middleware(http_scope("GET", headers=headers), ScriptedReceive(), SendRecorder())
    assert app.ids == expected
