"""Two real services, each its own process under uvicorn, calling each other over
HTTP with the session in headers: they keep and drop the same sessions.

Without trace context between them, the second service's server span is a root
and it decides on its own, from the session id its ``GenAISessionMiddleware``
read; with trace context, it follows its parent, and the ``ot`` tracestate
(the same ``th`` and ``rv``) reaches it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ._support import Service, expected_kept, expected_tracestate, running_service

pytestmark = pytest.mark.servers

RATIO = 0.5  # half the sessions each way, so both outcomes are well represented


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service]]:
    directory: Path = tmp_path_factory.mktemp("services")
    with running_service(directory, "back", ["--ratio", str(RATIO)]) as back:
        front_arguments = ["--ratio", str(RATIO), "--downstream", back.url]
        with running_service(directory, "front", front_arguments) as front:
            yield front, back


def _play(front: Service, prefix: str, propagate: bool) -> dict[str, int]:
    """Sessions of 1-3 turns each, sent to the front service; turns per session."""
    turns = {f"{prefix}-{index:03d}": 1 + index % 3 for index in range(48)}
    with httpx.Client(base_url=front.url, timeout=30, trust_env=False) as client:
        for session_id, count in turns.items():
            for _ in range(count):
                response = client.get(
                    "/turn",
                    params={"propagate": "1" if propagate else "0"},
                    headers={"X-Session-ID": session_id, "X-Tenant-ID": "acme"},
                )
                assert response.status_code == 200, response.text
                assert response.json()["session"] == session_id
    return turns


def _server_spans(service: Service, prefix: str, count: int) -> list[dict[str, object]]:
    def keep(span: dict[str, object]) -> bool:
        session_id = span["attributes"].get("session.id", "")  # type: ignore[attr-defined]
        return span["kind"] == "SERVER" and str(session_id).startswith(prefix)

    return service.spans_until(keep, count)


@pytest.mark.parametrize("propagate", [False, True], ids=["own-decision", "trace-context"])
def test_both_services_keep_the_same_whole_sessions(
    services: tuple[Service, Service], propagate: bool
) -> None:
    front, back = services
    prefix = "ctx" if propagate else "own"
    turns = _play(front, prefix, propagate)
    expected = {session for session in turns if expected_kept(session, RATIO)}
    assert 0 < len(expected) < len(turns)  # both kept and dropped sessions are exercised
    kept_turns = sum(turns[session] for session in expected)

    front_spans = _server_spans(front, prefix, kept_turns)
    back_spans = _server_spans(back, prefix, kept_turns)
    for spans in (front_spans, back_spans):
        per_session = Counter(str(span["attributes"]["session.id"]) for span in spans)  # type: ignore[index]
        # every turn of a kept session, none of a dropped one: no session partly kept
        assert per_session == {session: turns[session] for session in expected}
        for span in spans:
            session_id = str(span["attributes"]["session.id"])  # type: ignore[index]
            assert span["tracestate"] == expected_tracestate(session_id, RATIO)

    front_traces = {span["trace_id"] for span in front_spans}
    back_traces = {span["trace_id"] for span in back_spans}
    if propagate:  # one trace across both services, the back span a child of the front's
        assert back_traces == front_traces
        assert all(span["parent_id"] is not None for span in back_spans)
    else:  # separate traces: the back service decided its roots itself, alike
        assert back_traces.isdisjoint(front_traces)
        assert all(span["parent_id"] is None for span in back_spans)
