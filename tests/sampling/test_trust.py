"""Who decides a session's fate (issue 22, cases 1-3): a client's trace context
and tenant header, through the documented set-up and the real SDK.

``GenAISessionMiddleware(OpenTelemetryMiddleware(app))`` serves 20 requests per
case through httpx's ASGI transport; what counts is what the in-memory
exporter receives: which server spans, with which ``tracestate``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import SpanKind

from otel_genai_session import _validation
from otel_genai_session._tenant_trust import TENANT_FROM_CLIENT
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.sampling import ParentBasedSessionRatioSampler, SessionRatioSampler

from ._support import expected_kept, rv_hex

RATIO = 0.1
REQUESTS = 20
KEPT = next(f"kept-{i}" for i in range(1000) if expected_kept(f"kept-{i}", RATIO))
DROPPED = next(f"dropped-{i}" for i in range(1000) if not expected_kept(f"dropped-{i}", RATIO))
CLIENT_OT = "th:0;rv:00000000000000"  # "kept with probability 1", randomness 0


async def _endpoint(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


class Service:
    """The documented set-up: our middleware outside OpenTelemetry's."""

    def __init__(self, sampler: Sampler, **options: Any) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(SessionSpanProcessor())
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.app = GenAISessionMiddleware(
            OpenTelemetryMiddleware(_endpoint, tracer_provider=provider), **options
        )

    def send(self, headers_of: Any, count: int = REQUESTS) -> None:
        async def run() -> None:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                for index in range(count):
                    response = await client.get("/chat", headers=headers_of(index))
                    assert response.status_code == 200

        asyncio.run(run())

    def server_spans(self) -> list[Any]:
        spans = self.exporter.get_finished_spans()
        return [span for span in spans if span.kind is SpanKind.SERVER]


def _traceparent(index: int, sampled: bool) -> str:
    return f"00-{index + 1:032x}-{index + 1:016x}-{'01' if sampled else '00'}"


# -- case 1: the client's traceparent and tracestate ---------------------------------


@pytest.mark.parametrize(
    ("session_id", "client_sampled", "kept"),
    [
        pytest.param(DROPPED, True, 0, id="dropped-session-sent-as-sampled"),
        pytest.param(KEPT, False, REQUESTS, id="kept-session-sent-as-not-sampled"),
    ],
)
def test_the_edge_sampler_decides_from_the_session_whatever_the_client_sampled_flag(
    session_id: str, client_sampled: bool, kept: int
) -> None:
    service = Service(SessionRatioSampler(RATIO))
    service.send(
        lambda i: {
            "x-session-id": session_id,
            "traceparent": _traceparent(i, client_sampled),
            "tracestate": f"ot={CLIENT_OT},vendor=keep-me",
        }
    )
    spans = service.server_spans()
    assert len(spans) == kept
    for span in spans:  # the session's own th and rv replace the client's
        state = span.context.trace_state
        assert state.get("ot") == f"th:e666;rv:{rv_hex(session_id)}"
        assert state.get("vendor") == "keep-me"


def test_a_generated_session_id_is_not_overridden_by_the_client_traceparent() -> None:
    service = Service(SessionRatioSampler(RATIO), generate_session_id=lambda: DROPPED)
    service.send(lambda i: {"traceparent": _traceparent(i, True), "tracestate": f"ot={CLIENT_OT}"})
    assert service.server_spans() == []


def test_with_no_session_the_client_rv_is_not_the_randomness() -> None:
    """Trace ids 1..20 have tiny randomness: dropped at 10%, whatever ``rv:ff..`` says."""
    service = Service(SessionRatioSampler(RATIO), header_mapping={})
    service.send(
        lambda i: {"traceparent": _traceparent(i, True), "tracestate": "ot=rv:ffffffffffffff"}
    )
    assert service.server_spans() == []


def test_the_parent_based_sampler_still_follows_its_parent_for_internal_services() -> None:
    """``ParentBasedSessionRatioSampler`` keeps OpenTelemetry's rules, by design."""
    service = Service(ParentBasedSessionRatioSampler(RATIO))
    service.send(lambda i: {"x-session-id": DROPPED, "traceparent": _traceparent(i, True)})
    assert len(service.server_spans()) == REQUESTS


# -- case 2: the delegate set-up and an ot value at the length limit -------------------


def _delegating() -> ParentBasedSessionRatioSampler:
    edge = SessionRatioSampler(RATIO)
    return ParentBasedSessionRatioSampler(
        RATIO, remote_parent_sampled=edge, remote_parent_not_sampled=edge
    )


def test_the_delegate_never_forwards_the_client_rv() -> None:
    service = Service(_delegating())
    service.send(
        lambda i: {
            "x-session-id": KEPT,
            "traceparent": _traceparent(i, False),
            "tracestate": "ot=rv:00000000000001",
        }
    )
    spans = service.server_spans()
    assert len(spans) == REQUESTS
    assert {span.context.trace_state.get("ot") for span in spans} == {f"th:e666;rv:{rv_hex(KEPT)}"}


@pytest.mark.parametrize("length", [254, 255, 256])
def test_an_ot_value_at_the_limit_is_removed_not_kept_and_never_logged(
    length: int, caplog: pytest.LogCaptureFixture
) -> None:
    # The client knows the session id, so its rv; ours is 3 characters longer.
    client_ot = f"th:0;rv:{rv_hex(KEPT)};zz:" + "q" * (length - 26)
    assert len(client_ot) == length
    service = Service(_delegating())
    with caplog.at_level(logging.DEBUG):
        service.send(
            lambda i: {
                "x-session-id": KEPT,
                "traceparent": _traceparent(i, True),
                "tracestate": f"ot={client_ot},vendor=v",
            }
        )
    spans = service.server_spans()
    assert len(spans) == REQUESTS
    for span in spans:
        assert "ot" not in span.context.trace_state  # not the client's th:0
        assert span.context.trace_state.get("vendor") == "v"
    assert "qqqq" not in caplog.text


# -- case 3: a tenant that picks its own ratio ---------------------------------------


@pytest.fixture
def fresh_warnings() -> None:
    _validation._reported.clear()


@pytest.mark.usefixtures("fresh_warnings")
@pytest.mark.parametrize("sampler_first", [True, False])
def test_tenant_ratios_with_a_client_tenant_header_warn_once_at_start_up(
    sampler_first: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        if sampler_first:
            service = Service(ParentBasedSessionRatioSampler(0.01, customer_ratios={"acme": 1.0}))
            Service(SessionRatioSampler(0.01, customer_ratios={"acme": 1.0}))
        else:
            GenAISessionMiddleware(_endpoint)
            service = Service(ParentBasedSessionRatioSampler(0.01, customer_ratios={"acme": 1.0}))
        service.send(lambda i: {"x-session-id": f"s-{i}", "x-tenant-id": "acme"})
    warnings = [r.getMessage() for r in caplog.records if "customer_ratios" in r.getMessage()]
    assert len(warnings) == 1  # once, whichever was built first
    assert warnings[0].startswith(TENANT_FROM_CLIENT.partition("%s")[0])
    assert "header 'x-tenant-id'" in warnings[0] and "header 'x-customer-id'" in warnings[0]
    assert "acme" not in warnings[0]
    assert len(service.server_spans()) == REQUESTS  # what the warning is about


@pytest.mark.usefixtures("fresh_warnings")
def test_a_tenant_from_extract_only_gives_no_warning_and_the_header_no_ratio(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        service = Service(
            ParentBasedSessionRatioSampler(0.01, customer_ratios={"acme": 1.0}),
            header_mapping={"X-Session-ID": "session_id"},
            extract=lambda scope: {"customer_id": "globex"},
        )
        service.send(lambda i: {"x-session-id": DROPPED, "x-tenant-id": "acme"})
    assert not [r for r in caplog.records if "customer_ratios" in r.getMessage()]
    assert service.server_spans() == []
