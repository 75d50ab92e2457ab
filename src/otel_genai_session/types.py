"""GenAI invocation types: what a model, tool, agent or workflow call was.

Each type is a plain dataclass that knows the OpenTelemetry GenAI semantic
convention attributes it describes; :class:`~.handler.TelemetryHandler` turns
it into a span. Session ids resolve per field when the object is made:
explicit value > session in effect > environment variable.

Usage::

    inv = LLMInvocation(request_model="gpt-4o", provider="openai")
    inv.session_id  # the session in effect now, if any
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv._incubating.attributes.server_attributes import (
    SERVER_ADDRESS,
    SERVER_PORT,
)
from opentelemetry.trace import SpanKind

from otel_genai_session.attributes import (
    CUSTOMER_ID,
    GEN_AI_ASSOCIATION_PROPERTIES_PREFIX,
    SESSION_ID,
)
from otel_genai_session.privacy import user_id_attribute
from otel_genai_session.session import resolve_ids

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

__all__ = [
    "AgentInvocation",
    "EmbeddingInvocation",
    "GenAIInvocation",
    "LLMInvocation",
    "RetrievalInvocation",
    "Step",
    "ToolCall",
    "Workflow",
]

_Op = gen_ai.GenAiOperationNameValues


def _set(attributes: dict[str, AttributeValue], key: str, value: Any) -> None:
    if value is not None:
        attributes[key] = value


@dataclass(kw_only=True)
class GenAIInvocation:
    """Fields every invocation has: the session ids and span bookkeeping.

    Args:
        session_id: an explicit session id; None takes the session in effect,
            then ``OTEL_INSTRUMENTATION_GENAI_SESSION_ID``.
        user_id: an explicit user id; None takes the session's, then
            ``OTEL_INSTRUMENTATION_GENAI_USER_ID``.
        customer_id: an explicit tenant id; None takes the session's, then
            ``OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID``.
        conversation_id: ``gen_ai.conversation.id``, emitted only when given
            (or when the handler mirrors the session id, an opt-in, or applies
            a :func:`~otel_genai_session.splunk_context.genai_context`).
        attributes: extra span attributes, set as given.
        association_properties: Splunk's association properties, each
            exported as ``gen_ai.association.properties.<key>``, as given (a
            None value is left out). In a ``genai_context``, the handler merges
            the session's properties under them at start (these win per key).
    """

    session_id: str | None = None
    user_id: str | None = None
    customer_id: str | None = None
    conversation_id: str | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    association_properties: dict[str, AttributeValue] = field(default_factory=dict)

    operation_name: ClassVar[str] = ""
    span_kind: ClassVar[SpanKind] = SpanKind.INTERNAL

    # Set by the handler while the invocation runs: the span as contexts see it
    # (``_current_span.CurrentSpan``, which forwards to the SDK span).
    span: Span | None = field(default=None, init=False, repr=False, compare=False)
    context_token: object = field(default=None, init=False, repr=False, compare=False)
    parent_context: Context | None = field(default=None, init=False, repr=False, compare=False)
    start_time_ns: int | None = field(default=None, init=False, repr=False, compare=False)
    start_attributes: dict[str, AttributeValue] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # The ids as last resolved (each passed validation): a start that finds
    # these very objects, all set, has nothing to check or fill.
    _resolved_ids: tuple[str | None, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.resolve_session()

    def resolve_session(self) -> None:
        """Fill the ids left None from the session in effect, then env vars.

        Every id, explicit ones included, passes the package's one validation
        rule, here and again at the handler's start (a field may be set after
        construction): an invalid id is dropped and logged once, an int becomes
        a ``str``.
        """
        session_id, user_id, customer_id = self.session_id, self.user_id, self.customer_id
        resolved = self._resolved_ids
        if (
            resolved
            and session_id is resolved[0] is not None
            and user_id is resolved[1] is not None
            and customer_id is resolved[2] is not None
        ):
            return  # all set, and each the very value that passed validation
        self._resolved_ids = resolve_ids(session_id, user_id, customer_id)
        self.session_id, self.user_id, self.customer_id = self._resolved_ids

    @property
    def span_name(self) -> str:
        """The span name the GenAI conventions give this invocation."""
        return self.operation_name

    def semantic_convention_attributes(self) -> dict[str, AttributeValue]:
        """The semantic-convention attributes that are set (None values omitted)."""
        attributes: dict[str, AttributeValue] = {}
        _set(attributes, gen_ai.GEN_AI_OPERATION_NAME, self.operation_name or None)
        _set(attributes, SESSION_ID, self.session_id)
        if self.user_id is not None:
            key, value = user_id_attribute(self.user_id)
            attributes[key] = value
        _set(attributes, CUSTOMER_ID, self.customer_id)
        _set(attributes, gen_ai.GEN_AI_CONVERSATION_ID, self.conversation_id)
        for name, given in self.association_properties.items():
            _set(attributes, f"{GEN_AI_ASSOCIATION_PROPERTIES_PREFIX}.{name}", given)
        return attributes


@dataclass(kw_only=True)
class _ModelCall(GenAIInvocation):
    """Fields shared by calls that go to a model provider."""

    provider: str | None = None
    response_model: str | None = None
    input_tokens: int | None = None
    server_address: str | None = None
    server_port: int | None = None

    def semantic_convention_attributes(self) -> dict[str, AttributeValue]:
        attributes = super().semantic_convention_attributes()
        _set(attributes, gen_ai.GEN_AI_PROVIDER_NAME, self.provider)
        _set(attributes, gen_ai.GEN_AI_RESPONSE_MODEL, self.response_model)
        _set(attributes, gen_ai.GEN_AI_USAGE_INPUT_TOKENS, self.input_tokens)
        _set(attributes, SERVER_ADDRESS, self.server_address)
        _set(attributes, SERVER_PORT, self.server_port)
        return attributes


@dataclass
class LLMInvocation(_ModelCall):
    """A chat or completion call to a language model."""

    request_model: str
    operation: str = _Op.CHAT.value
    output_tokens: int | None = None
    finish_reasons: list[str] | None = None
    response_id: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    max_tokens: int | None = None
    stop_sequences: list[str] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    choice_count: int | None = None
    stream: bool | None = None
    output_type: str | None = None

    span_kind: ClassVar[SpanKind] = SpanKind.CLIENT

    @property
    def span_name(self) -> str:
        return f"{self.operation} {self.request_model}"

    def semantic_convention_attributes(self) -> dict[str, AttributeValue]:
        attributes = super().semantic_convention_attributes()
        attributes[gen_ai.GEN_AI_OPERATION_NAME] = self.operation
        attributes[gen_ai.GEN_AI_REQUEST_MODEL] = self.request_model
        for key, value in (
            (gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, self.output_tokens),
            (gen_ai.GEN_AI_RESPONSE_FINISH_REASONS, self.finish_reasons),
            (gen_ai.GEN_AI_RESPONSE_ID, self.response_id),
            (gen_ai.GEN_AI_REQUEST_TEMPERATURE, self.temperature),
            (gen_ai.GEN_AI_REQUEST_TOP_P, self.top_p),
            (gen_ai.GEN_AI_REQUEST_TOP_K, self.top_k),
            (gen_ai.GEN_AI_REQUEST_MAX_TOKENS, self.max_tokens),
            (gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES, self.stop_sequences),
            (gen_ai.GEN_AI_REQUEST_FREQUENCY_PENALTY, self.frequency_penalty),
            (gen_ai.GEN_AI_REQUEST_PRESENCE_PENALTY, self.presence_penalty),
            (gen_ai.GEN_AI_REQUEST_SEED, self.seed),
            (gen_ai.GEN_AI_REQUEST_CHOICE_COUNT, self.choice_count),
            (gen_ai.GEN_AI_REQUEST_STREAM, self.stream),
            (gen_ai.GEN_AI_OUTPUT_TYPE, self.output_type),
        ):
            _set(attributes, key, value)
        return attributes


@dataclass
class EmbeddingInvocation(_ModelCall):
    """A call that turns texts into vectors. The texts are never put on spans."""

    request_model: str
    input_texts: list[str] = field(default_factory=list)
    dimension_count: int | None = None
    encoding_formats: list[str] | None = None

    operation_name: ClassVar[str] = _Op.EMBEDDINGS.value
    span_kind: ClassVar[SpanKind] = SpanKind.CLIENT

    @property
    def span_name(self) -> str:
        return f"{self.operation_name} {self.request_model}"

    def semantic_convention_attributes(self) -> dict[str, AttributeValue]:
        attributes = super().semantic_convention_attributes()
        attributes[gen_ai.GEN_AI_REQUEST_MODEL] = self.request_model
        _set(attributes, gen_ai.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, self.dimension_count)
        _set(attributes, gen_ai.GEN_AI_REQUEST_ENCODING_FORMATS, self.encoding_formats)
        return attributes


@dataclass
class RetrievalInvocation(_ModelCall):
    """A lookup in a vector store or search index. The query text is not put on
    spans (it is user content)."""

    query: str
    data_source_id: str | None = None
    request_model: str | None = None
    top_k: float | None = None
    documents: list[Any] = field(default_factory=list)

    operation_name: ClassVar[str] = _Op.RETRIEVAL.value
    span_kind: ClassVar[SpanKind] = SpanKind.CLIENT

    @property
    def span_name(self) -> str:
        suffix = self.data_source_id or self.request_model
        return f"{self.operation_name} {suffix}" if suffix else self.operation_name

    def semantic_convention_attributes(self) -> dict[str, AttributeValue]:
        attributes = super().semantic_convention_attributes()
        _set(attributes, gen_ai.GEN_AI_DATA_SOURCE_ID, self.data_source_id)
        _set(attributes, gen_ai.GEN_AI_REQUEST_MODEL, self.request_model)
        _set(attributes, gen_ai.GEN_AI_REQUEST_TOP_K, self.top_k)
        return attributes


@dataclass
class ToolCall(GenAIInvocation):
    """The execution of a tool the model asked for. Arguments and result are not
    put on spans (they may hold user content)."""

    name: str
    call_id: str | None = None
    description: str | None = None
    tool_type: str | None = None
    arguments: Any = None
    result: Any = None

    operation_name: ClassVar[str] = _Op.EXECUTE_TOOL.value

    @property
    def span_name(self) -> str:
        return f"{self.operation_name} {self.name}"

    def semantic_convention_attributes(self) -> dict[str, AttributeValue]:
        attributes = super().semantic_convention_attributes()
        attributes[gen_ai.GEN_AI_TOOL_NAME] = self.name
        _set(attributes, gen_ai.GEN_AI_TOOL_CALL_ID, self.call_id)
        _set(attributes, gen_ai.GEN_AI_TOOL_DESCRIPTION, self.description)
        _set(attributes, gen_ai.GEN_AI_TOOL_TYPE, self.tool_type)
        return attributes


@dataclass
class AgentInvocation(GenAIInvocation):
    """One run of an agent: the model calls and tool calls it makes are its children."""

    name: str
    agent_id: str | None = None
    description: str | None = None
    version: str | None = None
    provider: str | None = None
    request_model: str | None = None

    operation_name: ClassVar[str] = _Op.INVOKE_AGENT.value

    @property
    def span_name(self) -> str:
        return f"{self.operation_name} {self.name}"

    def semantic_convention_attributes(self) -> dict[str, AttributeValue]:
        attributes = super().semantic_convention_attributes()
        attributes[gen_ai.GEN_AI_AGENT_NAME] = self.name
        _set(attributes, gen_ai.GEN_AI_AGENT_ID, self.agent_id)
        _set(attributes, gen_ai.GEN_AI_AGENT_DESCRIPTION, self.description)
        _set(attributes, gen_ai.GEN_AI_AGENT_VERSION, self.version)
        _set(attributes, gen_ai.GEN_AI_PROVIDER_NAME, self.provider)
        _set(attributes, gen_ai.GEN_AI_REQUEST_MODEL, self.request_model)
        return attributes


@dataclass
class Workflow(GenAIInvocation):
    """A workflow or graph run (LangGraph, CrewAI, ...) around agents and steps."""

    name: str

    operation_name: ClassVar[str] = _Op.INVOKE_WORKFLOW.value

    @property
    def span_name(self) -> str:
        return f"{self.operation_name} {self.name}"

    def semantic_convention_attributes(self) -> dict[str, AttributeValue]:
        attributes = super().semantic_convention_attributes()
        attributes[gen_ai.GEN_AI_WORKFLOW_NAME] = self.name
        return attributes


@dataclass
class Step(GenAIInvocation):
    """One named step of a workflow (a graph node, a chain link).

    The GenAI conventions define no operation for steps, so the span is named
    ``step {name}`` and carries no ``gen_ai.operation.name``.
    """

    name: str

    @property
    def span_name(self) -> str:
        return f"step {self.name}"
