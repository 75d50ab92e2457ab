"""TelemetryHandler: turns GenAI invocations into spans and metrics.

One span per invocation, named and attributed as the OpenTelemetry GenAI
semantic conventions say, made current while it runs so that nested
invocations (and HTTP client spans) become its children. Stops may come out of
order, or from another task than the start (a streamed body): each leaves the
context as if the stopped span had never been current there. The session ids
are passed to ``start_span(attributes=...)`` so samplers and other processors'
``on_start`` already see them.

Usage::

    from otel_genai_session import get_telemetry_handler, session_context
    from otel_genai_session.types import LLMInvocation

    handler = get_telemetry_handler()
    with session_context(session_id="conv-123", user_id="user-456"):
        with handler.llm(LLMInvocation(request_model="gpt-4o", provider="openai")) as inv:
            inv.output_tokens = call_model(...)

The session functions (:func:`session_context`, :func:`set_session_context`,
...) are re-exported here, where the session-context spec places them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv._incubating.metrics.gen_ai_metrics import (
    GEN_AI_CLIENT_OPERATION_DURATION,
    GEN_AI_CLIENT_TOKEN_USAGE,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import Status, StatusCode

from otel_genai_session._conversation import conversation_option
from otel_genai_session._properties import is_property_key, property_attributes
from otel_genai_session._store import _current
from otel_genai_session._validation import warn_once
from otel_genai_session.attributes import (
    PROPERTY_PREFIX,
    SESSION_ATTRIBUTE_KEYS,
    USER_HASH,
    USER_ID,
)
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_SESSION_METRIC_ATTRIBUTES,
)
from otel_genai_session.handler._current_span import CurrentSpan, make_current, stop_being_current
from otel_genai_session.splunk_context import apply_genai_context, in_genai_context
from otel_genai_session.types import GenAIInvocation, LLMInvocation, _ModelCall
from otel_genai_session.version import __version__

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

__all__ = ["TelemetryHandler", "get_telemetry_handler"]

_I = TypeVar("_I", bound=GenAIInvocation)

# Bucket boundaries the GenAI metric conventions recommend.
_DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
_METRIC_KEYS: Final = (
    gen_ai.GEN_AI_OPERATION_NAME,
    gen_ai.GEN_AI_PROVIDER_NAME,
    gen_ai.GEN_AI_REQUEST_MODEL,
    gen_ai.GEN_AI_RESPONSE_MODEL,
    "server.address",
    "server.port",
)
_UNSET: Final = object()
STOP_WITHOUT_START: Final = "%s called for an invocation that was not started; ignored"


class TelemetryHandler:
    """Emits a span (and GenAI client metrics) for each invocation.

    Args:
        tracer_provider: where spans go; the global provider when None.
        meter_provider: where metrics go; the global provider when None.
        conversation_id_from_session: mirror the session id into
            ``gen_ai.conversation.id`` when an invocation gives none. Defaults
            to ``OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION``
            (``true``), which ``SessionSpanProcessor`` and
            ``SessionLogRecordProcessor`` read too, for the GenAI spans and
            events of other instrumentations.
        session_metric_attributes: session attributes (``customer.id``, ...)
            to add to metrics; ``user.id`` and ``user.hash`` both mean the
            user key the session exports (``user.hash`` when hashing is on);
            a property is named by its attribute (``PROPERTY_PREFIX + key``,
            e.g. ``otel_genai_session.property.experiment``). Defaults to
            ``OTEL_INSTRUMENTATION_GENAI_SESSION_METRIC_ATTRIBUTES``, empty:
            ids are unbounded and would explode metric cardinality.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        conversation_id_from_session: bool | None = None,
        session_metric_attributes: Iterable[str] | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(__name__, __version__, tracer_provider)
        meter = metrics.get_meter(__name__, __version__, meter_provider)
        self._duration = meter.create_histogram(
            GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self._token_usage = meter.create_histogram(
            GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(_TOKEN_BUCKETS),
        )
        self._conversation_from_session = conversation_option(
            conversation_id_from_session, "TelemetryHandler"
        )
        self._metric_session_keys = _metric_session_keys(session_metric_attributes)
        self._metric_property_keys = any(
            key.startswith(PROPERTY_PREFIX) for key in self._metric_session_keys
        )

    # -- generic forms -------------------------------------------------------

    def start(self, invocation: _I) -> _I:
        """Start the invocation's span and make it current until it stops.

        Inside a :func:`~otel_genai_session.splunk_context.genai_context` (or
        after ``set_genai_context``), the invocation first gets that context
        as Splunk's handler gives it
        (:func:`~otel_genai_session.splunk_context.apply_genai_context`).
        """
        invocation.resolve_session()
        if in_genai_context():
            apply_genai_context(invocation)
        parent = otel_context.get_current()
        attributes = self._span_attributes(invocation)
        properties = _current.get().properties
        if properties:  # the session's properties, as SessionSpanProcessor would add them
            for key, value in property_attributes(properties).items():
                attributes.setdefault(key, value)
        span = self._tracer.start_span(
            invocation.span_name, context=parent, kind=invocation.span_kind, attributes=attributes
        )
        current = make_current(span, parent)
        invocation.start_attributes = attributes
        invocation.span = current
        invocation.parent_context = parent
        invocation.start_time_ns = time.monotonic_ns()
        invocation.context_token = current.token
        return invocation

    def stop(self, invocation: _I) -> _I:
        """End the span with the response fields now set on the invocation."""
        return self._end(invocation, None)

    def fail(self, invocation: _I, error: BaseException) -> _I:
        """End the span as failed: ``error.type``, ERROR status, exception event."""
        return self._end(invocation, error)

    @contextmanager
    def invocation(self, invocation: _I) -> Iterator[_I]:
        """Start on entry; stop on exit, or fail if the block raises."""
        self.start(invocation)
        try:
            yield invocation
        except BaseException as error:
            self.fail(invocation, error)
            raise
        self.stop(invocation)

    # -- named forms, one per invocation type --------------------------------

    start_llm = start_embedding = start_retrieval = start
    start_tool_call = start_agent = start_workflow = start_step = start
    stop_llm = stop_embedding = stop_retrieval = stop
    stop_tool_call = stop_agent = stop_workflow = stop_step = stop
    fail_llm = fail_embedding = fail_retrieval = fail
    fail_tool_call = fail_agent = fail_workflow = fail_step = fail
    llm = embedding = retrieval = invocation
    tool_call = agent = workflow = step = invocation

    # -- internals -----------------------------------------------------------

    def _span_attributes(self, invocation: GenAIInvocation) -> dict[str, AttributeValue]:
        attributes = invocation.semantic_convention_attributes()
        if (
            self._conversation_from_session
            and invocation.session_id is not None
            and gen_ai.GEN_AI_CONVERSATION_ID not in attributes
        ):
            attributes[gen_ai.GEN_AI_CONVERSATION_ID] = invocation.session_id
        attributes.update(invocation.attributes)
        return attributes

    def _end(self, invocation: _I, error: BaseException | None) -> _I:
        current, started = invocation.span, invocation.start_time_ns
        if current is None or started is None:
            warn_once(STOP_WITHOUT_START, "fail" if error else "stop")
            return invocation
        span = current.span if type(current) is CurrentSpan else current
        duration = (time.monotonic_ns() - started) / 1e9
        attributes = self._span_attributes(invocation)
        if error is not None:
            attributes[ERROR_TYPE] = type(error).__qualname__
            span.set_status(Status(StatusCode.ERROR, str(error) or None))
            span.record_exception(error)
        started_with = invocation.start_attributes
        changed = {k: v for k, v in attributes.items() if started_with.get(k, _UNSET) != v}
        if changed:  # the response fields, mostly: the rest went in at start
            span.set_attributes(changed)
        span.end()
        invocation.span = None
        invocation.context_token = None
        if type(current) is CurrentSpan:  # not isinstance: Span is an ABC, slow to check
            stop_being_current(current)
        if self._metric_property_keys:  # properties were captured at start
            attributes = {**started_with, **attributes}
        self._record_metrics(invocation, attributes, duration)
        return invocation

    def _record_metrics(
        self,
        invocation: GenAIInvocation,
        span_attributes: dict[str, AttributeValue],
        duration: float,
    ) -> None:
        if not isinstance(invocation, _ModelCall):
            return
        attributes = {
            key: span_attributes[key]
            for key in (*_METRIC_KEYS, *self._metric_session_keys, ERROR_TYPE)
            if key in span_attributes
        }
        self._duration.record(duration, attributes)
        output_tokens = invocation.output_tokens if isinstance(invocation, LLMInvocation) else None
        for token_type, count in (("input", invocation.input_tokens), ("output", output_tokens)):
            if count is not None:
                self._token_usage.record(
                    count, {**attributes, gen_ai.GEN_AI_TOKEN_TYPE: token_type}
                )


def _metric_session_keys(names: Iterable[str] | None) -> tuple[str, ...]:
    if names is None:
        raw = os.environ.get(OTEL_INSTRUMENTATION_GENAI_SESSION_METRIC_ATTRIBUTES, "")
        names = [name.strip() for name in raw.split(",") if name.strip()]
    elif isinstance(names, str):
        raise TypeError(
            f"session_metric_attributes must be an iterable of attribute names, not {names!r}"
        )
    keys = tuple(names)
    allowed = (*SESSION_ATTRIBUTE_KEYS, USER_HASH)
    unknown = [
        key
        for key in keys
        if key not in allowed
        and not (
            isinstance(key, str)
            and key.startswith(PROPERTY_PREFIX)
            and is_property_key(key[len(PROPERTY_PREFIX) :])
        )
    ]
    if unknown:
        raise ValueError(
            f"session_metric_attributes: unknown attribute(s) {unknown!r}; "
            f"choose from {list(allowed)!r} or a property's {PROPERTY_PREFIX}<key>"
        )
    # "user.id" and "user.hash" both mean the user key the session exports:
    # user.hash when hashing is on, so a metric never carries a raw id then.
    expanded: list[str] = []
    for key in keys:
        for name in (USER_ID, USER_HASH) if key in (USER_ID, USER_HASH) else (key,):
            if name not in expanded:
                expanded.append(name)
    return tuple(expanded)


_handler: TelemetryHandler | None = None
_handler_lock = threading.Lock()


def get_telemetry_handler(
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> TelemetryHandler:
    """Return the process-wide handler, creating it on the first call.

    Providers only matter on that first call; by default the handler follows
    the global providers, also when they are set after it was created.
    """
    global _handler
    with _handler_lock:
        if _handler is None:
            _handler = TelemetryHandler(tracer_provider, meter_provider)
        elif tracer_provider is not None or meter_provider is not None:
            warn_once("get_telemetry_handler: the handler exists already; providers ignored")
        return _handler
