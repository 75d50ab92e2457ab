"""Bad input never changes the response; bad configuration fails at construction;
each middleware imports only what it needs."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from typing import Any

import flask
import pytest

from otel_genai_session.middleware import SessionWSGIMiddleware

from ._support import RawHeaders, call, make_environ

OPTIONS: dict[str, Any] = {
    "header_mapping": {"X-Session-ID": "session_id"},
    "cookie_mapping": {"sid": "session_id"},
    "query_mapping": {"sid": "session_id"},
    "body_mapping": {"session_id": "session_id", "a.b": "user_id"},
    "max_body_size": 64 * 1024,
}


def echo_app() -> flask.Flask:
    """Echoes what it received, so any change the middleware made would show."""
    app = flask.Flask("echo")

    @app.route("/", methods=["GET", "POST"])
    def echo() -> dict[str, Any]:
        data = flask.request.get_data()
        return {
            "sha": hashlib.sha256(data).hexdigest(),
            "json": repr(flask.request.get_json(silent=True))[:100],
            "headers": sorted((k, v) for k, v in flask.request.headers.items() if k != "Host"),
            "args": sorted(flask.request.args.items(multi=True)),
            "cookies": sorted(flask.request.cookies.items()),
        }

    @app.post("/strict")
    def strict() -> dict[str, Any]:
        return {"json": flask.request.get_json()}

    return app


def post(body: bytes, *headers: tuple[bytes, bytes], length: bytes | None = None) -> Any:
    declared = b"%d" % len(body) if length is None else length
    return [(b"Content-Type", b"application/json"), (b"Content-Length", declared), *headers], body


MALFORMED: list[Any] = [
    pytest.param("GET", "/", b"", [(b"X-Session-ID", b"\xff\xfe")], b"", id="non-utf8-header"),
    pytest.param("GET", "/", b"", [(b"X-Session-ID", b"a\x00b")], b"", id="nul-header"),
    pytest.param("GET", "/", b"", [(b"X-Session-ID", b"x" * 8192)], b"", id="8kb-header"),
    pytest.param(
        "GET", "/", b"", [(b"X-Session-ID", b"a"), (b"X-Session-ID", b"b")], b"", id="conflicting"
    ),
    pytest.param("GET", "/", b"", [(b"Cookie", b"sid=\xff; ;;=; a")], b"", id="bad-cookie"),
    pytest.param("GET", "/", b"sid=%FF&sid=%&=&&", [], b"", id="bad-query"),
    pytest.param("POST", "/", b"", *post(b'{"session_id": '), id="truncated-json"),
    pytest.param("POST", "/strict", b"", *post(b'{"session_id": '), id="truncated-json-strict"),
    pytest.param("POST", "/", b"", *post(b"[" * 50_000), id="deep-nesting"),
    pytest.param("POST", "/", b"", *post(b'{"session_id": ' + b"1" * 5000 + b"}"), id="huge-int"),
    pytest.param("POST", "/", b"", *post(b'{"session_id": NaN}'), id="nan"),
    pytest.param("POST", "/", b"", *post(b'{"session_id": "\\ud800"}'), id="lone-surrogate"),
    pytest.param("POST", "/", b"", *post(b'{"a": {"b": [1]}}'), id="non-primitive"),
    pytest.param("POST", "/", b"", *post(b"\xef\xbb\xbf{}"), id="bom"),
    pytest.param("POST", "/", b"", *post(b'{"session_id": "s"}', length=b"abc"), id="length-abc"),
    pytest.param(
        "POST", "/", b"", *post(b'{"session_id": "s"}', length=b"-1"), id="length-negative"
    ),
    pytest.param("POST", "/", b"", *post(b'{"session_id": "s"}', length=b"5"), id="length-short"),
    pytest.param("POST", "/", b"", *post(b"x" * 100_000), id="over-limit"),
]


@pytest.mark.parametrize(("method", "path", "query", "headers", "body"), MALFORMED)
@pytest.mark.usefixtures("fresh_warnings")
def test_bad_input_never_changes_the_response(
    method: str, path: str, query: bytes, headers: RawHeaders, body: bytes
) -> None:
    app = echo_app()

    bare = call(app.wsgi_app, make_environ(method, path, query, headers, body))
    wrapped = call(
        SessionWSGIMiddleware(app.wsgi_app, **OPTIONS),
        make_environ(method, path, query, headers, body),
    )

    assert (wrapped.status, wrapped.headers, wrapped.body) == (bare.status, bare.headers, bare.body)


def not_callable_app() -> None:
    return None


@pytest.mark.parametrize(
    ("options", "error", "named"),
    [
        pytest.param(
            {"header_mapping": {"X-S": "session"}}, ValueError, "header_mapping", id="unknown-field"
        ),
        pytest.param(
            {"header_mapping": ["X-S"]}, TypeError, "header_mapping", id="mapping-not-dict"
        ),
        pytest.param(
            {"header_mapping": {"X S": "session_id"}},
            ValueError,
            "header_mapping",
            id="bad-header-name",
        ),
        pytest.param(
            {"cookie_mapping": {"": "session_id"}},
            TypeError,
            "cookie_mapping",
            id="empty-cookie-name",
        ),
        pytest.param(
            {"query_mapping": {1: "session_id"}}, TypeError, "query_mapping", id="non-str-name"
        ),
        pytest.param(
            {"body_mapping": {"a..b": "user_id"}}, ValueError, "body_mapping", id="bad-path"
        ),
        pytest.param({"extract": True}, TypeError, "extract", id="extract-not-callable"),
        pytest.param({"max_body_size": -1}, TypeError, "max_body_size", id="negative-body-size"),
        pytest.param({"max_body_size": "1MB"}, TypeError, "max_body_size", id="body-size-str"),
        pytest.param({"max_value_length": 0}, ValueError, "max_value_length", id="zero-length"),
        pytest.param({"max_value_length": True}, TypeError, "max_value_length", id="bool-length"),
        pytest.param(
            {"generate_session_id": "yes"}, TypeError, "generate_session_id", id="generate-str"
        ),
        pytest.param(
            {"response_header": "X Session"},
            ValueError,
            "response_header",
            id="bad-response-header",
        ),
        pytest.param({"exclude_paths": "/health"}, TypeError, "exclude_paths", id="exclude-str"),
        pytest.param(
            {"exclude_paths": ["health"]}, ValueError, "exclude_paths", id="exclude-relative"
        ),
        pytest.param({"no_such_option": 1}, TypeError, "no_such_option", id="unknown-option"),
    ],
)
def test_misconfiguration_raises_at_construction(
    options: dict[str, Any], error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=re.escape(named)):
        SessionWSGIMiddleware(echo_app().wsgi_app, **options)


def test_wsgi_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="wsgi_app"):
        SessionWSGIMiddleware(not_callable_app())  # type: ignore[arg-type]


IMPORT_CHECK = """
import sys
from otel_genai_session.middleware import {name}
{name}
loaded = sorted(m for m in {banned!r} if any(k == m or k.startswith(m + ".") for k in sys.modules))
print(",".join(loaded))
"""


WSGI_ONLY = ("werkzeug", "flask", "wsgiref", "otel_genai_session.middleware.wsgi")
ASGI_ONLY = ("starlette", "fastapi", "asgiref", "otel_genai_session.middleware.asgi")


@pytest.mark.parametrize(
    ("name", "banned"),
    [
        pytest.param("SessionWSGIMiddleware", ("flask", "werkzeug", *ASGI_ONLY), id="wsgi"),
        pytest.param("GenAISessionMiddleware", ("starlette", "fastapi", *WSGI_ONLY), id="asgi"),
    ],
)
def test_importing_one_middleware_loads_no_other_framework(
    name: str, banned: tuple[str, ...]
) -> None:
    code = IMPORT_CHECK.format(name=name, banned=banned)

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert result.stdout.strip() == ""
