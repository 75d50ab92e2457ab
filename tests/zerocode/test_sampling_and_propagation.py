"""The sampler and the propagator from the environment, with the zero-code middleware.

``OTEL_TRACES_SAMPLER=parentbased_genai_session_ratio``: the instrumentor's
middleware runs outside FastAPIInstrumentor's, so the server span (a root)
starts inside the session and the sampler keeps or drops whole sessions
(``th`` and the session's ``rv`` in its tracestate), not one trace in two.
``OTEL_PROPAGATORS=tracecontext,baggage,genai_session``: the ids ride the
httpx call to a second service, which reads them with
``OTEL_GENAI_SESSION_BAGGAGE_MAPPING``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sampling._support import expected_kept, rv_hex

from .layouts import needs_cli
from .receiver import Receiver
from .serving import FASTAPI, FLASK, App, Session, request_sessions, serve, where

pytestmark = [needs_cli, pytest.mark.servers]

SESSIONS: list[Session] = [(f"conv-{index}", f"user-{index}", "acme") for index in range(24)]


@pytest.mark.parametrize("layout", ["cli", "operator"])
def test_the_sampler_keeps_or_drops_whole_sessions(
    layout: str, receiver: Receiver, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {
        **receiver.environment("sampled"),
        "OTEL_TRACES_SAMPLER": "parentbased_genai_session_ratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.5",
    }
    kept = {session for session in SESSIONS if expected_kept(str(session[0]), 0.5)}
    assert 0 < len(kept) < len(SESSIONS)
    with serve(FASTAPI, where(layout, request), env, tmp_path) as server:
        request_sessions(server.base_url, [*SESSIONS, *SESSIONS])  # two traces per session
        servers = receiver.wait_for_spans(lambda span: span.kind == "SERVER", 2 * len(kept))
        log = server.log()

    per_session: dict[Session, int] = {}
    for span in receiver.spans():
        per_session[span.session()] = per_session.get(span.session(), 0) + 1
    assert set(per_session) == kept, log  # every span of a kept session, none of the others
    assert len({count for count in per_session.values()}) == 1  # the same spans for each
    assert len(servers) == 2 * len(kept)
    for span in servers:  # the root: decided by the sampler with the session in effect
        assert span.parent_id == ""
        assert span.trace_state == f"ot=th:8;rv:{rv_hex(span.attributes['session.id'])}"


@pytest.mark.parametrize("layout", ["cli", "operator"])
@pytest.mark.parametrize("upstream", [FASTAPI, FLASK], ids=["fastapi", "flask"])
def test_the_propagator_carries_the_ids_to_the_next_service(
    upstream: App, layout: str, receiver: Receiver, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    place = where(layout, request)
    propagators = {"OTEL_PROPAGATORS": "tracecontext,baggage,genai_session"}
    downstream_env = {
        **receiver.environment("downstream"),
        **propagators,
        "OTEL_GENAI_SESSION_BAGGAGE_MAPPING": (
            "session.id=session_id,user.id=user_id,customer.id=customer_id"
        ),
    }
    sessions: list[Session] = [("conv-a", "alice", "acme"), ("conv-b", "bob", "globex")]
    with serve(FASTAPI, place, downstream_env, tmp_path / "downstream") as downstream:
        upstream_env = {
            **receiver.environment("upstream"),
            **propagators,
            "DOWNSTREAM_URL": downstream.base_url,
        }
        with serve(upstream, place, upstream_env, tmp_path / "upstream") as server:
            request_sessions(server.base_url, sessions)
            receiver.wait_for_spans(lambda s: s.kind == "SERVER", 2 * len(sessions))
            log = server.log() + downstream.log()

    spans = receiver.spans()
    for session in sessions:
        mine = [span for span in spans if span.session() == session]
        (trace_id,) = {span.trace_id for span in mine}  # one trace across both services
        assert {span.service for span in mine} == {"upstream", "downstream"}, log
        assert {(span.service, span.kind) for span in mine} >= {
            ("upstream", "SERVER"),
            ("upstream", "CLIENT"),
            ("downstream", "SERVER"),
            ("downstream", "INTERNAL"),
        }, log
        assert all(span.session() == session for span in spans if span.trace_id == trace_id)
