"""Metrics with user-id hashing on (issue 22, case 4): a metric configured with
the user carries ``user.hash``, never the raw id, through the real SDK."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from otel_genai_session import session_context
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.privacy import disable_user_id_hashing, enable_user_id_hashing
from otel_genai_session.types import LLMInvocation

from .test_handler import DURATION, ENV_METRIC, TOKENS, points

KEY = b"metrics-key"
ALICE_HASH = hmac.new(KEY, b"alice", hashlib.sha256).hexdigest()


@pytest.fixture
def hashing() -> Iterator[None]:
    enable_user_id_hashing(key=KEY)
    yield
    disable_user_id_hashing()


def _user_attributes(reader: InMemoryMetricReader, **options: Any) -> list[dict[str, Any]]:
    handler = TelemetryHandler(TracerProvider(), MeterProvider(metric_readers=[reader]), **options)
    with (
        session_context(session_id="s", user_id="alice", customer_id="c"),
        handler.llm(LLMInvocation(request_model="m", input_tokens=3)),
    ):
        pass
    found = [*points(reader, DURATION), *points(reader, TOKENS)]
    assert len(found) == 2
    return [{k: v for k, v in (p.attributes or {}).items() if k.startswith("user.")} for p in found]


@pytest.mark.usefixtures("hashing")
@pytest.mark.parametrize("name", ["user.id", "user.hash"])
def test_with_hashing_on_metrics_carry_user_hash_and_never_the_raw_id(name: str) -> None:
    for attributes in _user_attributes(InMemoryMetricReader(), session_metric_attributes=[name]):
        assert attributes == {"user.hash": ALICE_HASH}


@pytest.mark.usefixtures("hashing")
def test_the_environment_variable_accepts_user_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_METRIC, "user.hash")
    for attributes in _user_attributes(InMemoryMetricReader()):
        assert attributes == {"user.hash": ALICE_HASH}


@pytest.mark.parametrize("name", ["user.id", "user.hash"])
def test_with_hashing_off_either_name_gives_the_user_id(name: str) -> None:
    for attributes in _user_attributes(InMemoryMetricReader(), session_metric_attributes=[name]):
        assert attributes == {"user.id": "alice"}
