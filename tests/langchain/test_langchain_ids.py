"""Ids LangChain runs carry in their metadata fill the gaps the session leaves, at run start."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_support import MODEL, NO_IDS, Ids, chat_model, ids_of, simple_chain, tree
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.environment_variables import OTEL_INSTRUMENTATION_GENAI_SESSION_ID
from otel_genai_session.langchain import DEFAULT_METADATA_KEYS, OpenTelemetryCallbackHandler
from otel_genai_session.langchain._ids import MetadataIds


def run_chain(handler: OpenTelemetryCallbackHandler, metadata: dict[str, Any]) -> None:
    config = RunnableConfig(callbacks=[handler], metadata=metadata)
    simple_chain().invoke({"input": "hi"}, config)


def span_ids(exporter: InMemorySpanExporter) -> set[Ids]:
    spans = exporter.get_finished_spans()
    assert len(spans) == 4
    return {ids_of(span) for span in spans}


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        pytest.param({"session_id": "m-s", "user_id": "m-u"}, ("m-s", "m-u", None), id="both"),
        pytest.param({"thread_id": "t-1"}, ("t-1", None, None), id="thread_id"),
        pytest.param({"conversation_id": "c-1"}, ("c-1", None, None), id="conversation_id"),
        pytest.param(
            {"thread_id": "t-1", "conversation_id": "c-1", "session_id": "s-1"},
            ("s-1", None, None),
            id="session_id-before-conversation_id-before-thread_id",
        ),
        pytest.param({"thread_id": "t-1", "conversation_id": "c-1"}, ("c-1", None, None),
                     id="conversation_id-before-thread_id"),
        pytest.param({"customer_id": "acme"}, (None, None, "acme"), id="customer_id"),
        pytest.param({"session_id": 42}, ("42", None, None), id="int-converted"),
        pytest.param({"other": "x", "ls_provider": "openai"}, NO_IDS, id="unrelated-keys"),
    ],
)  # fmt: skip
def test_metadata_ids_fill_an_empty_session(
    metadata: dict[str, Any],
    expected: Ids,
    otel_handler: OpenTelemetryCallbackHandler,
    exporter: InMemorySpanExporter,
) -> None:
    run_chain(otel_handler, metadata)
    assert span_ids(exporter) == {expected}


def test_metadata_ids_never_override_the_session_in_effect(
    otel_handler: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    with session_context(session_id="ctx-session"):
        run_chain(otel_handler, {"session_id": "meta-session", "user_id": "meta-user"})
    assert span_ids(exporter) == {("ctx-session", "meta-user", None)}


def test_metadata_ids_win_over_environment_variables(
    otel_handler: OpenTelemetryCallbackHandler,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_SESSION_ID, "env-session")
    run_chain(otel_handler, {"user_id": "meta-user"})
    run_chain(otel_handler, {"thread_id": "meta-thread"})
    spans = exporter.get_finished_spans()
    assert [ids_of(span) for span in spans] == [("env-session", "meta-user", None)] * 4 + [
        ("meta-thread", None, None)
    ] * 4


def test_invalid_metadata_ids_are_dropped_and_reported_by_key_only(
    otel_handler: OpenTelemetryCallbackHandler,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    fresh_warnings: None,
) -> None:
    secret = "bad\nvalue-do-not-log"
    run_chain(
        otel_handler, {"user_id": secret, "session_id": ["not", "an", "id"], "thread_id": "ok"}
    )

    assert span_ids(exporter) == {("ok", None, None)}
    messages = [record.getMessage() for record in caplog.records]
    assert any("'user_id'" in message and "non-printable" in message for message in messages)
    assert any("'session_id'" in message and "not a string" in message for message in messages)
    assert not any("do-not-log" in message for message in messages)


def test_child_runs_inherit_the_ids_their_parent_started_with(
    otel_handler: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    """The child model run starts in a bare thread (the parent's session is not in
    effect there) with its own metadata and its own session: the session in
    effect wins, then what the parent resolved at its start, then the metadata."""
    model = chat_model()

    def nested(text: str, config: RunnableConfig) -> str:
        def child() -> None:
            with session_context(customer_id="inner-tenant"):
                child_config = RunnableConfig(
                    callbacks=config["callbacks"], metadata={"thread_id": "child-thread"}
                )
                model.invoke(text, child_config)

        worker = threading.Thread(target=child)
        worker.start()
        worker.join(timeout=10)
        return text

    with session_context(session_id="outer"):
        RunnableLambda(nested).invoke(
            "hi", RunnableConfig(callbacks=[otel_handler], metadata={"user_id": "meta-user"})
        )
    spans = exporter.get_finished_spans()
    assert tree(spans) == [(0, "invoke_workflow nested"), (1, f"chat {MODEL}")]
    assert {span.name: ids_of(span) for span in spans} == {
        "invoke_workflow nested": ("outer", "meta-user", None),
        f"chat {MODEL}": ("outer", "meta-user", "inner-tenant"),
    }


@pytest.mark.parametrize(
    ("metadata_keys", "metadata", "expected"),
    [
        pytest.param({"tenant": "customer_id"}, {"tenant": "t-9", "session_id": "s"},
                     (None, None, "t-9"), id="custom-only"),
        pytest.param({}, {"session_id": "s", "user_id": "u"}, NO_IDS, id="off"),
        pytest.param({"chat": "session_id", "session_id": "session_id"},
                     {"chat": "c", "session_id": "s"}, ("c", None, None), id="order-is-priority"),
    ],
)  # fmt: skip
def test_metadata_keys_are_configurable(
    metadata_keys: dict[str, str],
    metadata: dict[str, Any],
    expected: Ids,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    handler = OpenTelemetryCallbackHandler(tracer_provider, metadata_keys=metadata_keys)
    run_chain(handler, metadata)
    assert span_ids(exporter) == {expected}


@pytest.mark.parametrize(
    ("mapping", "error", "match"),
    [
        pytest.param(["session_id"], TypeError, "metadata_keys must be a mapping", id="list"),
        pytest.param({"sid": "session"}, ValueError, "unknown field 'session'", id="field"),
        pytest.param({"": "session_id"}, TypeError, "non-empty strings", id="empty-key"),
        pytest.param({1: "session_id"}, TypeError, "non-empty strings", id="int-key"),
    ],
)
def test_bad_metadata_keys_are_rejected_at_construction(
    mapping: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        MetadataIds(mapping)


def test_default_metadata_keys() -> None:
    assert dict(DEFAULT_METADATA_KEYS) == {
        "session_id": "session_id",
        "conversation_id": "session_id",
        "thread_id": "session_id",
        "user_id": "user_id",
        "customer_id": "customer_id",
    }
    with pytest.raises(TypeError):
        DEFAULT_METADATA_KEYS["x"] = "session_id"  # type: ignore[index]
