"""Session-consistent sampling: keep or drop whole conversations, in every service.

OpenTelemetry's ratio samplers decide per trace, so a conversation of twenty
requests sampled at 10% keeps about two of them. :class:`SessionRatioSampler`
decides a root span from the session in effect instead, so every trace of a
session is kept or none is, in every process and service that sees the same
session id, with nothing shared between them. The decision follows the
OpenTelemetry specification for consistent probability sampling: the session
gives the randomness ``rv``, the ratio the threshold ``th``, and both travel in
the W3C ``tracestate`` entry ``ot`` (``ot=th:e666;rv:3f0c...``), so backends
know the probability each kept span stands for, and downstream consistent
samplers (other SDKs, the Collector) keep deciding by session.
See docs/sampling.md for the hash specification.

Usage::

    from opentelemetry.sdk.trace import TracerProvider
    from otel_genai_session.sampling import ParentBasedSessionRatioSampler

    provider = TracerProvider(sampler=ParentBasedSessionRatioSampler(
        0.1,                                  # keep 10% of sessions...
        customer_ratios={"acme": 1.0},        # ...and every session of tenant acme
        always_keep=flagged.__contains__,     # ...and the sessions you flagged
    ))

or, with ``opentelemetry-instrument``, from the environment::

    OTEL_TRACES_SAMPLER=parentbased_genai_session_ratio OTEL_TRACES_SAMPLER_ARG=0.1

The session must be in effect when the root span starts: put
``GenAISessionMiddleware`` outside OpenTelemetry's server middleware. Needs
the OpenTelemetry SDK (``pip install 'otel-genai-session[sdk]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Final, TypedDict

try:
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF,
        ALWAYS_ON,
        Decision,
        ParentBased,
        Sampler,
        SamplingResult,
    )
except ImportError as error:  # the SDK is an extra; say which
    raise ImportError(
        "otel_genai_session.sampling needs the OpenTelemetry SDK: "
        "pip install 'otel-genai-session[sdk]'"
    ) from error
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceState, get_current_span
from opentelemetry.util.types import Attributes

from otel_genai_session._tenant_trust import note_tenant_ratios
from otel_genai_session._validation import DEFAULT_MAX_ID_LENGTH, logger, warn_once
from otel_genai_session.attributes import CUSTOMER_ID, SESSION_ID
from otel_genai_session.sampling._consistent_probability import (
    OT_KEY,
    RANDOMNESS_MASK,
    explicit_randomness,
    ot_value,
    ratio_to_threshold,
    replaced_trace_state,
    session_randomness,
)
from otel_genai_session.sampling._sampler_config import (
    check_always_keep,
    check_customer_ratios,
    check_ratio,
    check_sampler,
    parse_sampler_arg,
)
from otel_genai_session.session import env_ids_unset, get_session_context, resolve_session

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "ParentBasedSessionRatioSampler",
    "SessionRatioOptions",
    "SessionRatioSampler",
    "genai_session_ratio",
    "parentbased_genai_session_ratio",
    "ratio_to_threshold",
    "session_randomness",
]

ALWAYS_KEEP_FAILED: Final = "always_keep raised %s; the session was sampled by its ratio"

_Decided = tuple[Decision, TraceState | None]


class SessionRatioSampler(Sampler):
    """Keeps ``ratio`` of the sessions, all of a session's traces or none.

    A span's session id is its ``session.id`` start attribute, else the session
    in effect (environment variables filling a missing id, as for the span
    attributes). Kept when ``session_randomness(session_id) >= th``, ``th`` the
    threshold of the ratio that applies: 1 if ``always_keep(session_id)``, else
    the tenant's entry of ``customer_ratios`` (by ``customer.id``), else
    ``ratio``. Spans with no session id are decided by ``fallback``; by default
    by the same rules with the trace id's randomness (the specification's
    ``ProbabilitySampler``). Used as the root of :class:`ParentBasedSessionRatioSampler`
    (or of the SDK's ``ParentBased``), children follow their parent.

    The sampler for services that face untrusted clients (the provider's
    sampler, ``genai_session_ratio``): a span with a parent and a known session
    is decided from the session alone, whatever the parent's sampled flag, and
    its own ``ot`` ``th``/``rv`` replace the parent's (a client sets both in
    ``traceparent``/``tracestate``); other ``tracestate`` entries pass through.

    Args:
        ratio: share of sessions to keep, 0 to 1.
        customer_ratios: per-tenant ratios, e.g. ``{"acme": 1.0}``.
        always_keep: called with the session id; True keeps the session (a
            flagged conversation). Must be fast: it runs for every root span.
            Marking applies to the traces that start after it.
        fallback: the sampler of spans with no session id.

    Session ids from requests are client-controlled: a client can try ids
    until one is kept (or dropped). It gains no more than having its own
    requests traced, which ``ratio`` had meant to thin out.
    """

    def __init__(
        self,
        ratio: float,
        *,
        customer_ratios: Mapping[str, float] | None = None,
        always_keep: Callable[[str], bool] | None = None,
        fallback: Sampler | None = None,
    ) -> None:
        self._ratio = check_ratio("ratio", ratio)
        self._threshold = ratio_to_threshold(self._ratio)
        self._customer_thresholds = {
            customer: ratio_to_threshold(value)
            for customer, value in check_customer_ratios(customer_ratios).items()
        }
        self._always_keep = check_always_keep(always_keep)
        if self._customer_thresholds:
            note_tenant_ratios()  # warns if a middleware lets clients name the tenant
        self._fallback = None if fallback is None else check_sampler("fallback", fallback)
        # The results of no-session roots with the trace id's randomness, per threshold.
        self._by_trace_id = {
            threshold: _decided(threshold, None, sampled=True)
            for threshold in {self._threshold, *self._customer_thresholds.values()}
        }

    @property
    def ratio(self) -> float:
        return self._ratio

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        session_id, customer_id = _ids_at_start(attributes)
        if session_id is None and self._fallback is not None:
            return self._fallback.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        threshold = self._threshold_of(session_id, customer_id)
        parent = get_current_span(parent_context).get_span_context()
        if parent.is_valid:  # the provider's sampler, or a ParentBased delegate
            decision, state = _decided_under_parent(parent, session_id, threshold, trace_id)
        elif session_id is None:
            sampled = trace_id & RANDOMNESS_MASK >= threshold
            decision, state = self._by_trace_id[threshold] if sampled else _DROPPED
        elif len(session_id) <= DEFAULT_MAX_ID_LENGTH:  # cache only what a valid id can be
            decision, state = _decided_by_session(session_id, threshold)
        else:
            decision, state = _decided_by_session.__wrapped__(session_id, threshold)
        if decision is Decision.DROP:
            attributes = None
        return SamplingResult(decision, attributes, state)

    def _threshold_of(self, session_id: str | None, customer_id: str | None) -> int:
        if session_id is not None and self._always_keep is not None:
            try:
                if self._always_keep(session_id):
                    return 0
            except Exception as error:  # never break the caller's span creation
                warn_once(ALWAYS_KEEP_FAILED, type(error).__name__)
                logger.debug("always_keep failed", exc_info=True)
        if customer_id is not None and self._customer_thresholds:
            return self._customer_thresholds.get(customer_id, self._threshold)
        return self._threshold

    def get_description(self) -> str:
        details = [f"{self._ratio}"]
        if self._customer_thresholds:
            details.append(f"customers={len(self._customer_thresholds)}")
        if self._always_keep is not None:
            details.append("always_keep")
        if self._fallback is not None:
            details.append(f"fallback={self._fallback.get_description()}")
        return f"SessionRatioSampler{{{','.join(details)}}}"


class SessionRatioOptions(TypedDict, total=False):
    """:class:`SessionRatioSampler`'s keyword options, which
    :class:`ParentBasedSessionRatioSampler` passes on to its root."""

    customer_ratios: Mapping[str, float] | None
    always_keep: Callable[[str], bool] | None
    fallback: Sampler | None


class ParentBasedSessionRatioSampler(ParentBased):
    """The SDK's ``ParentBased`` with a :class:`SessionRatioSampler` as its root.

    Spans with a parent follow its sampled flag (tracestate passed on as is),
    unless other delegates are given, exactly as with ``ParentBased``: for
    internal services, whose callers you run (at an edge, a client's
    ``traceparent`` would decide; use :class:`SessionRatioSampler` there). This is
    ``parentbased_genai_session_ratio``.

    Args:
        ratio: share of sessions to keep, 0 to 1.
        remote_parent_sampled: the delegate for spans whose remote parent was
            sampled, as in ``ParentBased``.
        remote_parent_not_sampled: the delegate for spans whose remote parent
            was not sampled.
        local_parent_sampled: the delegate for spans whose local parent was
            sampled.
        local_parent_not_sampled: the delegate for spans whose local parent was
            not sampled.
        customer_ratios: per-tenant ratios, e.g. ``{"acme": 1.0}``.
        always_keep: called with the session id; True keeps the session (a
            flagged conversation). Must be fast: it runs for every root span.
        fallback: the sampler of root spans with no session id (by default the
            same ratio on the trace id).
    """

    def __init__(
        self,
        ratio: float,
        *,
        remote_parent_sampled: Sampler = ALWAYS_ON,
        remote_parent_not_sampled: Sampler = ALWAYS_OFF,
        local_parent_sampled: Sampler = ALWAYS_ON,
        local_parent_not_sampled: Sampler = ALWAYS_OFF,
        **root_options: Unpack[SessionRatioOptions],
    ) -> None:
        root = SessionRatioSampler(ratio, **root_options)
        super().__init__(
            root,
            remote_parent_sampled=check_sampler("remote_parent_sampled", remote_parent_sampled),
            remote_parent_not_sampled=check_sampler(
                "remote_parent_not_sampled", remote_parent_not_sampled
            ),
            local_parent_sampled=check_sampler("local_parent_sampled", local_parent_sampled),
            local_parent_not_sampled=check_sampler(
                "local_parent_not_sampled", local_parent_not_sampled
            ),
        )


def genai_session_ratio(argument: str | None) -> SessionRatioSampler:
    """``OTEL_TRACES_SAMPLER=genai_session_ratio``: the sampler from ``OTEL_TRACES_SAMPLER_ARG``.

    The argument is ``RATIO`` or ``RATIO,customer=RATIO,...`` (e.g.
    ``0.1,acme=1``); unset or empty means 1, as for the SDK's samplers.
    Raises ValueError naming the variable for anything else.
    """
    ratio, customer_ratios = parse_sampler_arg(argument)
    return SessionRatioSampler(ratio, customer_ratios=customer_ratios)


def parentbased_genai_session_ratio(argument: str | None) -> ParentBasedSessionRatioSampler:
    """``OTEL_TRACES_SAMPLER=parentbased_genai_session_ratio``; the argument as above."""
    ratio, customer_ratios = parse_sampler_arg(argument)
    return ParentBasedSessionRatioSampler(ratio, customer_ratios=customer_ratios)


def _ids_at_start(attributes: Attributes) -> tuple[str | None, str | None]:
    """The span's session and customer ids: its start attributes, else the session."""
    session = get_session_context()
    if (session.session_id is None or session.customer_id is None) and not env_ids_unset():
        session = resolve_session()  # environment variables fill the missing ids
    session_id, customer_id = session.session_id, session.customer_id
    if attributes:
        value = attributes.get(SESSION_ID)
        if type(value) is str and value:
            session_id = value
        value = attributes.get(CUSTOMER_ID)
        if type(value) is str and value:
            customer_id = value
    return session_id, customer_id


def _decided(threshold: int, randomness: int | None, sampled: bool) -> _Decided:
    value = ot_value(threshold if sampled else None, randomness)  # th only on kept spans
    decision = Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP
    return decision, TraceState([(OT_KEY, value)]) if value else None


_DROPPED: Final[_Decided] = (Decision.DROP, None)


@lru_cache(maxsize=1024)
def _decided_by_session(session_id: str, threshold: int) -> _Decided:
    """A root's decision and tracestate: a pure function, cached per live session.

    At most 1024 entries of ids of at most 200 characters (a few hundred KiB).
    """
    randomness = session_randomness(session_id)
    return _decided(threshold, randomness, sampled=randomness >= threshold)


def _decided_under_parent(
    parent: SpanContext, session_id: str | None, threshold: int, trace_id: int
) -> _Decided:
    """A span with a parent: decided as a root would be, the parent's ``ot`` replaced.

    A known session decides alone, whatever the parent's sampled flag and
    ``ot`` say (a client sets both in ``traceparent``/``tracestate``). With no
    session: a remote parent's randomness is the trace id's (a client's ``rv``
    is not taken), an in-process parent's ``rv`` is ours and is kept.
    """
    if session_id is not None:
        if len(session_id) <= DEFAULT_MAX_ID_LENGTH:
            decision, own = _decided_by_session(session_id, threshold)
        else:
            decision, own = _decided_by_session.__wrapped__(session_id, threshold)
        own_value = "" if own is None else own.get(OT_KEY, "")
    else:
        rv = None if parent.is_remote else explicit_randomness(parent.trace_state)
        sampled = (trace_id & RANDOMNESS_MASK if rv is None else rv) >= threshold
        decision = Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP
        own_value = ot_value(threshold if sampled else None, rv)
    return decision, replaced_trace_state(parent.trace_state, own_value)
