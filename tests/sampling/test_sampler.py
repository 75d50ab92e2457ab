"""SessionRatioSampler and ParentBasedSessionRatioSampler through the real SDK:
which spans are exported, and the ``ot`` tracestate they carry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from otel_genai_session import session_context
from otel_genai_session.environment_variables import OTEL_INSTRUMENTATION_GENAI_SESSION_ID
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.sampling import ParentBasedSessionRatioSampler, SessionRatioSampler

from ._support import expected_kept, expected_tracestate, rv_hex

RATIO = 0.1
# Session ids on each side of the 10% threshold (checked by the written-down hash).
KEPT = next(f"kept-{i}" for i in range(1000) if expected_kept(f"kept-{i}", RATIO))
DROPPED = next(f"dropped-{i}" for i in range(1000) if not expected_kept(f"dropped-{i}", RATIO))


class FixedTraceIds(IdGenerator):
    """Random span ids; trace ids whose last 56 bits (the randomness) are given."""

    def __init__(self) -> None:
        self.randomness = 0
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        return self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        return (0xABCDEF << 104) | self.randomness


class Telemetry:
    def __init__(self, sampler: Sampler) -> None:
        self.ids = FixedTraceIds()
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(sampler=sampler, id_generator=self.ids)
        self.provider.add_span_processor(SessionSpanProcessor())
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("sampling-tests")

    def trace(self, **attributes: str) -> trace.Span:
        """A root span with a child; returns the root."""
        with self.tracer.start_as_current_span("root", attributes=attributes or None) as root:
            self.tracer.start_span("child").end()
        return root

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def names(self) -> list[str]:
        return [span.name for span in self.spans()]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    telemetry = Telemetry(ParentBasedSessionRatioSampler(RATIO))
    yield telemetry
    telemetry.provider.shutdown()


def _header(span: trace.Span | ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return context.trace_state.to_header()


class TestRootDecisions:
    def test_a_kept_session_exports_every_span_with_th_and_rv(self, telemetry: Telemetry) -> None:
        with session_context(session_id=KEPT):
            telemetry.trace()
            telemetry.trace()
        assert telemetry.names() == ["child", "root", "child", "root"]
        for span in telemetry.spans():
            assert _header(span) == f"ot=th:e666;rv:{rv_hex(KEPT)}"
            assert span.attributes is not None and span.attributes["session.id"] == KEPT

    def test_a_dropped_session_exports_nothing_and_still_carries_rv(
        self, telemetry: Telemetry
    ) -> None:
        with session_context(session_id=DROPPED):
            root = telemetry.trace()
        assert telemetry.spans() == ()
        assert not root.get_span_context().trace_flags.sampled
        # rv reaches the next service, where a consistent sampler decides alike
        assert _header(root) == f"ot=rv:{rv_hex(DROPPED)}"

    def test_the_start_attributes_of_a_kept_span_are_kept(self, telemetry: Telemetry) -> None:
        with session_context(session_id=KEPT):
            telemetry.trace(**{"gen_ai.operation.name": "chat"})
        root = telemetry.spans()[-1]
        assert root.attributes is not None and root.attributes["gen_ai.operation.name"] == "chat"

    def test_a_session_id_start_attribute_decides_over_the_session_in_effect(
        self, telemetry: Telemetry
    ) -> None:
        with session_context(session_id=DROPPED):
            telemetry.trace(**{"session.id": KEPT})  # as TelemetryHandler starts its spans
        assert telemetry.names() == ["child", "root"]
        assert _header(telemetry.spans()[0]) == expected_tracestate(KEPT, RATIO)

    def test_the_environment_session_id_is_used_outside_sessions(
        self, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_SESSION_ID, KEPT)
        telemetry.trace()
        monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_SESSION_ID, DROPPED)
        telemetry.trace()
        assert [_header(span) for span in telemetry.spans()] == [
            expected_tracestate(KEPT, RATIO)
        ] * 2

    def test_concurrent_tasks_are_decided_by_their_own_session(self) -> None:
        telemetry = Telemetry(ParentBasedSessionRatioSampler(0.5))
        sessions = [f"task-{i}" for i in range(200)]

        async def conversation(session_id: str) -> None:
            with session_context(session_id=session_id):
                for _ in range(3):
                    with telemetry.tracer.start_as_current_span("turn"):
                        await asyncio.sleep(0)
                    await asyncio.sleep(0)

        async def main() -> None:
            await asyncio.gather(*(conversation(session) for session in sessions))

        asyncio.run(main())
        exported = [str((s.attributes or {})["session.id"]) for s in telemetry.spans()]
        kept = [session for session in sessions if expected_kept(session, 0.5)]
        assert sorted(exported) == sorted(kept * 3)


class TestWithoutSession:
    def test_the_trace_id_randomness_decides_at_the_same_ratio(self, telemetry: Telemetry) -> None:
        threshold = 0xE666 << 40
        for randomness in (threshold, threshold - 1, (1 << 56) - 1, 0):
            telemetry.ids.randomness = randomness
            telemetry.trace()
        kept = {span.context.trace_id & ((1 << 56) - 1) for span in telemetry.spans()}  # type: ignore[union-attr]
        assert kept == {threshold, (1 << 56) - 1}
        assert {_header(span) for span in telemetry.spans()} == {"ot=th:e666"}

    @pytest.mark.parametrize(("fallback", "exported"), [(ALWAYS_ON, 2), (ALWAYS_OFF, 0)])
    def test_a_configured_fallback_decides(self, fallback: Sampler, exported: int) -> None:
        telemetry = Telemetry(ParentBasedSessionRatioSampler(RATIO, fallback=fallback))
        telemetry.ids.randomness = 0  # dropped by the default fallback
        telemetry.trace()
        assert len(telemetry.spans()) == exported
        with session_context(session_id=DROPPED):  # sessions are not the fallback's
            telemetry.trace()
        assert len(telemetry.spans()) == exported


class TestParentBased:
    def _remote_parent(self, sampled: bool, state: str = "") -> otel_context.Context:
        parent = SpanContext(
            trace_id=0xABC << 64 | 0x11_2233_4455_6677,
            span_id=0xDEF,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
            trace_state=TraceState([("ot", state)]) if state else TraceState(),
        )
        return trace.set_span_in_context(NonRecordingSpan(parent))

    @pytest.mark.parametrize("sampled", [True, False])
    def test_a_remote_parent_is_followed_whatever_the_session(
        self, telemetry: Telemetry, sampled: bool
    ) -> None:
        parent = self._remote_parent(sampled, state="th:c;rv:11223344556677")
        with session_context(session_id=KEPT if not sampled else DROPPED):
            telemetry.tracer.start_span("server", context=parent).end()
        spans = telemetry.spans()
        assert len(spans) == int(sampled)
        if sampled:  # the parent's tracestate passes on unchanged
            assert _header(spans[0]) == "ot=th:c;rv:11223344556677"

    def test_a_local_parent_is_followed_when_the_session_changes_inside_its_trace(
        self, telemetry: Telemetry
    ) -> None:
        for outer, inner in ((KEPT, DROPPED), (DROPPED, KEPT)):
            with (
                session_context(session_id=outer),
                telemetry.tracer.start_as_current_span("root"),
                session_context(session_id=inner),
            ):
                telemetry.tracer.start_span("in another session").end()
        assert telemetry.names() == ["in another session", "root"]
        assert _header(telemetry.spans()[0]) == expected_tracestate(KEPT, RATIO)

    def test_delegates_are_configurable_like_the_sdk_parent_based(self) -> None:
        session_decides = SessionRatioSampler(RATIO)
        telemetry = Telemetry(
            ParentBasedSessionRatioSampler(
                RATIO,
                remote_parent_sampled=session_decides,
                remote_parent_not_sampled=session_decides,
            )
        )
        own_rv = rv_hex(KEPT)
        for sampled in (False, True):
            with session_context(session_id=KEPT):
                parent = self._remote_parent(sampled, state=f"rv:{own_rv}")
                telemetry.tracer.start_span("kept, rv agrees", context=parent).end()
                parent = self._remote_parent(sampled, state="th:0;rv:11223344556677")
                telemetry.tracer.start_span("kept, other rv", context=parent).end()
            with session_context(session_id=DROPPED):
                telemetry.tracer.start_span("dropped", context=parent).end()
        headers = {span.name: _header(span) for span in telemetry.spans()}
        assert len(telemetry.spans()) == 4
        # the session decides and its own th and rv replace the parent's
        assert headers == {
            "kept, rv agrees": f"ot=th:e666;rv:{own_rv}",
            "kept, other rv": f"ot=th:e666;rv:{own_rv}",
        }

    def test_the_description_names_the_session_root(self) -> None:
        sampler = ParentBasedSessionRatioSampler(0.25, customer_ratios={"acme": 1.0})
        description = sampler.get_description()
        assert description.startswith("ParentBased{root:SessionRatioSampler{0.25,customers=1}")


class TestRules:
    def test_customer_ratios_override_the_ratio_per_tenant(self) -> None:
        telemetry = Telemetry(
            ParentBasedSessionRatioSampler(RATIO, customer_ratios={"acme": 1.0, "globex": 0.0})
        )
        for tenant in ("acme", "globex", "initech"):
            for session_id in (KEPT, DROPPED):
                with session_context(session_id=session_id, customer_id=tenant):
                    telemetry.trace()
        roots = [span for span in telemetry.spans() if span.name == "root"]
        tenants = [((s.attributes or {})["customer.id"], _header(s)) for s in roots]
        assert tenants == [
            ("acme", f"ot=th:0;rv:{rv_hex(KEPT)}"),
            ("acme", f"ot=th:0;rv:{rv_hex(DROPPED)}"),
            ("initech", f"ot=th:e666;rv:{rv_hex(KEPT)}"),
        ]

    def test_customer_ratios_apply_to_spans_without_session_too(self) -> None:
        telemetry = Telemetry(ParentBasedSessionRatioSampler(RATIO, customer_ratios={"acme": 1}))
        telemetry.ids.randomness = 0
        with session_context(customer_id="acme"):
            telemetry.trace()
        assert [_header(span) for span in telemetry.spans()] == ["ot=th:0"] * 2

    def test_always_keep_keeps_the_sessions_the_app_marks(self) -> None:
        flagged: set[str] = set()
        telemetry = Telemetry(
            ParentBasedSessionRatioSampler(RATIO, always_keep=flagged.__contains__)
        )
        with session_context(session_id=DROPPED):
            telemetry.trace()
            flagged.add(DROPPED)  # e.g. the user reported the conversation
            telemetry.trace()
        assert [_header(span) for span in telemetry.spans()] == [
            f"ot=th:0;rv:{rv_hex(DROPPED)}"
        ] * 2

    def test_an_always_keep_that_raises_is_logged_once_and_the_ratio_decides(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        def broken(session_id: str) -> bool:
            raise LookupError(session_id)

        telemetry = Telemetry(ParentBasedSessionRatioSampler(RATIO, always_keep=broken))
        with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
            for session_id in (KEPT, DROPPED, KEPT):
                with session_context(session_id=session_id):
                    telemetry.trace()
        assert len(telemetry.spans()) == 4  # KEPT twice, by its ratio
        warnings = [r.getMessage() for r in caplog.records if "always_keep" in r.getMessage()]
        assert warnings == ["always_keep raised LookupError; the session was sampled by its ratio"]
        assert KEPT not in caplog.text and DROPPED not in caplog.text  # no ids in logs
