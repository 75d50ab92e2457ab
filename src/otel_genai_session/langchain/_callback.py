"""OpenTelemetryCallbackHandler: LangChain and LangGraph runs as GenAI spans with session ids.

Each LangChain run becomes one span through :class:`~..handler.TelemetryHandler`:
chat model and LLM runs -> ``LLMInvocation``, tool runs -> ``ToolCall``,
retriever runs -> ``RetrievalInvocation``, chains -> ``Workflow`` at the top
of a tree (a LangGraph graph, a ``RunnableSequence``), ``AgentInvocation``
when named as an agent, else ``Step`` (a graph node, a chain link).

Parents follow LangChain's ``run_id``/``parent_run_id`` (see ``_runs``). Ids,
per field: the session in effect when the run starts, then the ids its parent
run had, then the run's metadata (``session_id``, ``conversation_id``,
``thread_id``, ``user_id``, ``customer_id``), then the environment variables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypedDict
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import metrics, trace
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GenAiOperationNameValues,
)

from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.langchain._ids import MetadataIds
from otel_genai_session.langchain._llm import apply_response, model_name, request_fields
from otel_genai_session.langchain._runs import Run, RunTable
from otel_genai_session.types import (
    AgentInvocation,
    GenAIInvocation,
    LLMInvocation,
    RetrievalInvocation,
    Step,
    ToolCall,
    Workflow,
)

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult

__all__ = ["DEFAULT_AGENT_NAMES", "OpenTelemetryCallbackHandler"]

DEFAULT_AGENT_NAMES: Final = frozenset({"AgentExecutor"})
"""Chain run names reported as ``invoke_agent`` spans unless ``agent_names`` is given."""

_CHAT: Final = GenAiOperationNameValues.CHAT.value
_TEXT_COMPLETION: Final = GenAiOperationNameValues.TEXT_COMPLETION.value


class OpenTelemetryCallbackHandler(BaseCallbackHandler):
    """A LangChain callback handler that emits GenAI spans carrying the session ids.

    Pass it per call, ``chain.invoke(x, config={"callbacks": [handler]})``, or
    for every chain with :func:`~.instrument_langchain`. One instance serves
    any number of concurrent runs, threads and tasks.

    Args:
        tracer_provider: where spans go; the global provider when None.
        meter_provider: where metrics go; the global provider when None.
        telemetry_handler: an existing :class:`TelemetryHandler` to use instead
            (then give no providers).
        metadata_keys: run metadata key -> session field, read at run start;
            :data:`DEFAULT_METADATA_KEYS` when None, ``{}`` to turn it off.
        agent_names: chain run names to report as agent invocations
            (``create_react_agent(..., name="planner")`` -> ``["planner"]``);
            :data:`DEFAULT_AGENT_NAMES` when None.
    """

    # Callbacks run in the caller's thread or task, not handed to an executor:
    # they only start and end spans, and per-token events stay cheap.
    run_inline = True

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        telemetry_handler: TelemetryHandler | None = None,
        metadata_keys: Mapping[str, str] | None = None,
        agent_names: Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        if telemetry_handler is not None and (
            tracer_provider is not None or meter_provider is not None
        ):
            raise ValueError("telemetry_handler: give a handler or providers, not both")
        telemetry = telemetry_handler or TelemetryHandler(tracer_provider, meter_provider)
        self._runs = RunTable(telemetry, MetadataIds(metadata_keys))
        self._agent_names = DEFAULT_AGENT_NAMES
        if agent_names is not None:
            names = () if isinstance(agent_names, str) else tuple(agent_names)
            if isinstance(agent_names, str) or not all(isinstance(n, str) for n in names):
                raise TypeError(
                    f"agent_names must be an iterable of run names, not {agent_names!r}"
                )
            self._agent_names = frozenset(names)

    # Events this handler has no use for: LangChain then skips dispatching them.
    # (Not ignore_agent: it also gates the tool events.)
    @property
    def ignore_retry(self) -> bool:
        return True

    @property
    def ignore_custom_event(self) -> bool:
        return True

    # -- model runs ----------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_model(serialized, run_id, parent_run_id, tags, metadata, kwargs, _CHAT)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_model(
            serialized, run_id, parent_run_id, tags, metadata, kwargs, _TEXT_COMPLETION
        )

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        invocation = self._runs.invocation(run_id)
        if isinstance(invocation, LLMInvocation):
            invocation.stream = True

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        invocation = self._runs.pop(run_id)
        if invocation is None:
            return
        try:
            if isinstance(invocation, LLMInvocation):
                apply_response(invocation, response)
        finally:
            self._runs.finish(invocation, None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.end(run_id, error)

    def _start_model(
        self,
        serialized: Mapping[str, Any] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
        operation: str,
    ) -> None:
        meta = metadata or {}
        params = kwargs.get("invocation_params")
        params = params if isinstance(params, Mapping) else {}
        self._start(
            run_id,
            parent_run_id,
            tags,
            metadata,
            lambda _, ids: LLMInvocation(
                request_model=model_name(serialized, params, meta, kwargs.get("name")),
                operation=operation,
                **ids,
                **request_fields(params, meta),
            ),
        )

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: Mapping[str, Any] | None,
        make: Callable[[Run | None, _SessionIds], GenAIInvocation],
    ) -> None:
        """Start the run's span: ``make(parent, ids)`` builds its invocation from the
        parent run and the ids (``session_id=``, ``user_id=``, ``customer_id=``);
        nothing for a run tagged hidden."""
        begun = self._runs.begin(run_id, parent_run_id, tags, metadata)
        if begun is None:
            return
        parent, ids = begun
        invocation = make(
            parent, _SessionIds(session_id=ids[0], user_id=ids[1], customer_id=ids[2])
        )
        self._runs.start(run_id, parent, invocation, ids)

    # -- chains, graphs, agents ----------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = _run_name(serialized, kwargs.get("name"))

        def make(parent: Run | None, ids: _SessionIds) -> GenAIInvocation:
            if name in self._agent_names:
                return AgentInvocation(name=name, **ids)
            if parent is None or not parent.traced:
                return Workflow(name=name, **ids)
            return Step(name=name, **ids)

        self._start(run_id, parent_run_id, tags, metadata, make)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.end(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.end(run_id, error)

    # -- tools and retrievers ------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        tool = serialized or {}
        self._start(
            run_id,
            parent_run_id,
            tags,
            metadata,
            lambda _, ids: ToolCall(
                name=_text(tool.get("name")) or _text(kwargs.get("name")) or "tool",
                call_id=_text(kwargs.get("tool_call_id")),
                description=_text(tool.get("description")),
                tool_type="function",
                **ids,
            ),
        )

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        invocation = self._runs.pop(run_id)
        if invocation is None:
            return
        if isinstance(invocation, ToolCall) and invocation.call_id is None:
            # langchain-core < 1 passes no tool_call_id at start; the ToolMessage has it.
            invocation.call_id = _text(getattr(output, "tool_call_id", None))
        self._runs.finish(invocation, None)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.end(run_id, error)

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(
            run_id,
            parent_run_id,
            tags,
            metadata,
            lambda _, ids: RetrievalInvocation(
                query=query if isinstance(query, str) else "",
                request_model=_text((metadata or {}).get("ls_embedding_model")),
                **ids,
            ),
        )

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.end(run_id)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.end(run_id, error)


class _SessionIds(TypedDict):
    """A run's ids as the invocations' keyword arguments."""

    session_id: str | None
    user_id: str | None
    customer_id: str | None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _run_name(serialized: Mapping[str, Any] | None, name: object) -> str:
    """The run's name (``run_name``, else the runnable's), else its class, else "chain"."""
    named = _text(name)
    if named is None and serialized:
        named = _text(serialized.get("name"))
        ids = serialized.get("id")
        if named is None and isinstance(ids, list) and ids:
            named = _text(ids[-1])
    return named or "chain"
