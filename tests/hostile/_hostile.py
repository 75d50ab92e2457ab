"""Raw ASGI/WSGI harness for the hostile-input suite, the property tests and scripts/fuzz.py.

One :class:`RawRequest` describes a request as the server hands it over (exact
header bytes, query bytes, body chunks and how the body ends). It runs through
an echo app, bare and wrapped by each middleware, and the two runs are compared:
the app must see the same method, path, query, headers and body bytes, meet the
same receive error at the same point, and send the same response. Only the
session the app sees may differ (bare it is always empty).

Everything is driven synchronously: the echo app and the scripted ``receive``
never suspend, so a coroutine is stepped once with ``send(None)`` (no event
loop), which keeps a request at a few tens of microseconds and lets hypothesis
run hundreds of examples in seconds.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from otel_genai_session import _validation, get_session_context
from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware

Ids = tuple[str | None, str | None, str | None]
NO_IDS: Ids = (None, None, None)

MARKER = "Hx7qMARK"
"""Embedded in hostile values: no log record may ever contain it (CWE-117)."""

Framing = Literal["complete", "disconnect", "raise", "reset"]

# Configuration used by the table and the property tests: every source on, so a
# request can feed each field from several places.
OPTIONS: dict[str, Any] = {
    "header_mapping": {
        "X-Session-ID": "session_id",
        "X-User-ID": "user_id",
        "X-Tenant-ID": "customer_id",
    },
    "cookie_mapping": {"sid": "session_id", "uid": "user_id"},
    "query_mapping": {"session": "session_id", "user": "user_id", "tenant": "customer_id"},
    "body_mapping": {
        "session_id": "session_id",
        "metadata.user_id": "user_id",
        "tenant": "customer_id",
    },
    "baggage_mapping": {
        "session.id": "session_id",
        "user.id": "user_id",
        "customer.id": "customer_id",
    },
}


class ClientGone(OSError):
    """What the scripted transport raises for a client that vanished mid-body."""


@dataclass(frozen=True)
class RawRequest:
    """A request exactly as the server delivers it.

    ``headers`` are (lower-case name, raw value) pairs in wire order, repeated
    names kept as separate lines (ASGI). The WSGI environ joins repeated lines
    (``cookie`` too) with ``,`` and drops names containing ``_``, as werkzeug
    and gunicorn >= 22 do.
    ``body`` holds the body as delivered: one item per ``http.request`` message,
    concatenated for ``wsgi.input``. ``framing`` says how the body ends:
    ``complete`` (last message has ``more_body=False``; the WSGI stream hits
    EOF), ``disconnect`` (ASGI ``http.disconnect`` after the chunks; the WSGI
    stream returns what arrived, in short reads if need be, then raises
    :class:`ClientGone`, like a raw socket or werkzeug's ``LimitedStream``),
    ``raise`` (ASGI ``receive()`` itself raises :class:`ClientGone`; WSGI as
    for ``disconnect``), ``reset`` (ASGI as ``raise``; the WSGI stream raises
    on any read it cannot fill, losing the partial data, like a
    ``BufferedReader`` over a reset socket).
    """

    method: str = "GET"
    path: str = "/echo"
    query: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: tuple[bytes, ...] = ()
    framing: Framing = "complete"
    http_version: str = "1.1"

    # -- ASGI -----------------------------------------------------------------

    def scope(self) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": self.http_version,
            "method": self.method,
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode("latin-1"),
            "query_string": self.query,
            "root_path": "",
            "headers": [(name, value) for name, value in self.headers],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }

    def receive_script(self) -> list[dict[str, Any] | ClientGone]:
        chunks = self.body or (b"",)
        if self.framing == "complete":
            return [
                {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                for i, chunk in enumerate(chunks)
            ]
        script: list[dict[str, Any] | ClientGone] = [
            {"type": "http.request", "body": chunk, "more_body": True} for chunk in self.body
        ]
        if self.framing == "disconnect":
            script.append({"type": "http.disconnect"})
        else:
            script.append(ClientGone("client went away mid-body"))
        return script

    # -- WSGI -----------------------------------------------------------------

    def environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": self.path,
            "QUERY_STRING": self.query.decode("latin-1"),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": f"HTTP/{self.http_version}",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": ScriptedInput(
                b"".join(self.body),
                fail=self.framing != "complete",
                all_or_nothing=self.framing == "reset",
            ),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers:
            if b"_" in name:  # werkzeug and gunicorn >= 22 drop these (X_Session_ID spoofing)
                continue
            key = name.decode("latin-1").upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            text = value.decode("latin-1")
            if key in environ:
                text = environ[key] + "," + text
            environ[key] = text
        if b"chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").encode("latin-1").lower():
            environ["wsgi.input_terminated"] = True  # the server de-chunks
        return environ


class ScriptedInput:
    """A finite ``wsgi.input``: the body, then EOF or :class:`ClientGone`.

    Short reads happen only at the end. With ``fail``, the read after the data
    raises; with ``all_or_nothing`` too, any read the data cannot fill raises
    at once (its partial data lost). Reading everything (``read()``) of a
    failing stream raises. ``requested`` counts the bytes asked for (a read of
    everything counts as infinite), so tests can bound what the middleware
    pulls before the app runs.
    """

    def __init__(self, data: bytes, fail: bool = False, all_or_nothing: bool = False) -> None:
        self._data = data
        self._pos = 0
        self._fail = fail
        self._all_or_nothing = all_or_nothing
        self.requested = 0.0
        self.reads = 0

    def _take(self, size: int) -> bytes:
        self.reads += 1
        self.requested += float("inf") if size < 0 else size
        left = len(self._data) - self._pos
        if self._fail and (left == 0 or size < 0 or (self._all_or_nothing and left < size)):
            self._pos = len(self._data)
            raise ClientGone("client went away mid-body")
        end = len(self._data) if size < 0 else self._pos + size
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk

    def read(self, size: int | None = -1) -> bytes:
        return self._take(-1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        newline = self._data.find(b"\n", self._pos)
        limit = -1 if size is None else size
        if newline >= 0 and (limit < 0 or newline + 1 - self._pos <= limit):
            return self._take(newline + 1 - self._pos)
        return self._take(limit)


# -- the echo apps ---------------------------------------------------------------


def _digest(data: bytes) -> dict[str, Any]:
    return {"len": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _judge(content_type: str, body: bytes, complete: bool) -> int:
    """The echo app's own status: what a JSON API would answer."""
    if not complete:
        return 499
    if "json" not in content_type.lower() or not body:
        return 200
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return 400
    return 200


def _session() -> list[str | None]:
    current = get_session_context()
    return [current.session_id, current.user_id, current.customer_id]


async def echo_asgi(scope: Any, receive: Any, send: Any) -> None:
    """Reads the body the way Starlette does, reports every byte it saw."""
    events: list[list[Any]] = []
    body = bytearray()
    complete = False
    error = None
    if scope["method"] not in ("GET", "HEAD") or any(
        name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"]
    ):
        while True:
            try:
                message = await receive()
            except ClientGone as exc:
                error = f"{type(exc).__name__}: {exc}"
                break
            chunk = message.get("body", b"")
            events.append([message["type"], len(chunk), message.get("more_body", False)])
            if message["type"] != "http.request":
                break
            body += chunk
            if not message.get("more_body", False):
                complete = True
                break
    else:
        complete = True
    content_type = next(
        (v.decode("latin-1") for k, v in scope["headers"] if k == b"content-type"), ""
    )
    seen = {
        "method": scope["method"],
        "path": scope["path"],
        "http_version": scope["http_version"],
        "query": scope["query_string"].hex(),
        "headers": [[k.hex(), v.hex()] for k, v in scope["headers"]],
        "body": _digest(bytes(body)),
        "events": events,
        "error": error,
    }
    status = _judge(content_type, bytes(body), complete)
    payload = json.dumps({"seen": seen, "session": _session()}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"x-echo", b"1")],
        }
    )
    half = len(payload) // 2
    await send({"type": "http.response.body", "body": payload[:half], "more_body": True})
    await send({"type": "http.response.body", "body": payload[half:]})


_ENVIRON_SEEN = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL")


def echo_wsgi(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    """Reads ``wsgi.input`` to its end (the scripted stream is finite) in 64 KB
    reads and reports every byte it saw; a generator, so the middleware's lazy
    response path runs."""
    stream = environ["wsgi.input"]
    body = bytearray()
    error = None
    try:
        while True:
            chunk = stream.read(65536)
            if not chunk:
                break
            body += chunk
    except ClientGone as exc:
        error = f"{type(exc).__name__}: {exc}"
    seen = {
        "environ": {k: environ.get(k) for k in _ENVIRON_SEEN},
        "headers": sorted(
            [k, v]
            for k, v in environ.items()
            if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")
        ),
        "input_terminated": bool(environ.get("wsgi.input_terminated")),
        "body": _digest(bytes(body)),
        "error": error,
    }
    status = _judge(environ.get("CONTENT_TYPE", ""), bytes(body), error is None)
    payload = json.dumps({"seen": seen, "session": _session()}).encode()
    start_response(f"{status} X", [("Content-Type", "application/json"), ("X-Echo", "1")])
    half = len(payload) // 2
    yield payload[:half]
    yield payload[half:]


# -- drivers -----------------------------------------------------------------------


@dataclass
class Outcome:
    """What the client got, and what the app saw (parsed from the echo body)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    seen: dict[str, Any] = field(default_factory=dict)
    session: Ids = NO_IDS
    receive_calls: int = 0


def run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Step a coroutine that never suspends to its end (no event loop needed)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise AssertionError("the ASGI call suspended; the raw harness never blocks")


def _outcome(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Outcome:
    outcome = Outcome(status, headers, body)
    decoded = json.loads(body)
    outcome.seen = decoded["seen"]
    outcome.session = tuple(decoded["session"])  # type: ignore[assignment]
    return outcome


def run_asgi(app: Callable[..., Any], request: RawRequest) -> Outcome:
    script = request.receive_script()
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls <= len(script):
            item = script[calls - 1]
            if isinstance(item, ClientGone):
                raise item
            return item
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    run_coroutine(app(request.scope(), receive, send))
    start = sent[0]
    assert start["type"] == "http.response.start"
    assert all(m["type"] == "http.response.body" for m in sent[1:])
    outcome = _outcome(
        start["status"],
        [(bytes(k), bytes(v)) for k, v in start.get("headers", [])],
        b"".join(m.get("body", b"") for m in sent[1:]),
    )
    outcome.receive_calls = calls
    return outcome


def run_wsgi(app: Callable[..., Any], environ: dict[str, Any]) -> Outcome:
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started[-1]
    return _outcome(
        int(status.split()[0]),
        [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        body,
    )


@dataclass
class Comparison:
    """Bare and wrapped outcomes of one request through one protocol."""

    bare: Outcome
    wrapped: Outcome

    def assert_transparent(self) -> None:
        assert self.wrapped.status == self.bare.status
        assert self.wrapped.headers == self.bare.headers
        assert self.wrapped.seen == self.bare.seen
        assert self.bare.session == NO_IDS


def compare_asgi(request: RawRequest, options: Mapping[str, Any] = OPTIONS) -> Comparison:
    return Comparison(
        run_asgi(echo_asgi, request),
        run_asgi(GenAISessionMiddleware(echo_asgi, **options), request),
    )


def compare_wsgi(request: RawRequest, options: Mapping[str, Any] = OPTIONS) -> Comparison:
    return Comparison(
        run_wsgi(echo_wsgi, request.environ()),
        run_wsgi(SessionWSGIMiddleware(echo_wsgi, **options), request.environ()),
    )


def is_valid_id(value: object, max_length: int = 200) -> bool:
    """The package's validation rule, restated independently of its code."""
    return (
        isinstance(value, str)
        and value == value.strip()
        and 1 <= len(value) <= max_length
        and value.isprintable()
    )


def records_leaking(records: Iterable[logging.LogRecord], needles: Iterable[str]) -> list[str]:
    """Log messages (with their args) that contain any of ``needles``."""
    leaks = []
    needles = [n for n in needles if n]
    for record in records:
        text = record.getMessage() + repr(record.args) + repr(record.msg)
        if any(needle in text for needle in needles):
            leaks.append(text)
    return leaks


# -- the properties, for one request (test_hostile_properties.py, scripts/fuzz.py) ----


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record of this package's logger and OpenTelemetry's, at DEBUG."""
    loggers = [logging.getLogger(name) for name in ("otel_genai_session", "opentelemetry")]
    handler = _Records()
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        for logger, level in zip(loggers, previous, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def expected_session_from_header(request: RawRequest) -> str | None:
    """The one case the oracle decides: exactly one ``x-session-id`` line, whose
    value is UTF-8 without commas and valid once stripped, wins over all."""
    lines = [value for name, value in request.headers if name == b"x-session-id"]
    if len(lines) != 1 or b"," in lines[0]:
        return None
    try:
        text = lines[0].decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    return text if is_valid_id(text) else None


def check_request(request: RawRequest) -> Ids:
    """Every property, for one request; returns the accepted ids."""
    _validation._reported.clear()  # so every cause is logged and inspected
    with captured_logs() as records:
        asgi = compare_asgi(request)
        wsgi = compare_wsgi(request)
    asgi.assert_transparent()
    wsgi.assert_transparent()
    assert asgi.wrapped.session == wsgi.wrapped.session
    for value in asgi.wrapped.session:
        assert value is None or is_valid_id(value), value
    expected = expected_session_from_header(request)
    if expected is not None:
        assert asgi.wrapped.session[0] == expected
    assert records_leaking(records, [MARKER]) == []
    assert all(record.levelno < logging.ERROR for record in records)
    return asgi.wrapped.session
