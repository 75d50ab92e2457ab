"""What the callbacks read from LangChain's loosely typed payloads, shape by shape."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation, LLMResult
from langchain_support import simple_chain
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.langchain import OpenTelemetryCallbackHandler
from otel_genai_session.langchain._llm import apply_response, model_name, request_fields
from otel_genai_session.types import LLMInvocation

RESPONSE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "finish_reasons",
    "response_model",
    "response_id",
)


def chat(**message: Any) -> ChatGeneration:
    return ChatGeneration(message=AIMessage(content="x", **message))


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param(
            LLMResult(generations=[[
                chat(usage_metadata={"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
                     response_metadata={"finish_reason": "stop", "model_name": "gpt-4o-1",
                                        "id": "chatcmpl-a"}),
                chat(usage_metadata={"input_tokens": 5, "output_tokens": 4, "total_tokens": 9},
                     response_metadata={"finish_reason": "length"}),
            ]]),
            (10, 6, ["stop", "length"], "gpt-4o-1", "chatcmpl-a"),
            id="openai-chat-two-choices",
        ),
        pytest.param(
            LLMResult(
                generations=[[Generation(text="x", generation_info={"finish_reason": "length"})]],
                llm_output={"token_usage": {"prompt_tokens": 11, "completion_tokens": 5},
                            "model_name": "gpt-3.5-turbo-instruct"},
            ),
            (11, 5, ["length"], "gpt-3.5-turbo-instruct", None),
            id="openai-completion-llm_output",
        ),
        pytest.param(
            LLMResult(generations=[[chat(
                response_metadata={"stop_reason": "end_turn", "model": "claude-x", "id": "msg_1"},
                usage_metadata={"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
            )]]),
            (3, 1, ["end_turn"], "claude-x", "msg_1"),
            id="anthropic",
        ),
        pytest.param(
            LLMResult(generations=[[chat(response_metadata={"done_reason": "stop",
                                                            "model": "llama3"})]]),
            (None, None, ["stop"], "llama3", None),
            id="ollama-no-usage",
        ),
        pytest.param(
            LLMResult(generations=[[chat(id="chatcmpl-from-message")]]),
            (None, None, None, None, "chatcmpl-from-message"),
            id="provider-message-id",
        ),
        pytest.param(
            LLMResult(generations=[[chat(id="lc_run--0a1b-0")], [chat(id="run-0a1b-0")]]),
            (None, None, None, None, None),
            id="langchain-made-ids-are-not-response-ids",
        ),
        pytest.param(
            LLMResult(
                generations=[[chat(response_metadata={"finish_reason": 3, "model_name": ["m"]})]],
                llm_output={"usage": {"input_tokens": "7", "output_tokens": True}},
            ),
            (None, None, None, None, None),
            id="wrong-types-skipped",
        ),
        pytest.param(LLMResult(generations=[[]]), (None, None, None, None, None), id="empty"),
    ],
)  # fmt: skip
def test_apply_response(result: LLMResult, expected: tuple[Any, ...]) -> None:
    invocation = LLMInvocation(request_model="m")
    apply_response(invocation, result)
    assert tuple(getattr(invocation, field) for field in RESPONSE_FIELDS) == expected


@pytest.mark.parametrize(
    ("params", "metadata", "expected"),
    [
        pytest.param({}, {}, {}, id="nothing"),
        pytest.param(
            {"temperature": 0.5, "top_p": 0.9, "top_k": 40, "max_tokens": 100, "stop": ["\n"],
             "frequency_penalty": 0.1, "presence_penalty": 0, "seed": 7, "n": 3},
            {"ls_provider": "openai"},
            {"provider": "openai", "temperature": 0.5, "top_p": 0.9, "top_k": 40.0,
             "max_tokens": 100, "stop_sequences": ["\n"], "frequency_penalty": 0.1,
             "presence_penalty": 0.0, "seed": 7, "choice_count": 3},
            id="all",
        ),
        pytest.param({"n": 1}, {}, {}, id="one-choice-omitted"),
        pytest.param({}, {"ls_provider": "azure"}, {"provider": "azure.ai.openai"}, id="azure"),
        pytest.param({}, {"ls_provider": "amazon_bedrock"}, {"provider": "aws.bedrock"},
                     id="bedrock"),
        pytest.param({}, {"ls_provider": "google_genai"}, {"provider": "gcp.gemini"}, id="gemini"),
        pytest.param({}, {"ls_provider": "together"}, {"provider": "together"}, id="passthrough"),
        pytest.param({}, {"ls_temperature": 0.3, "ls_max_tokens": 9, "ls_stop": "END"},
                     {"temperature": 0.3, "max_tokens": 9, "stop_sequences": ["END"]},
                     id="ls-metadata"),
        pytest.param({"temperature": 0.0}, {"ls_temperature": 0.3}, {"temperature": 0.0},
                     id="params-win-also-when-zero"),
        pytest.param({"max_output_tokens": 8}, {}, {"max_tokens": 8}, id="gemini-max-tokens"),
        pytest.param({"num_predict": 8}, {}, {"max_tokens": 8}, id="ollama-max-tokens"),
        pytest.param({"temperature": True, "seed": 1.5, "stop": [1], "max_tokens": "9"}, {}, {},
                     id="wrong-types-skipped"),
    ],
)  # fmt: skip
def test_request_fields(
    params: dict[str, Any], metadata: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert request_fields(params, metadata) == expected


@pytest.mark.parametrize(
    ("serialized", "params", "metadata", "run_name", "expected"),
    [
        pytest.param(None, {"model": "p"}, {"ls_model_name": "ls"}, None, "ls", id="ls-first"),
        pytest.param(None, {"model_name": "p"}, {}, None, "p", id="params"),
        pytest.param({"kwargs": {"model": "k"}, "id": ["x", "Cls"]}, {}, {}, None, "k",
                     id="serialized-kwargs"),
        pytest.param({"id": ["x", "Cls"]}, {}, {}, "run", "Cls", id="class-name"),
        pytest.param(None, {}, {}, "run", "run", id="run-name"),
        pytest.param(None, {"model": 3}, {}, None, "unknown", id="unknown"),
    ],
)  # fmt: skip
def test_model_name(
    serialized: dict[str, Any] | None,
    params: dict[str, Any],
    metadata: dict[str, Any],
    run_name: str | None,
    expected: str,
) -> None:
    assert model_name(serialized, params, metadata, run_name) == expected


# -- handler configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"agent_names": "planner"}, TypeError, "agent_names", id="agent-names-str"),
        pytest.param({"agent_names": [1]}, TypeError, "agent_names", id="agent-names-int"),
        pytest.param({"metadata_keys": {"k": "tenant"}}, ValueError, "metadata_keys",
                     id="metadata-keys"),
        pytest.param({"telemetry_handler": TelemetryHandler(), "tracer_provider": TracerProvider()},
                     ValueError, "telemetry_handler", id="handler-and-provider"),
    ],
)  # fmt: skip
def test_bad_options_are_rejected_at_construction(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        OpenTelemetryCallbackHandler(**options)


def test_an_existing_telemetry_handler_can_be_shared(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    shared = TelemetryHandler(tracer_provider)
    handler = OpenTelemetryCallbackHandler(telemetry_handler=shared)
    simple_chain().invoke({"input": "hi"}, {"callbacks": [handler]})
    assert len(exporter.get_finished_spans()) == 4
