"""Properties in the ``baggage`` header (issue 24, item 3): only those the sending
propagator allows leave the process, and only those the receiving middleware's
``baggage_mapping`` names come back in."""

from __future__ import annotations

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator

from otel_genai_session import session_context
from otel_genai_session.attributes import PROPERTY_PREFIX
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES,
)
from otel_genai_session.middleware._baggage import request_baggage
from otel_genai_session.propagation import SessionBaggagePropagator

ARM = PROPERTY_PREFIX + "arm"
PLAN = PROPERTY_PREFIX + "plan"


def inject(propagator: TextMapPropagator, ctx: otel_context.Context | None = None) -> str:
    carrier: dict[str, str] = {}
    CompositePropagator([W3CBaggagePropagator(), propagator]).inject(carrier, context=ctx)
    return carrier.get("baggage", "<none>")


def entries(header: str) -> dict[str, str]:
    """What a receiving service would read back (our own linear reader)."""
    keys = {part.split("=")[0] for part in header.split(",") if "=" in part}
    return request_baggage(header.encode(), keys)


def test_no_property_leaves_unless_allowed() -> None:
    with session_context("conv-1", properties={"arm": "b", "plan": "pro"}):
        assert inject(SessionBaggagePropagator()) == "session.id=conv-1"
        allowed = inject(SessionBaggagePropagator(properties=["arm"]))
    assert entries(allowed) == {"session.id": "conv-1", ARM: "b"}


def test_a_session_of_unallowed_properties_alone_writes_no_header() -> None:
    with session_context(properties={"plan": "pro"}):
        assert inject(SessionBaggagePropagator()) == "<none>"
        assert entries(inject(SessionBaggagePropagator(properties=["plan"]))) == {PLAN: "pro"}


def test_the_environment_variable_allows_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES, " arm , plan ")
    propagator = SessionBaggagePropagator()  # read now
    monkeypatch.delenv(OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES)
    with session_context("conv-1", properties={"arm": "b", "plan": "pro", "other": "x"}):
        header = inject(propagator)
    assert entries(header) == {"session.id": "conv-1", ARM: "b", PLAN: "pro"}


def test_values_are_percent_encoded_and_read_back_whole() -> None:
    value = "a b,c;d=é"
    with session_context(properties={"arm": value}):
        header = inject(SessionBaggagePropagator(properties=["arm"]))
    assert "," not in header and " " not in header
    assert entries(header) == {ARM: value}


def test_a_client_property_entry_never_rides_along_as_ours() -> None:
    ctx = otel_context.Context()
    for key, value in ((ARM, "forged"), (PLAN, "forged"), ("region", "eu")):
        ctx = baggage.set_baggage(key, value, ctx)
    with session_context("conv-1", properties={"arm": "b"}):
        header = inject(SessionBaggagePropagator(properties=["arm", "plan"]), ctx)
    assert entries(header) == {"session.id": "conv-1", ARM: "b", "region": "eu"}


def test_the_header_follows_nested_sessions() -> None:
    propagator = SessionBaggagePropagator(properties=["arm"])
    with session_context("conv-1", properties={"arm": "a"}):
        with session_context(properties={"arm": "b"}):
            inner = inject(propagator)
        with session_context(properties={"arm": None}):
            removed = inject(propagator)
        outer = inject(propagator)
    assert entries(inner)[ARM] == "b"
    assert removed == "session.id=conv-1"
    assert entries(outer)[ARM] == "a"


@pytest.mark.parametrize("bad", [["bad key"], ["ok", ""], ["a..b"], "arm", [7]])
def test_a_bad_allow_list_fails_at_construction(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="properties"):
        SessionBaggagePropagator(properties=bad)  # type: ignore[arg-type]


def test_a_bad_environment_allow_list_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES, "arm,bad key")
    with pytest.raises(ValueError, match=OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES):
        SessionBaggagePropagator()


def test_install_propagator_sets_what_propagate_baggage_lets_out() -> None:
    from opentelemetry import propagate

    from otel_genai_session.propagation import install_propagator

    before = propagate.get_global_textmap()
    try:
        propagate.set_global_textmap(W3CBaggagePropagator())
        install_propagator(properties=["arm"])
        installed = propagate.get_global_textmap()
        install_propagator()  # what propagate_baggage=True calls: keeps it
        assert propagate.get_global_textmap() is installed
        with session_context("conv-1", properties={"arm": "b", "plan": "pro"}):
            carrier: dict[str, str] = {}
            installed.inject(carrier)
            assert carrier == {}  # the switch is off here
            with session_context(propagate_baggage=True):
                installed.inject(carrier)
        assert entries(carrier["baggage"]) == {"session.id": "conv-1", ARM: "b"}
        install_propagator(properties=["plan"])  # replaces ours, does not stack
        replaced = propagate.get_global_textmap()
        assert replaced is not installed
        with session_context(properties={"arm": "b", "plan": "pro"}, propagate_baggage=True):
            carrier = {}
            replaced.inject(carrier)
        assert carrier == {"baggage": f"{PLAN}=pro"}
        with pytest.raises(ValueError, match="properties"):
            install_propagator(properties=["bad key"])
        assert propagate.get_global_textmap() is replaced
    finally:
        propagate.set_global_textmap(before)
