"""Who decides an id, and what reaches the logs (issue 13, items 5 and 6).

The ``baggage`` header is parsed by OpenTelemetry's propagator, which logs
rejected entries verbatim: through the middlewares, no client byte reaches a
log record, and each cause is logged once. The ``extract`` hook has the last
word on the fields it returns: a value of its that fails validation drops the
field, and the client's header does not get to decide it instead; a hook whose
mapping raises when read is logged once and ignored like any other hook error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from _hostile import (
    MARKER,
    RawRequest,
    echo_asgi,
    echo_wsgi,
    records_leaking,
    run_asgi,
    run_wsgi,
)

from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware
from otel_genai_session.middleware._sources import HOOK_RAISED

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


def test_someone_elses_propagator_logs_are_left_alone(
    genai_logs: pytest.LogCaptureFixture,
) -> None:
    """The filter holds back only the records of our own calls."""
    from opentelemetry.baggage.propagation import W3CBaggagePropagator

    run("asgi", RawRequest(headers=((b"baggage", b"a=\x1b"),)), **BAGGAGE_OPTIONS)
    W3CBaggagePropagator().extract({"baggage": "user.id=\xe9"})
    assert any("non-ASCII" in r.getMessage() and r.name.startswith("opentelemetry")
               for r in genai_logs.records)  # fmt: skip


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
