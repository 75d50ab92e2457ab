"""``response_header``: the resolved session id echoed in the response.

Added in ``start_response`` whenever the app calls it: during the app call,
late from inside the iterable, or a second time with ``exc_info``; never
duplicated when the app set the header itself, never for non-ASCII ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import flask
import httpx
import pytest

from otel_genai_session.middleware import SessionWSGIMiddleware

from ._support import call, make_environ, raise_exc_info

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .conftest import Serve

HEADER = "X-Session-ID"


def flask_app() -> flask.Flask:
    app = flask.Flask("echo")

    @app.route("/")
    def index() -> flask.Response:
        response = flask.Response("ok")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        if "own" in flask.request.args:
            response.headers[HEADER] = "app-value"
        return response

    app.wsgi_app = SessionWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, response_header=HEADER
    )
    return app


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        pytest.param("", {HEADER: "s-1"}, ["s-1"], id="echoed"),
        pytest.param("", {}, [], id="no-session-no-header"),
        pytest.param("", {"X-User-ID": "u"}, [], id="user-only-no-header"),
        pytest.param("own", {HEADER: "s-1"}, ["app-value"], id="app-set-it"),
        pytest.param("", {HEADER: "caf\u00e9".encode().decode("latin-1")}, [], id="non-ascii"),
        pytest.param("", {HEADER: "a\x01b"}, [], id="invalid-never-echoed"),
    ],
)
def test_flask_response_header(query: str, headers: dict[str, str], expected: list[str]) -> None:
    response = flask_app().test_client().get(f"/?{query}", headers=headers)

    assert response.headers.getlist(HEADER) == expected
    assert response.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.get_data() == b"ok"


def test_generated_id_is_echoed() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return []

    middleware = SessionWSGIMiddleware(
        app, response_header="X-Chat", generate_session_id=lambda: "gen"
    )

    assert call(middleware, make_environ()).headers == [("X-Chat", "gen")]


def late(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    """start_response from inside the iterable, on the first next()."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"late"


def with_exc_info(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Starts a 200, fails before any output, restarts as a 500 with exc_info."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("500 Internal Server Error", [("Content-Type", "text/plain")], raise_exc_info())
    return [b"failed"]


def late_with_exc_info(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [])
    start_response("503 Service Unavailable", [], raise_exc_info())
    yield b"unavailable"


def own_header_lower_case(
    environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    start_response("200 OK", [("x-session-id", "mine")])
    return [b"own"]


@pytest.mark.parametrize(
    ("app", "status", "body", "headers"),
    [
        pytest.param(late, "200 OK", b"late", [("X-Session-ID", "s-1")], id="late"),
        pytest.param(
            with_exc_info, "500 Internal Server Error", b"failed", [("X-Session-ID", "s-1")],
            id="exc-info",
        ),
        pytest.param(
            late_with_exc_info, "503 Service Unavailable", b"unavailable",
            [("X-Session-ID", "s-1")], id="late-exc-info",
        ),
        pytest.param(
            own_header_lower_case, "200 OK", b"own", [("x-session-id", "mine")],
            id="app-set-it-lower-case",
        ),
    ],
)  # fmt: skip
def test_header_added_whenever_start_response_is_called(
    app: WSGIApplication, status: str, body: bytes, headers: list[tuple[str, str]]
) -> None:
    response = call(
        SessionWSGIMiddleware(app, response_header=HEADER),
        make_environ(headers=[(b"X-Session-ID", b"s-1")]),
    )

    assert (response.status, response.body) == (status, body)
    assert [(k, v) for k, v in response.headers if k.lower() == HEADER.lower()] == headers


@pytest.mark.parametrize(
    "app",
    [pytest.param(late, id="late"), pytest.param(with_exc_info, id="exc-info")],
)
def test_header_through_a_real_server(serve: Serve, app: WSGIApplication) -> None:
    base = serve(SessionWSGIMiddleware(app, response_header=HEADER))

    with httpx.Client(base_url=base, timeout=10) as client:
        response = client.get("/", headers={HEADER: "s-1"})

    assert response.headers.get_list(HEADER) == ["s-1"]
    assert response.content in (b"late", b"failed")


def test_exc_info_after_output_still_raises() -> None:
    """The wrapper keeps PEP 3333's rule: exc_info once output started re-raises."""
    error_info = raise_exc_info()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        start_response("500 Internal Server Error", [], error_info)

    with pytest.raises(RuntimeError) as raised:
        call(
            SessionWSGIMiddleware(app, response_header=HEADER),
            make_environ(headers=[(b"X-Session-ID", b"s")]),
        )

    assert raised.value is error_info[1]
