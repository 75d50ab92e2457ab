"""Properties from the request (issue 24, item 2): both middlewares fill them from
headers, cookies, query, JSON body, baggage and the ``extract`` hook through the
one resolver, with the ids' precedence and bounds.

Each case runs on a real Starlette app (ASGI, through httpx's ASGITransport)
and a real WSGI app (through werkzeug's test client): what the endpoint saw in
``get_session_context()`` and what the exported spans carry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from werkzeug.test import Client

from otel_genai_session import _validation, get_session_context
from otel_genai_session.attributes import PROPERTY_PREFIX
from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware
from otel_genai_session.middleware._options import MiddlewareOptions
from otel_genai_session.middleware._resolver import SessionResolver
from otel_genai_session.session import MAX_PROPERTIES

SECRET = "s3cret-client-bytes"
Send = Callable[..., tuple[dict[str, Any], dict[str, Any]]]
"""``send(options, method, path, headers, body) -> (what the app saw, span attributes)``"""


def _seen() -> dict[str, Any]:
    session = get_session_context()
    return {"session_id": session.session_id, "properties": dict(session.properties)}


def _asgi(tracer_provider: TracerProvider, exporter: InMemorySpanExporter) -> Send:
    tracer = tracer_provider.get_tracer("endpoint")

    async def endpoint(request: Request) -> JSONResponse:
        await request.body()
        with tracer.start_as_current_span("endpoint"):
            return JSONResponse(_seen())

    def send(options: dict[str, Any], method: str, path: str, headers: Any, body: bytes) -> Any:
        app = Starlette(routes=[Route("/chat", endpoint, methods=["GET", "POST"])])
        app.add_middleware(GenAISessionMiddleware, **options)
        import anyio

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.request(method, path, headers=headers, content=body)

        exporter.clear()
        response = anyio.run(go)
        (span,) = exporter.get_finished_spans()
        return response.json(), dict(span.attributes or {})

    return send


def _wsgi(tracer_provider: TracerProvider, exporter: InMemorySpanExporter) -> Send:
    tracer = tracer_provider.get_tracer("endpoint")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)
        with tracer.start_as_current_span("endpoint"):
            body = json.dumps(_seen()).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    def send(options: dict[str, Any], method: str, path: str, headers: Any, body: bytes) -> Any:
        client = Client(SessionWSGIMiddleware(app, **options), use_cookies=False)
        exporter.clear()
        response = client.open(path, method=method, headers=headers, data=body)
        (span,) = exporter.get_finished_spans()
        return json.loads(response.get_data()), dict(span.attributes or {})

    return send


@pytest.fixture(params=["asgi", "wsgi"])
def send(
    request: pytest.FixtureRequest,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> Send:
    make = _asgi if request.param == "asgi" else _wsgi
    return make(tracer_provider, exporter)


def prop(key: str) -> str:
    return PROPERTY_PREFIX + key


def test_a_header_fills_a_property_on_the_session_and_the_spans(send: Send) -> None:
    options = {"header_mapping": {"X-Session-ID": "session_id", "X-Experiment": "property:arm"}}
    seen, span = send(options, "GET", "/chat", {"X-Session-ID": "c1", "X-Experiment": "b"}, b"")
    assert seen == {"session_id": "c1", "properties": {"arm": "b"}}
    assert span["session.id"] == "c1" and span[prop("arm")] == "b"


def test_every_source_fills_properties(send: Send) -> None:
    options = {
        "header_mapping": {"X-Channel": "property:channel"},
        "cookie_mapping": {"plan": "property:plan"},
        "query_mapping": {"v": "property:app.version"},
        "body_mapping": {"metadata.agent": "property:agent"},
        "extract": lambda request: {"property:region": "eu", "session_id": "hooked"},
    }
    headers = {
        "X-Channel": "web",
        "Cookie": "theme=dark; plan=pro",
        "Content-Type": "application/json",
    }
    body = json.dumps({"metadata": {"agent": "planner"}}).encode()
    seen, span = send(options, "POST", "/chat?v=3.1", headers, body)
    expected = {
        "channel": "web",
        "plan": "pro",
        "app.version": "3.1",
        "agent": "planner",
        "region": "eu",
    }
    assert seen == {"session_id": "hooked", "properties": expected}
    assert {k: v for k, v in span.items() if k.startswith(PROPERTY_PREFIX)} == {
        prop(k): v for k, v in expected.items()
    }


@pytest.mark.parametrize(
    ("present", "winner"),
    [
        (("hook", "header", "cookie", "query", "body"), "hook"),
        (("header", "cookie", "query", "body"), "header"),
        (("cookie", "query", "body"), "cookie"),
        (("query", "body"), "query"),
        (("body",), "body"),
    ],
)
def test_the_ids_precedence_holds_for_properties(
    send: Send, present: tuple[str, ...], winner: str
) -> None:
    target = "property:arm"
    options: dict[str, Any] = {
        "header_mapping": {"X-Arm": target},
        "cookie_mapping": {"arm": target},
        "query_mapping": {"arm": target},
        "body_mapping": {"arm": target},
    }
    if "hook" in present:
        options["extract"] = lambda request: {target: "from-hook"}
    headers = {"Content-Type": "application/json"}
    if "header" in present:
        headers["X-Arm"] = "from-header"
    if "cookie" in present:
        headers["Cookie"] = "arm=from-cookie"
    path = "/chat?arm=from-query" if "query" in present else "/chat"
    body = json.dumps({"arm": "from-body"} if "body" in present else {}).encode()
    seen, span = send(options, "POST", path, headers, body)
    assert seen["properties"] == {"arm": f"from-{winner}"}
    assert span[prop("arm")] == f"from-{winner}"


def test_baggage_mapping_receives_a_property(send: Send) -> None:
    key = prop("arm")
    options = {"baggage_mapping": {"session.id": "session_id", key: "property:arm"}}
    headers = {"baggage": f"session.id=c1,{key}=b,other=x"}
    seen, span = send(options, "GET", "/chat", headers, b"")
    assert seen == {"session_id": "c1", "properties": {"arm": "b"}}
    assert span[key] == "b"


def test_no_property_is_read_without_a_mapping(send: Send) -> None:
    key = prop("arm")
    headers = {"X-Session-ID": "c1", "baggage": f"{key}=b", "X-Arm": "b"}
    seen, span = send({}, "GET", "/chat", headers, b"")
    assert seen == {"session_id": "c1", "properties": {}}
    assert key not in span


def test_oversized_and_malformed_values_are_dropped_without_echo(
    send: Send, caplog: pytest.LogCaptureFixture
) -> None:
    _validation._reported.clear()
    options = {
        "header_mapping": {"X-A": "property:a", "X-B": "property:b", "X-C": "property:c"},
        "max_value_length": 20,
    }
    headers = {"X-A": SECRET * 3, "X-B": SECRET + "\tx", "X-C": "fine"}
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        seen, span = send(options, "GET", "/chat", headers, b"")
    assert seen["properties"] == {"c": "fine"}
    assert prop("a") not in span and prop("b") not in span
    assert SECRET not in caplog.text


def test_hook_properties_are_bounded_and_their_keys_never_logged(
    send: Send, caplog: pytest.LogCaptureFixture
) -> None:
    _validation._reported.clear()

    def hook(request: object) -> dict[str, object]:
        given: dict[str, object] = {f"property:k{i}": "v" for i in range(MAX_PROPERTIES + 4)}
        given[f"property:{SECRET} spaced"] = "x"  # not a valid key
        given["property:bad"] = SECRET * 20  # too long
        return given

    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        seen, span = send({"extract": hook}, "GET", "/chat", {}, b"")
    assert list(seen["properties"]) == [f"k{i}" for i in range(MAX_PROPERTIES)]
    assert sum(key.startswith(PROPERTY_PREFIX) for key in span) == MAX_PROPERTIES
    assert SECRET not in caplog.text
    assert "more than 16 properties" in caplog.text


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"header_mapping": {"X-A": "property:"}}, "header_mapping"),
        ({"cookie_mapping": {"a": "property:bad key"}}, "cookie_mapping"),
        ({"query_mapping": {"a": "properties:a"}}, "query_mapping"),
        ({"body_mapping": {"a": "property:" + "k" * 65}}, "body_mapping"),
        ({"baggage_mapping": {"a": "property:a..b"}}, "baggage_mapping"),
        (
            {"header_mapping": {f"X-{i}": f"property:k{i}" for i in range(MAX_PROPERTIES + 1)}},
            "at most 16",
        ),
    ],
)
def test_bad_property_targets_fail_at_construction(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MiddlewareOptions.from_keywords(**options)
    with pytest.raises(ValueError, match=match):
        GenAISessionMiddleware(lambda scope, receive, send: None, **options)
    with pytest.raises(ValueError, match=match):
        SessionWSGIMiddleware(lambda environ, start_response: [], **options)


def test_property_sources_leave_the_plain_headers_path() -> None:
    """The headers-only fast path knows the three ids; a configuration that
    reads a property takes the general path (and gets the property)."""

    class Reader:
        def query_string(self, request: object) -> bytes:
            return b""

        def path(self, request: object) -> str:
            return "/"

        def method(self, request: object) -> str:
            return "GET"

        def reads_unknown_length(self, request: object, headers: object) -> bool:
            return False

    plain = SessionResolver(MiddlewareOptions.from_keywords(), Reader())
    assert plain._headers_alone
    options = MiddlewareOptions.from_keywords(
        header_mapping={"X-Session-ID": "session_id", "X-Arm": "property:arm"}
    )
    resolver = SessionResolver(options, Reader())
    assert not resolver._headers_alone
    values: list[bytes | str | None] = [b"b", b"c1"]  # x-arm, x-session-id (sorted)
    assert options.header_names() == (b"x-arm", b"x-session-id")
    session = resolver.resolve({}, values).session
    assert (session.session_id, dict(session.properties)) == ("c1", {"arm": "b"})
    again = resolver.resolve({}, [b"b", b"c1"]).session
    assert again is session  # memoised like the ids


def test_zero_code_mappings_take_property_targets() -> None:
    from otel_genai_session.instrumentor._environment import options_from_environment

    options = options_from_environment(
        {
            "OTEL_GENAI_SESSION_HEADER_MAPPING": "X-Session-ID=session_id,X-Arm=property:arm",
            "OTEL_GENAI_SESSION_COOKIE_MAPPING": "plan=property:bad key",
        }
    )
    assert options == {"header_mapping": {"X-Session-ID": "session_id", "X-Arm": "property:arm"}}
