"""Each private-internal fast path gives the same answer as its public fallback.

The fast paths read private attributes of CPython (``os.environ``'s storage)
and OpenTelemetry (the SDK span's attribute dict and limit, the runtime
context's ContextVar and span key). Here every one is compared with its
public fallback on the same inputs; ``tox -e nofastpaths`` then runs the
whole suite on the fallbacks alone (``OTEL_GENAI_SESSION_FAST_PATHS=off``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan

from otel_genai_session import _fastpaths
from otel_genai_session._fastpaths import (
    fast_current_span_lookup,
    fast_environment_reader,
    fast_span_attributes,
    fast_unset_probe,
    public_current_span_lookup,
    public_environment_reader,
    public_span_attributes,
    public_unset_probe,
)

VARIABLES = ("OTEL_GENAI_TEST_A", "OTEL_GENAI_TEST_B", "OTEL_GENAI_TEST_C")


@pytest.fixture(autouse=True)
def _no_test_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


# -- os.environ ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="none-set"),
        pytest.param({"OTEL_GENAI_TEST_B": "x"}, id="one-set"),
        pytest.param({"OTEL_GENAI_TEST_A": ""}, id="set-empty"),
        pytest.param(dict.fromkeys(VARIABLES, "v"), id="all-set"),
        pytest.param({"OTEL_GENAI_TEST_Cx": "v"}, id="a-longer-name"),
    ],
)
def test_unset_probe_agrees(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = fast_unset_probe(VARIABLES)
    public = public_unset_probe(VARIABLES)
    assert fast is not None, "CPython's os.environ: the fast path applies"
    assert fast() is public() is True
    for name, value in values.items():
        monkeypatch.setenv(name, value)  # set after the probes were made: read live
    expected = not any(name in VARIABLES for name in values)
    assert fast() is public() is expected
    for name in values:
        monkeypatch.delenv(name)
    assert fast() is public() is True


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="unset"),
        pytest.param({"OTEL_GENAI_TEST_A": ""}, id="empty"),
        pytest.param({"OTEL_GENAI_TEST_B": "  conv-1  "}, id="spaces"),
        pytest.param({"OTEL_GENAI_TEST_C": "café-ü-\u4e2d"}, id="non-ascii"),
        pytest.param(dict.fromkeys(VARIABLES, "v"), id="all-set"),
    ],
)
def test_environment_reader_agrees(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = fast_environment_reader(VARIABLES)
    public = public_environment_reader(VARIABLES)
    assert fast is not None, "CPython's os.environ: the fast path applies"
    for name, value in values.items():
        monkeypatch.setenv(name, value)  # set after the readers were made: read live
    expected = tuple(values.get(name) for name in VARIABLES)
    assert fast() == public() == expected
    monkeypatch.setattr(os, "environ", {"OTEL_GENAI_TEST_A": "from-dict"})
    assert fast() == public() == ("from-dict", None, None)


def test_unset_probe_follows_a_replaced_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = fast_unset_probe(VARIABLES)
    assert fast is not None
    monkeypatch.setattr(os, "environ", {"OTEL_GENAI_TEST_C": "from-dict"})
    assert fast() is public_unset_probe(VARIABLES)() is False
    monkeypatch.setattr(os, "environ", {})
    assert fast() is True
    assert fast_unset_probe(VARIABLES) is None  # a plain dict: no private storage


# -- SDK span attributes ------------------------------------------------------------


def _spans() -> Iterator[tuple[str, Any]]:
    tracer = TracerProvider().get_tracer("t")
    yield "no attributes", tracer.start_span("a")
    yield "three", tracer.start_span("b", attributes={"k": 1, "session.id": "s", "z": "v"})
    yield "at the limit", tracer.start_span("c", attributes={f"k{i}": i for i in range(128)})
    yield "non-recording", NonRecordingSpan(INVALID_SPAN.get_span_context())
    yield "invalid", INVALID_SPAN


@pytest.mark.parametrize(("label", "span"), list(_spans()), ids=[label for label, _ in _spans()])
def test_span_attributes_agree(label: str, span: Any) -> None:
    fast_present, fast_limit = fast_span_attributes(span)
    public_present, public_limit = public_span_attributes(span)
    assert fast_limit == public_limit == 128
    assert set(fast_present) == set(public_present)
    for key in ("k", "k0", "session.id", "user.id", "customer.id"):
        assert (key in fast_present) is (key in public_present), key


def test_span_attributes_follow_attributes_added() -> None:
    span = TracerProvider().get_tracer("t").start_span("x")
    for count in range(1, 4):
        span.set_attribute(f"k{count}", count)
        fast, public = fast_span_attributes(span)[0], public_span_attributes(span)[0]
        assert len(fast) == len(public) == count
        assert f"k{count}" in fast and f"k{count}" in public


def test_span_attribute_limit_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "5")
    span = TracerProvider().get_tracer("t").start_span("x", attributes={"a": 1, "b": 2})
    assert fast_span_attributes(span)[1] == public_span_attributes(span)[1] == 5


_IDS = {"session.id": "s", "user.id": "u", "customer.id": "c"}


@pytest.mark.parametrize(
    ("limit", "start"),
    [
        (3, {"http.route": "/chat", "app.order": 7}),
        (2, {"http.route": "/chat", "app.order": 7}),
        (4, {"session.id": "own", "a": 1}),
        (1, {}),
        (0, {"a": 1}),
        (None, {f"k{i}": i for i in range(200)}),
    ],
)
def test_adding_span_attributes_keeps_the_same_attributes_both_ways(
    limit: int | None, start: dict[str, Any]
) -> None:
    """Under explicit SpanLimits, which the public path cannot read: the same
    attributes kept, in particular every one the span started with."""
    kept = []
    for add in (_fastpaths.fast_add_span_attributes, _fastpaths.public_add_span_attributes):
        provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=limit))
        span = provider.get_tracer("t").start_span("x", attributes=start)
        add(span, _IDS)
        kept.append(dict(span.attributes or {}))
    assert kept[0] == kept[1]
    assert all(kept[1][key] == value for key, value in start.items() if limit)


CASE_7 = """
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_genai_session import session_context
from otel_genai_session.processor import SessionSpanProcessor

exporter = InMemorySpanExporter()
provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=3))
provider.add_span_processor(SessionSpanProcessor())
provider.add_span_processor(SimpleSpanProcessor(exporter))
with session_context("s", "u", "c"):
    provider.get_tracer("t").start_span(
        "GET /chat", attributes={"http.route": "/chat", "app.order": 7}
    ).end()
print(" ".join(sorted(exporter.get_finished_spans()[0].attributes)))
"""


@pytest.mark.parametrize("switch", ["on", "off"])
def test_explicit_span_limits_keep_the_application_attributes_on_either_path(
    switch: str,
) -> None:
    """Issue 22, case 7: the public path kept only our three ids."""
    env = {**os.environ, _fastpaths.FAST_PATHS_VARIABLE: switch}
    result = subprocess.run(
        [sys.executable, "-c", CASE_7], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["app.order", "http.route", "session.id"]


# -- the current span ---------------------------------------------------------------


def _current_span(lookup: tuple[Callable[[], Any], str]) -> Any:
    read, key = lookup
    span = read().get(key)
    return None if span is INVALID_SPAN else span


def test_current_span_lookup_agrees() -> None:
    fast = fast_current_span_lookup()
    public = public_current_span_lookup()
    assert fast is not None, "this API has the private names: the fast path applies"
    assert _current_span(fast) is _current_span(public) is None
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("outer") as outer:
        assert _current_span(fast) is _current_span(public) is outer
        with tracer.start_as_current_span("inner") as inner:
            assert _current_span(fast) is _current_span(public) is inner
        token = otel_context.attach(trace.set_span_in_context(INVALID_SPAN))
        try:
            assert _current_span(fast) is _current_span(public) is None
        finally:
            otel_context.detach(token)
    assert _current_span(fast) is _current_span(public) is None


# -- the switch ---------------------------------------------------------------------


def test_the_selected_paths_follow_the_switch() -> None:
    expected = "fast" if _fastpaths.ENABLED else "public"
    assert _fastpaths.span_attributes.__name__ == f"{expected}_span_attributes"


@pytest.mark.parametrize(("value", "enabled"), [("off", False), ("on", True), ("0", False)])
def test_the_switch_turns_every_fast_path_off(value: str, enabled: bool) -> None:
    program = (
        "from otel_genai_session import _env_fallback as session, _fastpaths as f\n"
        "from otel_genai_session.middleware._span import span_lookup\n"
        "print(f.ENABLED, f.span_attributes.__name__, session._read_env_ids.__qualname__,\n"
        "      session.env_ids_unset.__qualname__.split('.')[0],\n"
        "      span_lookup()[1] == 'span')\n"
    )
    env = {**os.environ, _fastpaths.FAST_PATHS_VARIABLE: value}
    result = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    if enabled:
        assert result.stdout.split() == ["True", "fast_span_attributes",
                                         "fast_environment_reader.<locals>.read",
                                         "fast_unset_probe", "False"]  # fmt: skip
    else:
        assert result.stdout.split() == ["False", "public_span_attributes",
                                         "public_environment_reader.<locals>.read",
                                         "public_unset_probe", "True"]  # fmt: skip


@pytest.mark.parametrize("variant", ["bare", "ours", "public"])
@pytest.mark.parametrize(
    "scenario",
    ["unset_probe", "environment_reader", "span_attributes",
     "current_span_lookup (ASGI)", "current_span_lookup (WSGI)"],
)  # fmt: skip
def test_the_fast_path_benchmark_runs(scenario: str, variant: str) -> None:
    """Every unit ``benchmarks/fastpaths_callgrind.py`` counts runs (without valgrind)."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "fastpaths_callgrind.py"
    result = subprocess.run(
        [sys.executable, str(script), "child", scenario, variant, "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
