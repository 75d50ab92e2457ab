"""SessionBaggagePropagator on its own: what it writes into a carrier, and when."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from opentelemetry import baggage, propagate
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator

from otel_genai_session import session_context
from otel_genai_session.privacy import disable_user_id_hashing, enable_user_id_hashing
from otel_genai_session.propagation import (
    ENTRY_POINT_NAME,
    SessionBaggagePropagator,
    install_propagator,
)

W3C_THEN_OURS = CompositePropagator([W3CBaggagePropagator(), SessionBaggagePropagator()])


@pytest.fixture(autouse=True)
def restore_global_propagator() -> Iterator[None]:
    before = propagate.get_global_textmap()
    yield
    propagate.set_global_textmap(before)


def inject(
    propagator: TextMapPropagator = W3C_THEN_OURS, ctx: otel_context.Context | None = None
) -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagator.inject(carrier, context=ctx)
    return carrier


def with_baggage(**entries: str) -> otel_context.Context:
    ctx = otel_context.Context()
    for key, value in entries.items():
        ctx = baggage.set_baggage(key.replace("_", "."), value, ctx)
    return ctx


def test_writes_the_session_in_effect() -> None:
    with session_context(session_id="conv 1", user_id="ada", customer_id="acme"):
        carrier = inject()
    assert carrier == {"baggage": "session.id=conv+1,user.id=ada,customer.id=acme"}


def test_outside_a_session_with_nothing_in_the_context_writes_nothing() -> None:
    assert inject() == {}


def test_nested_sessions_change_what_goes_out_and_leaving_restores() -> None:
    with session_context(session_id="outer", user_id="ada"):
        with session_context(session_id="inner"):
            inner = inject()
        after = inject()
    assert inner["baggage"] == "session.id=inner,user.id=ada"
    assert after["baggage"] == "session.id=outer,user.id=ada"
    assert inject() == {}


def test_owns_the_session_keys_and_keeps_the_others_after_ours() -> None:
    ctx = with_baggage(session_id="mallory", user_hash="forged", region="eu")
    with session_context(session_id="conv-1"):
        carrier = inject(ctx=ctx)
    assert carrier == {"baggage": "session.id=conv-1,region=eu"}


def test_a_header_of_only_client_session_keys_is_emptied() -> None:
    """The W3C propagator wrote it; a Setter cannot delete, so ours overwrites."""
    ctx = with_baggage(session_id="mallory")
    assert inject(W3CBaggagePropagator(), ctx) == {"baggage": "session.id=mallory"}
    assert inject(ctx=ctx) == {"baggage": ""}


def test_hashing_sends_user_hash_not_the_raw_id() -> None:
    enable_user_id_hashing(key=b"k" * 32)
    try:
        with session_context(user_id="ada@example.com"):
            carrier = inject()
    finally:
        disable_user_id_hashing()
    assert "user.hash=" in carrier["baggage"]
    assert "ada" not in carrier["baggage"] and "user.id" not in carrier["baggage"]


def test_not_always_writes_only_where_propagate_baggage_is_on() -> None:
    ours = CompositePropagator([W3CBaggagePropagator(), SessionBaggagePropagator(always=False)])
    with session_context(session_id="quiet"):
        assert inject(ours) == {}
        with session_context(session_id="loud", propagate_baggage=True):
            assert inject(ours) == {"baggage": "session.id=loud"}
            with session_context(user_id="ada"):  # nested: inherits the switch
                assert inject(ours) == {"baggage": "session.id=loud,user.id=ada"}
        assert inject(ours) == {}


def test_resume_can_propagate_a_captured_session() -> None:
    with session_context(session_id="captured") as captured:
        pass
    with session_context.resume(captured, propagate_baggage=True):
        assert inject(propagate.get_global_textmap()) == {"baggage": "session.id=captured"}


def test_extract_reads_nothing() -> None:
    ctx = otel_context.Context()
    assert SessionBaggagePropagator().extract({"baggage": "session.id=x"}, ctx) is ctx
    assert SessionBaggagePropagator().fields == {"baggage"}


def test_always_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="always must be a bool, not 'yes'"):
        SessionBaggagePropagator(always="yes")


def test_install_wraps_the_global_propagator_once_and_again_after_a_replacement() -> None:
    w3c = W3CBaggagePropagator()
    propagate.set_global_textmap(w3c)
    install_propagator()
    installed = propagate.get_global_textmap()
    install_propagator()
    assert propagate.get_global_textmap() is installed is not w3c
    with session_context(session_id="s", propagate_baggage=True):
        assert inject(installed) == {"baggage": "session.id=s"}

    propagate.set_global_textmap(w3c)  # the application replaces it
    install_propagator()
    assert propagate.get_global_textmap() is not w3c


def test_otel_propagators_environment_variable_loads_it_by_name() -> None:
    code = textwrap.dedent(
        """
        from opentelemetry import propagate
        from otel_genai_session import session_context

        carrier = {}
        with session_context(session_id="conv-env", customer_id="acme"):
            propagate.inject(carrier)
        print(carrier["baggage"])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"OTEL_PROPAGATORS": f"tracecontext,baggage,{ENTRY_POINT_NAME}", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "session.id=conv-env,customer.id=acme"
