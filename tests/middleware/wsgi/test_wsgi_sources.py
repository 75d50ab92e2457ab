"""Where ids come from, through a real Flask app and its test client.

Every source (extract hook, header, cookie, query, JSON body), every
combination of them present (precedence hook > header > cookie > query >
body), the zero-config defaults and ``header_mapping`` replacing them.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Mapping
from typing import Any

import flask
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer
from werkzeug.test import EnvironBuilder, run_wsgi_app

from otel_genai_session import get_session_context
from otel_genai_session.environment_variables import OTEL_INSTRUMENTATION_GENAI_SESSION_ID
from otel_genai_session.middleware import SESSION_KEY, SessionWSGIMiddleware
from otel_genai_session.middleware._sources import HOOK_RAISED, HOOK_RETURNED

from ._support import ids_of, only_span

SOURCES = ("hook", "header", "cookie", "query", "body")
"""In precedence order: the first present one wins."""


def chat_app(tracer: Tracer, **options: Any) -> flask.Flask:
    """A Flask app whose view records a span and reports the session it saw."""
    app = flask.Flask("sources")

    @app.route("/ids", methods=["GET", "POST"])
    def ids() -> flask.Response:
        with tracer.start_as_current_span("view"):
            session = get_session_context()
            same = flask.request.environ[SESSION_KEY] == session
            return flask.jsonify(session=session.session_id, user=session.user_id, same=same)

    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app, **options)  # type: ignore[method-assign]
    return app


def hook(environ: Mapping[str, Any]) -> dict[str, object] | None:
    """Trusts a value the test puts in a header only this hook reads."""
    value = environ.get("HTTP_X_FROM_HOOK")
    return None if value is None else {"session_id": value}


ALL_SOURCES: dict[str, Any] = {
    "extract": hook,
    "header_mapping": {"X-Session-ID": "session_id"},
    "cookie_mapping": {"sid": "session_id"},
    "query_mapping": {"sid": "session_id"},
    "body_mapping": {"session_id": "session_id"},
}


def send(client: Any, present: tuple[str, ...]) -> Any:
    """One POST carrying ``<source>-sid`` through each source in ``present``."""
    headers = {}
    if "hook" in present:
        headers["X-From-Hook"] = "hook-sid"
    if "header" in present:
        headers["X-Session-ID"] = "header-sid"
    if "cookie" in present:
        client.set_cookie("sid", "cookie-sid")
    query = {"sid": "query-sid"} if "query" in present else {}
    body = {"session_id": "body-sid"} if "body" in present else {"other": 1}
    return client.post("/ids", headers=headers, query_string=query, json=body)


@pytest.mark.parametrize(
    "present",
    [
        pytest.param(combo, id="+".join(combo))
        for size in range(1, len(SOURCES) + 1)
        for combo in itertools.combinations(SOURCES, size)
    ],
)
def test_first_present_source_wins(
    tracer: Tracer, exporter: InMemorySpanExporter, present: tuple[str, ...]
) -> None:
    """All 31 combinations: covers each source alone, every pair's order and each
    source missing in turn from the full set."""
    client = chat_app(tracer, **ALL_SOURCES).test_client()

    response = send(client, present)

    assert response.status_code == 200
    winner = f"{present[0]}-sid"
    assert response.get_json() == {"session": winner, "user": None, "same": True}
    assert ids_of(only_span(exporter, "view")) == {"session.id": winner}


def test_no_source_present_gives_an_empty_session(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    client = chat_app(tracer, **ALL_SOURCES).test_client()

    response = send(client, ())

    assert response.get_json() == {"session": None, "user": None, "same": True}
    assert ids_of(only_span(exporter, "view")) == {}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            {"X-Session-ID": "s", "X-User-ID": "u", "X-Tenant-ID": "t"},
            {"session.id": "s", "user.id": "u", "customer.id": "t"},
            id="session-user-tenant",
        ),
        pytest.param({"X-Customer-ID": "c"}, {"customer.id": "c"}, id="customer"),
        pytest.param(
            {"X-Tenant-ID": "t", "X-Customer-ID": "c"}, {"customer.id": "t"}, id="tenant-first"
        ),
        pytest.param({"x-session-id": "lower"}, {"session.id": "lower"}, id="lower-case-name"),
        pytest.param({"X-SESSION-ID": "upper"}, {"session.id": "upper"}, id="upper-case-name"),
        pytest.param({"X-Conversation": "c"}, {}, id="unmapped-header"),
    ],
)
def test_zero_config_reads_the_default_headers(
    tracer: Tracer,
    exporter: InMemorySpanExporter,
    headers: dict[str, str],
    expected: dict[str, str],
) -> None:
    client = chat_app(tracer).test_client()

    assert client.get("/ids", headers=headers).status_code == 200

    assert ids_of(only_span(exporter, "view")) == expected


def test_zero_config_reads_no_cookie_query_or_body(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    client = chat_app(tracer).test_client()
    client.set_cookie("session_id", "c")

    client.post("/ids?session_id=q", json={"session_id": "b"})

    assert ids_of(only_span(exporter, "view")) == {}


def test_header_mapping_replaces_the_defaults(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    client = chat_app(tracer, header_mapping={"X-Conversation": "session_id"}).test_client()

    client.get("/ids", headers={"X-Session-ID": "default", "X-User-ID": "u", "X-Conversation": "c"})

    assert ids_of(only_span(exporter, "view")) == {"session.id": "c"}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"X-A": "a", "X-B": "b"}, "a", id="both-first-mapped-wins"),
        pytest.param({"X-B": "b"}, "b", id="second-alone"),
    ],
)
def test_within_a_source_the_mapping_order_decides(
    tracer: Tracer, exporter: InMemorySpanExporter, headers: dict[str, str], expected: str
) -> None:
    options = {"header_mapping": {"X-A": "session_id", "X-B": "session_id"}}
    client = chat_app(tracer, **options).test_client()

    client.get("/ids", headers=headers)

    assert ids_of(only_span(exporter, "view")) == {"session.id": expected}


def test_extract_hook_gets_the_request_environ(tracer: Tracer) -> None:
    """The hook sees the very environ the app gets (so it can read what auth put there)."""
    seen: list[Any] = []

    def capture(environ: dict[str, Any]) -> dict[str, object]:
        seen.append(environ)
        return {"user_id": environ["REMOTE_USER"]}

    app = chat_app(tracer, extract=capture)
    captured: list[Any] = []

    @app.after_request
    def keep(response: flask.Response) -> flask.Response:
        captured.append(flask.request.environ)
        return response

    response = app.test_client().get("/ids", environ_base={"REMOTE_USER": "alice"})

    assert response.get_json()["user"] == "alice"
    assert len(seen) == 1
    assert seen[0] is captured[0]
    assert seen[0]["REQUEST_METHOD"] == "GET"
    assert seen[0]["PATH_INFO"] == "/ids"


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param(None, "header", id="none"),
        pytest.param({}, "header", id="empty-mapping"),
        pytest.param({"session_id": None}, "header", id="field-none"),
        # A value the hook gives decides the field, even when it is invalid: the
        # field is dropped, never left to the client's header (issue 13, item 6).
        pytest.param({"session_id": "  "}, None, id="field-blank"),
        pytest.param({"session_id": 42}, "42", id="int-converted"),
    ],
)
def test_extract_hook_leaves_fields_it_does_not_give_to_other_sources(
    tracer: Tracer, exporter: InMemorySpanExporter, result: object, expected: str | None
) -> None:
    client = chat_app(tracer, extract=lambda environ: result).test_client()

    client.get("/ids", headers={"X-Session-ID": "header"})

    assert ids_of(only_span(exporter, "view")) == (
        {} if expected is None else {"session.id": expected}
    )


def failing_hook(environ: object) -> dict[str, object]:
    raise KeyError("no token")


def list_hook(environ: object) -> object:
    return ["session_id", "x"]


@pytest.mark.parametrize(
    ("extract", "message"),
    [
        pytest.param(failing_hook, HOOK_RAISED % ("failing_hook", "KeyError"), id="raises"),
        pytest.param(list_hook, HOOK_RETURNED % ("list_hook", "list"), id="returns-list"),
    ],
)
@pytest.mark.usefixtures("fresh_warnings")
def test_broken_extract_hook_is_logged_once_and_ignored(
    tracer: Tracer,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    extract: Any,
    message: str,
) -> None:
    client = chat_app(tracer, extract=extract).test_client()

    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        for _ in range(3):
            assert client.get("/ids", headers={"X-Session-ID": "h"}).status_code == 200

    assert [span.attributes["session.id"] for span in exporter.get_finished_spans()] == ["h"] * 3  # type: ignore[index]
    assert [record.getMessage() for record in caplog.records] == [message]


def raw_cookie_request(app: Any, cookie: bytes) -> Any:
    """Send a raw Cookie header (the Flask test client would rebuild it)."""
    environ = EnvironBuilder(path="/ids").get_environ()
    environ["HTTP_COOKIE"] = cookie.decode("latin-1")
    app_iter, status, _ = run_wsgi_app(app, environ, buffered=True)
    return status, json.loads(b"".join(app_iter))


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        pytest.param(b"foo=bar baz; sid=abc", "abc", id="malformed-neighbour"),
        pytest.param(b'sid="quoted"', "quoted", id="quoted"),
        pytest.param(b"sid=first; sid=second", "first", id="duplicate-first-wins"),
        pytest.param(b"junk; =x; sid=ok", "ok", id="pairs-without-name-or-equals"),
        pytest.param(b"sid=", None, id="empty"),
        pytest.param(b"SID=upper", None, id="names-case-sensitive"),
        pytest.param(b"sid=caf\xc3\xa9", "caf\u00e9", id="utf8"),
        pytest.param(b"sid=\xff", None, id="not-utf8"),
    ],
)
def test_cookie_parsing(tracer: Tracer, cookie: bytes, expected: str | None) -> None:
    app = chat_app(tracer, cookie_mapping={"sid": "session_id"})

    status, body = raw_cookie_request(app, cookie)

    assert status == "200 OK"
    assert body["session"] == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("sid=caf%C3%A9", "caf\u00e9", id="percent-utf8"),
        pytest.param("sid=a+b", "a b", id="plus-is-space"),
        pytest.param("sid=a&sid=a", "a", id="repeated-same"),
        pytest.param("sid=a&sid=b", None, id="repeated-different"),
        pytest.param("sid=%FF", None, id="not-utf8"),
        pytest.param("sid=a%0Ab", None, id="inner-control-char"),
        pytest.param("sid=%0Ax%20", "x", id="surrounding-whitespace-stripped"),
        pytest.param("other=1&sid=ok", "ok", id="among-others"),
    ],
)
def test_query_parsing(
    tracer: Tracer, exporter: InMemorySpanExporter, query: str, expected: str | None
) -> None:
    client = chat_app(tracer, query_mapping={"sid": "session_id"}).test_client()

    assert client.get(f"/ids?{query}").get_json()["session"] == expected


def test_env_var_fills_a_request_without_ids(
    tracer: Tracer, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing found gives an explicit empty session; the env var fallback still applies."""
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_SESSION_ID, "from-env")
    client = chat_app(tracer).test_client()

    client.get("/ids")
    client.get("/ids", headers={"X-Session-ID": "from-header"})

    assert [ids_of(span) for span in exporter.get_finished_spans()] == [
        {"session.id": "from-env"},
        {"session.id": "from-header"},
    ]


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        pytest.param("/healthz", True, id="exact"),
        pytest.param("/api/healthz-report", False, id="exact-is-anchored"),
        pytest.param("/internal/metrics", True, id="prefix"),
        pytest.param("/static/app.js", True, id="pattern"),
        pytest.param("/static/app.css", False, id="pattern-fullmatch"),
    ],
)
def test_excluded_paths_get_an_empty_session(
    tracer: Tracer, exporter: InMemorySpanExporter, path: str, excluded: bool
) -> None:
    import re

    app = flask.Flask("exclude", static_folder=None)

    @app.route("/<path:anything>")
    def view(anything: str) -> str:
        tracer.start_span("view").end()
        return "ok"

    app.wsgi_app = SessionWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, exclude_paths=["/healthz", "/internal/*", re.compile(r"/static/.*\.js")]
    )

    app.test_client().get(path, headers={"X-Session-ID": "s"})

    expected = {} if excluded else {"session.id": "s"}
    assert ids_of(only_span(exporter, "view")) == expected


def test_generated_session_id_when_none_arrives(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    ids = iter(["gen-1", "gen-2"])
    client = chat_app(tracer, generate_session_id=lambda: next(ids)).test_client()

    first = client.get("/ids").get_json()["session"]
    given = client.get("/ids", headers={"X-Session-ID": "given"}).get_json()["session"]
    second = client.get("/ids").get_json()["session"]

    assert (first, given, second) == ("gen-1", "given", "gen-2")


def test_generate_true_gives_distinct_uuids(tracer: Tracer) -> None:
    import uuid

    client = chat_app(tracer, generate_session_id=True).test_client()

    ids = {client.get("/ids").get_json()["session"] for _ in range(3)}

    assert len(ids) == 3
    assert all(uuid.UUID(value).version == 4 for value in ids)
