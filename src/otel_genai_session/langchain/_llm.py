"""What a LangChain model run tells about the model call: request and response fields.

LangChain reports a model call as callbacks with loosely typed payloads: the
``invocation_params`` the integration sends, LangSmith's ``ls_*`` metadata
(``ls_provider``, ``ls_model_name``, ...) and, at the end, an ``LLMResult``
whose messages carry ``usage_metadata`` and ``response_metadata``. Every
value is type-checked here before it reaches a span; unknown shapes are
skipped, never raised on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import chain
from typing import TYPE_CHECKING, Any, Final

from otel_genai_session.types import LLMInvocation

if TYPE_CHECKING:
    from langchain_core.outputs import LLMResult

__all__ = ["PROVIDER_NAMES", "apply_response", "model_name", "request_fields"]

PROVIDER_NAMES: Final[Mapping[str, str]] = {
    "amazon_bedrock": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "google_genai": "gcp.gemini",
    "google_vertexai": "gcp.vertex_ai",
    "ibm": "ibm.watsonx.ai",
    "watsonx": "ibm.watsonx.ai",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
}
"""LangChain ``ls_provider`` values whose GenAI convention name differs; others pass as is."""

_MODEL_KEYS: Final = ("model", "model_name", "model_id", "deployment_name")
_MAX_TOKENS_KEYS: Final = (
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "max_tokens_to_sample",
    "num_predict",
)
_FINISH_KEYS: Final = ("finish_reason", "stop_reason", "done_reason")
_GENERATED_ID_PREFIXES: Final = ("lc_run-", "run-")  # ids LangChain invents, not the provider's


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _first(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def _either(value: object, fallback: object) -> object:
    return value if value is not None else fallback


def _strings(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def model_name(
    serialized: Mapping[str, Any] | None,
    params: Mapping[str, Any],
    metadata: Mapping[str, Any],
    run_name: object,
) -> str:
    """The requested model: ``ls_model_name``, then the invocation params, then the
    serialized constructor kwargs; else the run's name (the model class), so the
    span still says what was called."""
    name = _text(metadata.get("ls_model_name")) or _text(_first(params, _MODEL_KEYS))
    if name is None and serialized:
        name = _text(_first(_mapping(serialized.get("kwargs")), _MODEL_KEYS))
        if name is None:
            ids = serialized.get("id")
            name = _text(ids[-1]) if isinstance(ids, list) and ids else None
    return name or _text(run_name) or "unknown"


def request_fields(params: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """LLMInvocation keyword arguments for the request settings that are known."""
    provider = _text(metadata.get("ls_provider"))
    choices = _int(params.get("n"))
    fields = {
        "provider": PROVIDER_NAMES.get(provider, provider) if provider else None,
        "temperature": _float(_either(params.get("temperature"), metadata.get("ls_temperature"))),
        "top_p": _float(params.get("top_p")),
        "top_k": _float(params.get("top_k")),
        "max_tokens": _int(
            _either(_first(params, _MAX_TOKENS_KEYS), metadata.get("ls_max_tokens"))
        ),
        "stop_sequences": _strings(
            params.get("stop") or params.get("stop_sequences") or metadata.get("ls_stop")
        ),
        "frequency_penalty": _float(params.get("frequency_penalty")),
        "presence_penalty": _float(params.get("presence_penalty")),
        "seed": _int(params.get("seed")),
        "choice_count": choices if choices is not None and choices != 1 else None,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _messages(response: LLMResult) -> Iterator[tuple[Mapping[str, Any], object]]:
    """``(generation_info, message)`` for each generation; message None for text LLMs."""
    for generation in chain.from_iterable(response.generations):
        yield _mapping(generation.generation_info), getattr(generation, "message", None)


def apply_response(invocation: LLMInvocation, response: LLMResult) -> None:
    """Copy token usage, finish reasons, response model and id onto ``invocation``."""
    input_tokens = output_tokens = None
    finish_reasons: list[str] = []
    response_model = response_id = None
    for info, message in _messages(response):
        usage = _mapping(getattr(message, "usage_metadata", None))
        count = _int(usage.get("input_tokens"))
        if count is not None:
            input_tokens = (input_tokens or 0) + count
        count = _int(usage.get("output_tokens"))
        if count is not None:
            output_tokens = (output_tokens or 0) + count
        metadata = _mapping(getattr(message, "response_metadata", None))
        reason = _text(_first(info, _FINISH_KEYS) or _first(metadata, _FINISH_KEYS))
        if reason is not None:
            finish_reasons.append(reason)
        response_model = response_model or _text(
            metadata.get("model_name") or metadata.get("model")
        )
        if response_id is None:
            response_id = _text(metadata.get("id"))
            message_id = _text(getattr(message, "id", None))
            if (
                response_id is None
                and message_id
                and not message_id.startswith(_GENERATED_ID_PREFIXES)
            ):
                response_id = message_id
    output = _mapping(response.llm_output)
    if input_tokens is None and output_tokens is None:
        usage = _mapping(output.get("token_usage") or output.get("usage"))
        input_tokens = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
        output_tokens = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    invocation.input_tokens = input_tokens
    invocation.output_tokens = output_tokens
    if finish_reasons:
        invocation.finish_reasons = finish_reasons
    invocation.response_model = response_model or _text(
        output.get("model_name") or output.get("model")
    )
    invocation.response_id = response_id or _text(output.get("id"))
