"""The runs in flight: parent, ids and span of each LangChain run, keyed by run id.

LangChain identifies a run's parent by ``parent_run_id`` only; it may call
back in worker threads, in copies of the context or (a bare thread) in an
empty one. So each run's span is started with its parent's span context
explicitly, and the ids it resolved at start are kept for its children.
Nothing here changes the ambient OpenTelemetry context.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_genai_session.langchain._ids import Ids, MetadataIds
from otel_genai_session.session import get_session_context

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from otel_genai_session.handler import TelemetryHandler
    from otel_genai_session.types import GenAIInvocation

__all__ = ["HIDDEN_TAG", "Run", "RunTable"]

HIDDEN_TAG: Final = "langsmith:hidden"
"""Tag LangChain and LangGraph put on internal runs; those (and their subtree) get no span."""

# LangGraph's interrupt() and Command(graph=PARENT) travel as exceptions deriving
# from this class: control flow, not failures.
_CONTROL_FLOW: Final = "GraphBubbleUp"


class Run:
    """What a started run leaves for its end and its children."""

    __slots__ = ("context", "ids", "invocation", "traced")

    def __init__(
        self, invocation: GenAIInvocation | None, context: Context, ids: Ids, traced: bool
    ) -> None:
        self.invocation = invocation  # None: a hidden run, no span
        self.context = context  # the parent context of the run's children
        self.ids = ids  # session ids resolved at start, inherited by children
        self.traced = traced  # this run or an ancestor has a span


class RunTable:
    """Starts and ends the span of each run, and remembers the runs in flight.

    Args:
        telemetry: makes the spans.
        metadata_ids: reads ids from a run's metadata.
    """

    __slots__ = ("_metadata_ids", "_runs", "_telemetry")

    def __init__(self, telemetry: TelemetryHandler, metadata_ids: MetadataIds) -> None:
        self._telemetry = telemetry
        self._metadata_ids = metadata_ids
        # Plain dict: single get/set/pop calls are atomic, and callbacks of one
        # tree may run in several threads at once (batch, ToolNode).
        self._runs: dict[UUID, Run] = {}

    def __len__(self) -> int:
        return len(self._runs)

    def begin(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: Mapping[str, Any] | None,
    ) -> tuple[Run | None, Ids] | None:
        """The parent and the ids of a starting run, or None (the run recorded as
        hidden) when it is tagged hidden.

        A parent this table never saw (the handler was added below the top of the
        tree) counts as none: the span then hangs off the ambient context.
        """
        parent = None if parent_run_id is None else self._runs.get(parent_run_id)
        ids = self._ids(parent, metadata)
        if tags and HIDDEN_TAG in tags:
            context = parent.context if parent is not None else otel_context.get_current()
            self._runs[run_id] = Run(None, context, ids, parent is not None and parent.traced)
            return None
        return parent, ids

    def start(
        self, run_id: UUID, parent: Run | None, invocation: GenAIInvocation, ids: Ids
    ) -> None:
        """Start ``invocation``'s span as a child of ``parent``'s (or of the ambient span)."""
        parent_context = parent.context if parent is not None else otel_context.get_current()
        # TelemetryHandler.start makes the span current; doing that in a throwaway
        # copy of the context leaves the caller's context as it was.
        contextvars.copy_context().run(_start_span, self._telemetry, invocation, parent_context)
        span = invocation.span
        context = (
            parent_context if span is None else trace.set_span_in_context(span, parent_context)
        )
        self._runs[run_id] = Run(invocation, context, ids, True)

    def invocation(self, run_id: UUID) -> GenAIInvocation | None:
        """The invocation of a run in flight; None if unknown or hidden."""
        run = self._runs.get(run_id)
        return None if run is None else run.invocation

    def pop(self, run_id: UUID) -> GenAIInvocation | None:
        """Forget a run; its invocation, to :meth:`finish`, unless unknown or hidden."""
        run = self._runs.pop(run_id, None)
        return None if run is None else run.invocation

    def finish(self, invocation: GenAIInvocation, error: BaseException | None) -> None:
        """End the span: failed for an error, except LangGraph's control-flow ones."""
        if error is None or _is_control_flow(error):
            self._telemetry.stop(invocation)
        else:
            self._telemetry.fail(invocation, error)

    def end(self, run_id: UUID, error: BaseException | None = None) -> None:
        """:meth:`pop` then :meth:`finish`."""
        invocation = self.pop(run_id)
        if invocation is not None:
            self.finish(invocation, error)

    def _ids(self, parent: Run | None, metadata: Mapping[str, Any] | None) -> Ids:
        """Per field: the session in effect, the parent's ids, then the metadata."""
        session = get_session_context()
        ids: Ids = (session.session_id, session.user_id, session.customer_id)
        if parent is not None and None in ids:
            inherited = parent.ids
            ids = (
                inherited[0] if ids[0] is None else ids[0],
                inherited[1] if ids[1] is None else ids[1],
                inherited[2] if ids[2] is None else ids[2],
            )
        if None in ids:
            ids = self._metadata_ids.fill(ids, metadata)
        return ids


def _start_span(
    telemetry: TelemetryHandler, invocation: GenAIInvocation, parent_context: Context
) -> None:
    otel_context.attach(parent_context)
    telemetry.start(invocation)
    invocation.context_token = None  # a token of the throwaway context: nothing to detach


def _is_control_flow(error: BaseException) -> bool:
    return any(cls.__name__ == _CONTROL_FLOW for cls in type(error).__mro__)
