"""Who decides an id, and what reaches the logs and the spans (issue 13, items 5, 6, 7, 11).

The ``baggage`` header is parsed by OpenTelemetry's propagator, which logs
rejected entries verbatim: through the middlewares, no client byte reaches a
log record, and each cause is logged once. The ``extract`` hook has the last
word on the fields it returns: a value of its that fails validation drops the
field, and the client's header does not get to decide it instead; a hook whose
mapping raises when read is logged once and ignored like any other hook error.
A session memoised while user-id hashing is being switched on never exports
the raw ``user.id`` afterwards. A nested middleware with other options still
passes the request through, and says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from _hostile import (
    MARKER,
    OPTIONS,
    RawRequest,
    echo_asgi,
    echo_wsgi,
    records_leaking,
    run_asgi,
    run_wsgi,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import SessionContext, session
from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware
from otel_genai_session.middleware._options import NESTED_OPTIONS_DIFFER
from otel_genai_session.middleware._sources import HOOK_RAISED
from otel_genai_session.privacy import disable_user_id_hashing, enable_user_id_hashing

PROTOCOLS = pytest.mark.parametrize("protocol", ["asgi", "wsgi"])


def run(protocol: str, request: RawRequest, **options: Any) -> Any:
    if protocol == "asgi":
        return run_asgi(GenAISessionMiddleware(echo_asgi, **options), request)
    return run_wsgi(SessionWSGIMiddleware(echo_wsgi, **options), request.environ())


# -- item 5: baggage -----------------------------------------------------------------------

BAGGAGE_OPTIONS: dict[str, Any] = {
    "header_mapping": {},
    "baggage_mapping": {"session.id": "session_id", "user.id": "user_id"},
}
HOSTILE_BAGGAGE = [
    pytest.param(b"session.id=\x1b[31m" + MARKER.encode() + b"\x1b[0m", id="escape-sequence"),
    pytest.param(b"session.id=" + MARKER.encode() + b"\x07\x85", id="bel-nel"),
    pytest.param(b"user.id=ok," + MARKER.encode() + b" no equals sign", id="malformed-member"),
    pytest.param(b"session.id=" + MARKER.encode() * 600, id="member-over-4096-bytes"),
    pytest.param(b"k=" + MARKER.encode() + b"," * 9000, id="header-over-8192-bytes"),
    pytest.param(
        b",".join(b"k%d=%s" % (i, MARKER.encode()) for i in range(200)), id="over-180-members"
    ),
]


@PROTOCOLS
@pytest.mark.parametrize("header", HOSTILE_BAGGAGE)
def test_hostile_baggage_never_reaches_the_logs(
    protocol: str, header: bytes, genai_logs: pytest.LogCaptureFixture
) -> None:
    """200 requests: no record holds the client's bytes, no control byte, and
    each cause is logged once (the propagator logged every entry, every time)."""
    request = RawRequest(headers=((b"baggage", header),))
    for _ in range(200):
        assert run(protocol, request, **BAGGAGE_OPTIONS).status == 200
    texts = [r.getMessage() for r in genai_logs.records]
    assert records_leaking(genai_logs.records, [MARKER]) == []
    assert not any(ch in text for text in texts for ch in "\x1b\x07\x85\r\n")
    assert len(texts) == len(set(texts)) <= 2, texts


@PROTOCOLS
def test_valid_baggage_entries_beside_hostile_ones_still_count(protocol: str) -> None:
    header = b"user.id=alice, junk\x1b, session.id=conv%2D1"
    outcome = run(protocol, RawRequest(headers=((b"baggage", header),)), **BAGGAGE_OPTIONS)
    assert outcome.session == ("conv-1", "alice", None)


@PROTOCOLS
def test_baggage_properties_are_not_part_of_the_value(protocol: str) -> None:
    header = b"session.id=conv-1;hop=2, user.id = alice ; tier=gold"
    outcome = run(protocol, RawRequest(headers=((b"baggage", header),)), **BAGGAGE_OPTIONS)
    assert outcome.session == ("conv-1", "alice", None)


def test_baggage_blanks_cost_linear_work() -> None:
    """OpenTelemetry's propagator backtracks quadratically on a run of blanks
    (about 0.1 s for one 8 KB header); read here, blanks cost what any byte does."""
    import time

    from otel_genai_session.middleware._baggage import request_baggage

    def cpu(header: bytes) -> float:
        started = time.thread_time()
        for _ in range(100):
            assert request_baggage(header, {"session.id"}) == {}
        return time.thread_time() - started

    plain, blanks = cpu(b"a" + b"x" * 8000 + b"b"), cpu(b"a" + b" " * 8000 + b"b")
    assert blanks <= 20 * plain + 0.1, (blanks, plain)


# -- item 6: the extract hook's authority --------------------------------------------------

CLIENT_CLAIMS = RawRequest(
    headers=((b"x-session-id", b"s-client"), (b"x-user-id", b"admin"), (b"x-tenant-id", b"t-c"))
)


def verified_but_too_long(scope_or_environ: Any) -> dict[str, str | None]:
    return {"user_id": "verified-" + "u" * 300, "customer_id": None}


@PROTOCOLS
def test_an_invalid_hook_value_drops_the_field(
    protocol: str, genai_logs: pytest.LogCaptureFixture
) -> None:
    """The hook returned a user that fails validation: no user, not the
    client's ``X-User-ID: admin``. Fields it left None stay with the client."""
    for _ in range(3):
        outcome = run(protocol, CLIENT_CLAIMS, extract=verified_but_too_long)
        assert outcome.session == ("s-client", None, "t-c")
    dropped = [r.getMessage() for r in genai_logs.records if "extract hook" in r.getMessage()]
    assert dropped == [
        "Dropped user_id from extract hook verified_but_too_long: longer than 200 characters"
    ]


class LazyIds(Mapping[str, object]):
    """A mapping that fails only when read, as a lazy auth lookup may."""

    def __getitem__(self, key: str) -> object:
        raise LookupError("the auth backend is down")

    def __iter__(self) -> Iterator[str]:
        yield "user_id"
        raise LookupError("the auth backend is down")

    def __len__(self) -> int:
        return 1


def lazy_hook(scope_or_environ: Any) -> Mapping[str, object]:
    return LazyIds()


@PROTOCOLS
def test_a_hook_mapping_that_raises_when_read_is_logged_once_and_ignored(
    protocol: str, genai_logs: pytest.LogCaptureFixture
) -> None:
    """Used to fail the request (500 on ASGI, an exception on WSGI)."""
    for _ in range(3):
        outcome = run(protocol, CLIENT_CLAIMS, extract=lazy_hook)
        assert outcome.status == 200
        assert outcome.session == ("s-client", "admin", "t-c")
    warnings = [r for r in genai_logs.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [HOOK_RAISED % ("lazy_hook", "LookupError")]


# -- item 7: memoised sessions and user-id hashing -----------------------------------------

USER_REQUEST = RawRequest(headers=((b"x-user-id", b"alice@example.com"),))


@pytest.fixture
def hashing_switched_mid_build(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The first session built has hashing switched on right after it was made
    (as another thread would, between the build and the memo's store)."""
    original = SessionContext._validated.__func__  # type: ignore[attr-defined]
    switched: list[str] = []

    def build_then_switch(cls: type[SessionContext], *ids: str | None) -> SessionContext:
        built = original(cls, *ids)
        if not switched:
            switched.append("on")
            enable_user_id_hashing(key="k")
        return built  # type: ignore[no-any-return]

    monkeypatch.setattr(session.SessionContext, "_validated", classmethod(build_then_switch))
    try:
        yield switched
    finally:
        disable_user_id_hashing()


def run_with_a_span(protocol: str, provider: TracerProvider, times: int) -> None:
    """Runs USER_REQUEST ``times`` through one middleware whose app makes a span."""
    tracer = provider.get_tracer("memo")

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        with tracer.start_as_current_span("app"):
            pass
        await echo_asgi(scope, receive, send)

    def wsgi_app(environ: Any, start_response: Any) -> Any:
        with tracer.start_as_current_span("app"):
            pass
        return echo_wsgi(environ, start_response)

    if protocol == "asgi":
        middleware: Any = GenAISessionMiddleware(asgi_app)
        for _ in range(times):
            run_asgi(middleware, USER_REQUEST)
    else:
        middleware = SessionWSGIMiddleware(wsgi_app)
        for _ in range(times):
            run_wsgi(middleware, USER_REQUEST.environ())


@PROTOCOLS
def test_a_session_built_before_hashing_was_switched_on_is_not_served_after(
    protocol: str,
    hashing_switched_mid_build: list[str],
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """The first request's session was built with hashing off and stored after
    ``enable_user_id_hashing()`` cleared the memo: later requests with the same
    headers exported the raw ``user.id``."""
    run_with_a_span(protocol, tracer_provider, times=3)
    spans = exporter.get_finished_spans()
    assert hashing_switched_mid_build == ["on"]
    later = [dict(span.attributes or {}) for span in spans[1:]]
    assert len(later) == 2
    assert all("user.id" not in attributes for attributes in later), later
    assert all(len(str(attributes["user.hash"])) == 64 for attributes in later), later


# -- item 11: nested middlewares with other options ---------------------------------------


def test_a_nested_asgi_middleware_with_other_options_passes_through_and_says_so(
    genai_logs: pytest.LogCaptureFixture,
) -> None:
    """A sub-application with its own options under an outer middleware (a
    Starlette Mount, say): the outer one's options decide, once logged."""
    inner = GenAISessionMiddleware(echo_asgi, cookie_mapping={"sid": "session_id"})
    outer = GenAISessionMiddleware(inner)
    request = RawRequest(headers=((b"cookie", b"sid=from-cookie"), (b"x-user-id", b"u1")))
    for _ in range(3):
        assert run_asgi(outer, request).session == (None, "u1", None)
    warnings = [r.getMessage() for r in genai_logs.records if r.levelno >= logging.WARNING]
    assert warnings == [NESTED_OPTIONS_DIFFER % ("GenAISessionMiddleware", "cookie_mapping")]


def test_a_nested_wsgi_middleware_with_other_options_says_so(
    genai_logs: pytest.LogCaptureFixture,
) -> None:
    inner = SessionWSGIMiddleware(echo_wsgi, header_mapping={"X-Conversation": "session_id"})
    outer = SessionWSGIMiddleware(inner, **OPTIONS)
    request = RawRequest(headers=((b"x-session-id", b"s1"),))
    for _ in range(3):
        assert run_wsgi(outer, request.environ()).session == ("s1", None, None)
    warnings = [r.getMessage() for r in genai_logs.records if r.levelno >= logging.WARNING]
    assert warnings == [
        NESTED_OPTIONS_DIFFER
        % (
            "SessionWSGIMiddleware",
            "header_mapping, cookie_mapping, query_mapping, body_mapping, baggage_mapping",
        )
    ]


@PROTOCOLS
def test_a_nested_middleware_with_the_same_options_is_silent(
    protocol: str, genai_logs: pytest.LogCaptureFixture
) -> None:
    """Wrapped twice the same way (by the user and by a framework, say)."""
    request = RawRequest(headers=((b"x-session-id", b"s1"),))
    if protocol == "asgi":
        twice: Any = GenAISessionMiddleware(GenAISessionMiddleware(echo_asgi, **OPTIONS), **OPTIONS)
        outcome = run_asgi(twice, request)
    else:
        twice = SessionWSGIMiddleware(SessionWSGIMiddleware(echo_wsgi, **OPTIONS), **OPTIONS)
        outcome = run_wsgi(twice, request.environ())
    assert outcome.session == ("s1", None, None)
    assert [r for r in genai_logs.records if r.levelno >= logging.WARNING] == []
