"""JSON body fields, and the body handed back to the app byte for byte.

The middleware may read ``wsgi.input`` only when ``body_mapping`` asks for it,
the body is JSON and its length is known and small enough; it then puts back a
stream yielding exactly the original bytes (pitfalls 13-26, 43, 44).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import sys
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import flask
import pytest

from otel_genai_session import get_session_context
from otel_genai_session.middleware import SessionWSGIMiddleware

from ._support import call, make_environ, session_dict

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

OPTIONS: dict[str, Any] = {
    "body_mapping": {"session_id": "session_id", "metadata.user": "user_id"},
    "max_body_size": 1024,
}
JSON = (b"Content-Type", b"application/json")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_body(size: int = 0, **fields: object) -> bytes:
    """A JSON object with the given fields, padded to at least ``size`` bytes, with
    newlines and non-ASCII so line-wise reads and byte counts are exercised."""
    document: dict[str, object] = {**fields, "text": "line one\nline two \u00e9\n"}
    data = json.dumps(document, ensure_ascii=False, indent=1).encode()
    if len(data) < size:
        document["pad"] = "x" * (size - len(data))
        data = json.dumps(document, ensure_ascii=False, indent=1).encode()
    return data


def post(body: bytes, content_type: bytes = b"application/json", **kwargs: Any) -> dict[str, Any]:
    headers = [(b"Content-Type", content_type), (b"Content-Length", b"%d" % len(body))]
    return make_environ("POST", headers=headers, body=body, **kwargs)


class Reader:
    """A raw WSGI app that reads wsgi.input one way and reports what it got."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.data = b""
        self.session: object = None
        self.content_length: object = None
        self.found: dict[str, str] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        self.content_length = environ.get("CONTENT_LENGTH")
        if self.how == "read":
            self.data = stream.read()
        elif self.how == "read-n":  # up to CONTENT_LENGTH, or to the end when terminated
            length = int(environ.get("CONTENT_LENGTH") or 1 << 30)
            chunks = []
            while length > 0 and (chunk := stream.read(min(length, 7))):
                chunks.append(chunk)
                length -= len(chunk)
            self.data = b"".join(chunks)
        elif self.how == "read-until-empty":
            self.data = b"".join(iter(lambda: stream.read(5), b""))
        elif self.how == "readline":
            self.data = b"".join(iter(stream.readline, b""))
        elif self.how == "readline-n":
            self.data = b"".join(iter(lambda: stream.readline(3), b""))
        elif self.how == "iterate":
            self.data = b"".join(stream)
        elif self.how == "readlines":
            self.data = b"".join(stream.readlines())
        self.session = get_session_context().session_id
        self.found = {k: v for k, v in session_dict(get_session_context()).items() if v}
        start_response("200 OK", [])
        return [b""]


READS = ["read", "read-n", "read-until-empty", "readline", "readline-n", "iterate", "readlines"]


@pytest.mark.parametrize("how", READS)
@pytest.mark.parametrize(
    ("chunked", "size", "parsed"),
    [
        pytest.param(False, 0, True, id="content-length"),
        pytest.param(False, 1024, True, id="content-length-at-limit"),
        pytest.param(False, 1025, False, id="content-length-over-limit"),
        pytest.param(True, 0, True, id="terminated"),
        pytest.param(True, 1024, True, id="terminated-at-limit"),
        pytest.param(True, 1025, False, id="terminated-over-limit"),
        pytest.param(True, 50_000, False, id="terminated-far-over-limit"),
    ],
)
def test_raw_app_reads_the_original_bytes(how: str, chunked: bool, size: int, parsed: bool) -> None:
    body = json_body(session_id="from-body")
    body += b" " * (size - len(body))  # trailing whitespace: still the same JSON
    assert size == 0 or len(body) == size
    environ = post(body, chunked=chunked)
    if chunked:
        del environ["CONTENT_LENGTH"]
    original_length = environ.get("CONTENT_LENGTH")
    reader = Reader(how)

    call(SessionWSGIMiddleware(reader, **OPTIONS), environ)

    assert sha(reader.data) == sha(body)
    assert reader.session == ("from-body" if parsed else None)
    assert reader.content_length == original_length


def test_declared_over_limit_is_never_read() -> None:
    body = json_body(2048, session_id="s")
    environ = post(body)
    original = environ["wsgi.input"]
    seen: list[tuple[object, int]] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.append((environ["wsgi.input"], environ["wsgi.input"].tell()))
        start_response("200 OK", [])
        return []

    call(SessionWSGIMiddleware(app, **OPTIONS), environ)

    assert seen == [(original, 0)]


@pytest.mark.parametrize(
    "content_length",
    [
        pytest.param("abc", id="letters"),
        pytest.param("-1", id="negative"),
        pytest.param("", id="empty"),
        pytest.param("1e3", id="exponent"),
        pytest.param("\u0661\u0662", id="arabic-digits"),
    ],
)
def test_invalid_content_length_leaves_the_environ_alone(content_length: str) -> None:
    """Pitfall 44: nothing read, nothing replaced; werkzeug then reads no body."""
    body = json_body(session_id="s")
    environ = post(body)
    environ["CONTENT_LENGTH"] = content_length
    before = dict(environ)
    original_input = environ["wsgi.input"]
    seen: list[dict[str, Any]] = []

    app = flask.Flask("invalid")

    @app.post("/")
    def view() -> dict[str, Any]:
        seen.append(dict(flask.request.environ))
        return {
            "data": flask.request.get_data().decode(),
            "session": get_session_context().session_id,
        }

    wrapped = call(SessionWSGIMiddleware(app.wsgi_app, **OPTIONS), environ)
    bare = call(app.wsgi_app, post(body) | {"CONTENT_LENGTH": content_length})

    assert seen[0]["wsgi.input"] is original_input
    assert all(seen[0][key] == value for key, value in before.items())
    assert original_input.tell() == 0
    assert json.loads(wrapped.body) == {"data": "", "session": None}
    assert (wrapped.status, wrapped.body) == (bare.status, bare.body)


def test_no_length_and_not_terminated_is_not_read() -> None:
    environ = make_environ("POST", headers=[JSON], body=json_body(session_id="s"))
    reader = Reader("read")

    call(SessionWSGIMiddleware(reader, **OPTIONS), environ)

    assert reader.session is None
    assert reader.data == json_body(session_id="s")  # BytesIO: readable to EOF


@pytest.mark.parametrize(
    ("content_type", "parsed"),
    [
        pytest.param(b"application/json", True, id="json"),
        pytest.param(b"application/json; charset=utf-8", True, id="json-utf8"),
        pytest.param(b"APPLICATION/JSON", True, id="upper"),
        pytest.param(b"application/vnd.api+json", True, id="plus-json"),
        pytest.param(b"application/json; charset=latin-1", False, id="json-latin1"),
        pytest.param(b"text/plain", False, id="text-plain"),
        pytest.param(b"application/x-www-form-urlencoded", False, id="form"),
        pytest.param(b"multipart/form-data; boundary=x", False, id="multipart"),
    ],
)
def test_content_types(content_type: bytes, parsed: bool) -> None:
    body = json_body(session_id="s")
    reader = Reader("read")

    call(SessionWSGIMiddleware(reader, **OPTIONS), post(body, content_type))

    assert reader.data == body
    assert reader.session == ("s" if parsed else None)


@pytest.mark.parametrize(
    ("method", "extra_headers", "parsed"),
    [
        pytest.param("POST", [], True, id="post"),
        pytest.param("PUT", [], True, id="put"),
        pytest.param("PATCH", [], True, id="patch"),
        pytest.param("GET", [], False, id="get"),
        pytest.param("HEAD", [], False, id="head"),
        pytest.param("OPTIONS", [], False, id="options"),
        pytest.param("POST", [(b"Content-Encoding", b"gzip")], False, id="gzip"),
        pytest.param("POST", [(b"Content-Encoding", b"identity")], True, id="identity"),
    ],
)
def test_methods_and_encodings(
    method: str, extra_headers: list[tuple[bytes, bytes]], parsed: bool
) -> None:
    body = json_body(session_id="s")
    headers = [JSON, (b"Content-Length", b"%d" % len(body)), *extra_headers]
    environ = make_environ(method, headers=headers, body=body)
    original_input = environ["wsgi.input"]
    reader = Reader("read")

    call(SessionWSGIMiddleware(reader, **OPTIONS), environ)

    assert reader.data == body
    assert reader.session == ("s" if parsed else None)
    if not parsed:
        assert environ["wsgi.input"] is original_input


def test_no_body_mapping_never_touches_the_input() -> None:
    environ = post(json_body(session_id="s"))
    original_input = environ["wsgi.input"]

    call(SessionWSGIMiddleware(Reader("read")), environ)

    assert environ["wsgi.input"] is original_input


def test_body_not_read_when_other_sources_gave_every_body_field() -> None:
    environ = post(json_body(session_id="body", metadata={"user": "u"}))
    environ["HTTP_X_SESSION_ID"] = "header"
    environ["HTTP_X_USER_ID"] = "user"
    original_input = environ["wsgi.input"]
    options = {**OPTIONS, "header_mapping": {"X-Session-ID": "session_id", "X-User-ID": "user_id"}}
    reader = Reader("read")

    call(SessionWSGIMiddleware(reader, **options), environ)

    assert environ["wsgi.input"] is original_input
    assert reader.session == "header"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b'{"metadata": {"user": "u"}}', {"user_id": "u"}, id="nested"),
        pytest.param(b'{"metadata": "flat"}', {}, id="middle-not-object"),
        pytest.param(b'{"metadata": null}', {}, id="middle-null"),
        pytest.param(b'[{"session_id": "s"}]', {}, id="top-level-array"),
        pytest.param(b'"session_id"', {}, id="top-level-string"),
        pytest.param(b"null", {}, id="top-level-null"),
        pytest.param(b'{"session_id": {"a": 1}}', {}, id="object-value"),
        pytest.param(b'{"session_id": ["s"]}', {}, id="list-value"),
        pytest.param(b'{"session_id": 1e400}', {}, id="huge-float"),
        pytest.param(b'{"session_id": 12}', {"session_id": "12"}, id="int-value"),
        pytest.param(b'{"session_id": "s"', {}, id="truncated"),
        pytest.param(b'{"session_id": "s"} x', {}, id="trailing-garbage"),
        pytest.param(b'{"session_id": "\xff"}', {}, id="invalid-utf8"),
        pytest.param(b"[" * 100_000, {}, id="deep-nesting"),
        pytest.param(b'{"session_id": ' + b"9" * 5000 + b"}", {}, id="5000-digits"),
        pytest.param('{"session_id": "s"}'.encode("utf-16"), {}, id="utf16-bom"),
    ],
)
def test_json_shapes(body: bytes, expected: dict[str, str]) -> None:
    reader = Reader("read")
    options = {**OPTIONS, "max_body_size": 200_000}

    call(SessionWSGIMiddleware(reader, **options), post(body))

    assert reader.found == expected
    assert reader.data == body


def flask_echo() -> flask.Flask:
    app = flask.Flask("echo")

    @app.post("/echo")
    def echo() -> dict[str, Any]:
        data = flask.request.get_data()
        return {
            "sha": sha(data),
            "json": flask.request.get_json(),
            "session": get_session_context().session_id,
            "user": get_session_context().user_id,
        }

    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app, **OPTIONS)  # type: ignore[method-assign]
    return app


@pytest.mark.parametrize("size", [pytest.param(0, id="small"), pytest.param(900, id="near-limit")])
def test_flask_get_data_and_get_json_see_the_body(size: int) -> None:
    body = json_body(size, session_id="s", metadata={"user": "u"})

    response = flask_echo().test_client().post("/echo", data=body, content_type="application/json")

    assert response.get_json() == {
        "sha": sha(body),
        "json": json.loads(body),
        "session": "s",
        "user": "u",
    }


def test_flask_over_limit_body_reaches_the_app_whole() -> None:
    body = json_body(100_000, session_id="s")

    response = flask_echo().test_client().post("/echo", data=body, content_type="application/json")

    assert response.get_json()["sha"] == sha(body)
    assert response.get_json()["session"] is None


def test_malformed_json_gets_flasks_own_400() -> None:
    body = b'{"session_id": "s", oops}'
    app = flask_echo()
    bare = flask.Flask("bare")
    bare.view_functions.update(app.view_functions)
    bare.url_map = app.url_map

    wrapped = app.test_client().post("/echo", data=body, content_type="application/json")
    unwrapped = bare.test_client().post("/echo", data=body, content_type="application/json")

    assert wrapped.status_code == 400
    assert (wrapped.status, wrapped.get_data()) == (unwrapped.status, unwrapped.get_data())


def test_truncated_body_is_not_parsed_and_reaches_the_app() -> None:
    """A client that declared more than it sent (disconnect): no parse, same bytes."""
    body = json_body(session_id="s")
    environ = post(body)
    environ["CONTENT_LENGTH"] = str(len(body) + 10)
    reader = Reader("read")

    call(SessionWSGIMiddleware(reader, **OPTIONS), environ)

    assert (reader.data, reader.session) == (body, None)


class FailingInput(io.RawIOBase):
    """A client socket that breaks after a few bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.error = ConnectionResetError("peer reset")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.data:
            chunk, self.data = self.data[:4], self.data[4:]
            return chunk
        raise self.error


def test_read_error_while_buffering_reaches_the_app_where_it_happened() -> None:
    body = json_body(session_id="s")
    environ = post(body)
    stream = FailingInput(body[:10])
    environ["wsgi.input"] = stream
    got: list[object] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        got.append(environ["wsgi.input"].read(10))
        try:
            environ["wsgi.input"].read(1)
        except ConnectionResetError as error:
            got.append(error)
        got.append(get_session_context().session_id)
        start_response("200 OK", [])
        return []

    call(SessionWSGIMiddleware(app, **OPTIONS), environ)

    assert got == [body[:10], stream.error, None]


class FreshErrorInput(FailingInput):
    """Raises a new error each time (one kept on the stream would hold the
    stream through its own traceback)."""

    def read(self, size: int = -1) -> bytes:
        if self.data:
            return super().read(size)
        raise ConnectionResetError("peer reset")


@pytest.mark.parametrize("app_reads", [True, False], ids=["app-reads", "app-ignores-body"])
def test_read_error_while_buffering_leaves_nothing_for_the_collector(
    app_reads: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disconnect mid-body must not leave the buffer in a reference cycle, nor a
    buffer view alive: Python 3.13 reports closing a BytesIO with a live view as
    an unraisable BufferError when the collector finalises it."""
    unraisable: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: unraisable.append(info.exc_value))
    body = json_body(session_id="s")
    environ = post(body)
    stream = FreshErrorInput(body[:10])
    environ["wsgi.input"] = stream
    stream_alive = weakref.ref(stream)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if app_reads:
            with contextlib.suppress(ConnectionResetError):
                environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b"ok"]

    gc.disable()
    try:
        assert call(SessionWSGIMiddleware(app, **OPTIONS), environ).body == b"ok"
        del environ, stream
        if not app_reads:  # freed by reference counting alone: no cycle
            assert stream_alive() is None
    finally:
        gc.enable()
    gc.collect()
    assert stream_alive() is None
    assert unraisable == []


@pytest.mark.parametrize(
    "chunked", [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")]
)
def test_a_body_over_max_body_size_says_why_once(
    chunked: bool, caplog: pytest.LogCaptureFixture, fresh_warnings: None
) -> None:
    """Issue 13, item 13: the ids in a body over ``max_body_size`` are not read;
    that used to be silent. The app still reads the whole body."""
    from otel_genai_session.middleware._parsing import BODY_NOT_PARSED
    from otel_genai_session.middleware._resolver import OVER_LIMIT

    body = json_body(4000, session_id="s-late")
    for _ in range(3):
        app = Reader("read")
        headers = [JSON] if chunked else [JSON, (b"Content-Length", b"%d" % len(body))]
        environ = make_environ("POST", headers=headers, body=body, chunked=chunked)
        call(SessionWSGIMiddleware(app, **OPTIONS), environ)
        assert (app.data, app.session) == (body, None)
    warnings = [r.getMessage() for r in caplog.records if r.name == "otel_genai_session"]
    assert warnings == [BODY_NOT_PARSED % (OVER_LIMIT % 1024)]
