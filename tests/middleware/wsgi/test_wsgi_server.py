"""Through real servers on loopback: werkzeug's threaded server and wsgiref.

What a real server adds over the test client: it builds the environ from the
wire (latin-1, repeated lines joined, underscore names dropped), decodes
chunked bodies behind ``wsgi.input_terminated``, and may offer
``wsgi.file_wrapper``.
"""

from __future__ import annotations

import hashlib
import json
import wsgiref.simple_server
import wsgiref.util
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import flask
import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from otel_genai_session import get_session_context
from otel_genai_session.middleware import SessionWSGIMiddleware

from ._support import ids_of, make_environ, only_span

pytestmark = pytest.mark.servers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .conftest import Serve

OPTIONS: dict[str, Any] = {
    "extract": lambda environ: {"customer_id": environ.get("HTTP_X_AUTH_TENANT")},
    "header_mapping": {"X-Session-ID": "session_id", "X-User-ID": "user_id"},
    "cookie_mapping": {"sid": "session_id", "uid": "user_id"},
    "query_mapping": {"sid": "session_id"},
    "body_mapping": {"session_id": "session_id", "metadata.user": "user_id"},
    "max_body_size": 4096,
    "response_header": "X-Session-ID",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chat_app(tracer: Tracer, **options: Any) -> flask.Flask:
    app = flask.Flask("server", static_folder=None)

    @app.route("/<path:path>", methods=["GET", "POST"])
    def view(path: str) -> dict[str, Any]:
        with tracer.start_as_current_span("view"):
            data = flask.request.get_data()
            session = get_session_context()
            return {"sha": sha(data), "length": len(data), "session": session.session_id}

    app.wsgi_app = SessionWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, **(options or OPTIONS)
    )
    return app


@pytest.mark.parametrize(
    ("request_kwargs", "expected"),
    [
        pytest.param({"headers": {"X-Session-ID": "h"}}, {"session.id": "h"}, id="header"),
        pytest.param({"headers": {"Cookie": "a=b c; sid=ck"}}, {"session.id": "ck"}, id="cookie"),
        pytest.param({"params": {"sid": "q\u00e9"}}, {"session.id": "q\u00e9"}, id="query"),
        pytest.param({"json": {"session_id": "b"}}, {"session.id": "b"}, id="body"),
        pytest.param({"headers": {"X-Auth-Tenant": "t"}}, {"customer.id": "t"}, id="hook"),
        pytest.param(
            {
                "headers": {"X-Session-ID": "h", "Cookie": "sid=ck; uid=cu"},
                "params": {"sid": "q"},
                "json": {"session_id": "b", "metadata": {"user": "bu"}},
            },
            {"session.id": "h", "user.id": "cu"},
            id="precedence",
        ),
        pytest.param(
            {"params": {"sid": "q"}, "json": {"metadata": {"user": "bu"}}},
            {"session.id": "q", "user.id": "bu"},
            id="query-and-body-fields",
        ),
        pytest.param({"headers": {"X_Session_ID": "spoof"}}, {}, id="underscore-dropped"),
        pytest.param(
            {"headers": [("X-Session-ID", "r"), ("X-Session-ID", "r")]},
            {"session.id": "r"},
            id="repeated-same",
        ),
        pytest.param(
            {"headers": [("X-Session-ID", "r"), ("X-Session-ID", "other")]},
            {},
            id="repeated-differ",
        ),
        pytest.param(
            {"headers": {"X-Session-ID": "caf\u00e9".encode()}},
            {"session.id": "caf\u00e9"},
            id="utf8-header",
        ),
        pytest.param({"headers": {"X-Session-ID": b"\xff"}}, {}, id="non-utf8-header"),
    ],
)
def test_sources_over_http(
    serve: Serve,
    tracer: Tracer,
    exporter: InMemorySpanExporter,
    request_kwargs: dict[str, Any],
    expected: dict[str, str],
) -> None:
    base = serve(chat_app(tracer))
    method = "POST" if "json" in request_kwargs else "GET"

    with httpx.Client(base_url=base, timeout=10) as client:
        response = client.request(method, "/chat", **request_kwargs)

    assert response.status_code == 200
    assert ids_of(only_span(exporter, "view")) == expected
    session = expected.get("session.id")
    echoed = [session] if session is not None and session.isascii() else []
    assert response.headers.get_list("X-Session-ID") == echoed


def chunks(data: bytes, size: int = 100) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize(
    ("size", "parsed"),
    [
        pytest.param(0, True, id="small"),
        pytest.param(4096, True, id="at-limit"),
        pytest.param(4097, False, id="over-limit"),
        pytest.param(300_000, False, id="far-over-limit"),
    ],
)
@pytest.mark.parametrize(
    "chunked", [pytest.param(True, id="chunked"), pytest.param(False, id="length")]
)
def test_body_reaches_the_app_whole(
    serve: Serve, tracer: Tracer, size: int, parsed: bool, chunked: bool
) -> None:
    body = json.dumps({"session_id": "from-body", "text": "\u00e9\n"}).encode()
    body += b" " * (size - len(body))
    base = serve(chat_app(tracer))
    headers = {"Content-Type": "application/json"}

    with httpx.Client(base_url=base, timeout=10) as client:
        content: Any = chunks(body) if chunked else body
        response = client.post("/chat", content=content, headers=headers)

    assert response.request.headers.get("Transfer-Encoding") == ("chunked" if chunked else None)
    assert response.json() == {
        "sha": sha(body),
        "length": len(body),
        "session": "from-body" if parsed else None,
    }


def test_malformed_json_over_http(serve: Serve, tracer: Tracer) -> None:
    app = chat_app(tracer)

    @app.post("/strict")
    def strict() -> dict[str, Any]:
        return {"json": flask.request.get_json()}

    base = serve(app)
    with httpx.Client(base_url=base, timeout=10) as client:
        response = client.post(
            "/strict", content=b'{"session_id": "x",', headers={"Content-Type": "application/json"}
        )

    assert response.status_code == 400
    assert "X-Session-ID" not in response.headers


def test_excluded_utf8_path(serve: Serve, tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    """werkzeug puts the path's UTF-8 bytes in PATH_INFO as latin-1 text."""
    base = serve(chat_app(tracer, exclude_paths=["/caf\u00e9"]))

    with httpx.Client(base_url=base, timeout=10) as client:
        client.get("/caf\u00e9", headers={"X-Session-ID": "s"})
        client.get("/caf\u00e9s", headers={"X-Session-ID": "s"})

    assert [ids_of(span) for span in exporter.get_finished_spans()] == [{}, {"session.id": "s"}]


def file_app(path: Path) -> flask.Flask:
    app = flask.Flask("files")

    @app.route("/file")
    def send() -> flask.Response:
        return flask.send_file(path, mimetype="application/octet-stream")

    return app


def test_file_wrapper_responses_pass_through_a_real_server(
    serve_wsgiref: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pitfall 42: Flask's send_file uses the server's wsgi.file_wrapper; the server
    still recognises it (its sendfile path runs) and sends the same bytes."""
    sendfile_used: list[bool] = []

    class SendfileHandler(wsgiref.simple_server.ServerHandler):
        def sendfile(self) -> bool:  # what a server with an offload path would do
            sendfile_used.append(True)
            for data in self.result:
                self.write(data)
            self.finish_content()
            return True

    monkeypatch.setattr(wsgiref.simple_server, "ServerHandler", SendfileHandler)
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 400)
    bare = serve_wsgiref(file_app(path))
    app = file_app(path)
    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    wrapped = serve_wsgiref(app)

    with httpx.Client(timeout=10) as client:
        expected = client.get(f"{bare}/file")
        got = client.get(f"{wrapped}/file", headers={"X-Session-ID": "s"})

    assert sendfile_used == [True, True]
    assert got.status_code == expected.status_code == 200
    assert sha(got.content) == sha(expected.content) == sha(path.read_bytes())
    assert got.headers["Content-Length"] == expected.headers["Content-Length"]


def test_file_wrapper_instance_is_returned_as_is(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"x" * 1000)
    environ = make_environ(path="/file", extra={"wsgi.file_wrapper": wsgiref.util.FileWrapper})
    returned: list[Iterable[bytes]] = []

    app = file_app(path)

    def capture(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        returned.append(app.wsgi_app(environ, start_response))
        return returned[0]

    result = SessionWSGIMiddleware(capture)(environ, lambda *args: None)  # type: ignore[arg-type,return-value]

    assert isinstance(result, wsgiref.util.FileWrapper)
    assert result is returned[0]
    result.close()


def one_block(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return (b"one block",)


def test_sized_results_keep_their_length_for_the_server(serve_wsgiref: Serve) -> None:
    """wsgiref sets Content-Length from a one-block result's len(): a tuple (or list)
    is returned as-is, so the response headers stay the same with the middleware."""
    bare = serve_wsgiref(one_block)
    wrapped = serve_wsgiref(SessionWSGIMiddleware(one_block))

    with httpx.Client(timeout=10) as client:
        expected = client.get(bare, headers={"X-Session-ID": "s"})
        got = client.get(wrapped, headers={"X-Session-ID": "s"})

    assert got.headers["Content-Length"] == expected.headers["Content-Length"] == "9"
    assert got.content == expected.content == b"one block"
