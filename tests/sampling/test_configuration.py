"""Configuration: wrong values fail at construction with the option and the value
in the message; the entry points and their argument; the module's import."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import entry_points

import pytest
from opentelemetry.sdk.trace.sampling import ParentBased

from otel_genai_session import sampling
from otel_genai_session.sampling import (
    ParentBasedSessionRatioSampler,
    SessionRatioSampler,
    genai_session_ratio,
    parentbased_genai_session_ratio,
)

from ._support import child_environment


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({"ratio": 1.5}, ValueError, "ratio must be from 0 to 1, got 1.5", id="above"),
        pytest.param({"ratio": -0.1}, ValueError, "got -0.1", id="negative"),
        pytest.param({"ratio": float("nan")}, ValueError, "got nan", id="nan"),
        pytest.param({"ratio": "0.1"}, TypeError, "ratio must be a number.*'0.1'", id="string"),
        pytest.param({"ratio": True}, TypeError, "not True", id="bool"),
        pytest.param({"ratio": None}, TypeError, "not None", id="none"),
        pytest.param(
            {"ratio": 0.1, "customer_ratios": [("acme", 1)]},
            TypeError,
            r"customer_ratios must be a mapping.*\[\('acme', 1\)\]",
            id="customers-not-mapping",
        ),
        pytest.param(
            {"ratio": 0.1, "customer_ratios": {"acme": 2}},
            ValueError,
            r"customer_ratios\['acme'\] must be from 0 to 1, got 2",
            id="customer-ratio",
        ),
        pytest.param(
            {"ratio": 0.1, "customer_ratios": {7: 1.0}},
            TypeError,
            "keys must be non-empty strings, not 7",
            id="customer-key",
        ),
        pytest.param(
            {"ratio": 0.1, "always_keep": {"conv-1"}},
            TypeError,
            r"always_keep must be a callable.*\{'conv-1'\}",
            id="always-keep",
        ),
        pytest.param(
            {"ratio": 0.1, "fallback": "traceidratio"},
            TypeError,
            "fallback must be an OpenTelemetry SDK Sampler, not 'traceidratio'",
            id="fallback",
        ),
    ],
)
@pytest.mark.parametrize("sampler", [SessionRatioSampler, ParentBasedSessionRatioSampler])
def test_invalid_options_fail_at_construction(
    sampler: Callable[..., object], kwargs: dict[str, object], error: type, message: str
) -> None:
    options = dict(kwargs)
    ratio = options.pop("ratio")
    with pytest.raises(error, match=message):
        sampler(ratio, **options)


def test_invalid_parent_delegates_fail_at_construction() -> None:
    with pytest.raises(TypeError, match=r"local_parent_sampled must be .*Sampler, not None"):
        ParentBasedSessionRatioSampler(0.1, local_parent_sampled=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argument", "ratio", "customers"),
    [
        pytest.param("0.1", 0.1, 0, id="ratio"),
        pytest.param(" 0.25 ", 0.25, 0, id="spaces"),
        pytest.param("0.1,acme=1,globex=0", 0.1, 2, id="customers"),
        pytest.param(None, 1.0, 0, id="unset"),
        pytest.param("", 1.0, 0, id="empty"),
    ],
)
def test_the_sampler_argument(argument: str | None, ratio: float, customers: int) -> None:
    plain = genai_session_ratio(argument)
    assert isinstance(plain, SessionRatioSampler)
    assert plain.ratio == ratio
    description = f"SessionRatioSampler{{{ratio}{f',customers={customers}' if customers else ''}}}"
    assert plain.get_description() == description
    parent_based = parentbased_genai_session_ratio(argument)
    assert isinstance(parent_based, ParentBased)
    assert parent_based.get_description().startswith(f"ParentBased{{root:{description}")


@pytest.mark.parametrize(
    "argument",
    ["ten percent", "1.1", "-1", "nan", "0.1,acme", "0.1,=1", "0.1,acme=2", "0.1,a=1,a=0"],
)
def test_an_invalid_sampler_argument_names_the_variable_and_shows_the_value(argument: str) -> None:
    for factory in (genai_session_ratio, parentbased_genai_session_ratio):
        with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER_ARG must be a ratio") as error:
            factory(argument)
        assert repr(argument) in str(error.value)


def test_both_names_are_registered_samplers() -> None:
    found = {ep.name: ep for ep in entry_points(group="opentelemetry_traces_sampler")}
    assert found["genai_session_ratio"].load() is genai_session_ratio
    assert found["parentbased_genai_session_ratio"].load() is parentbased_genai_session_ratio


def test_the_public_names_are_sorted_and_exist() -> None:
    assert sampling.__all__ == sorted(sampling.__all__)
    for name in sampling.__all__:
        assert getattr(sampling, name) is not None


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_environment(),
        check=False,
    )


def test_without_the_sdk_the_import_error_says_what_to_install() -> None:
    result = _run(
        "import sys\n"
        "sys.modules['opentelemetry.sdk'] = None  # as if the SDK were not installed\n"
        "import otel_genai_session.sampling\n"
    )
    assert result.returncode != 0
    assert "ImportError: otel_genai_session.sampling needs the OpenTelemetry SDK" in result.stderr
    assert "pip install 'otel-genai-session[sdk]'" in result.stderr


def test_importing_the_package_does_not_import_the_sampler() -> None:
    result = _run(
        "import sys, otel_genai_session\n"
        "assert 'otel_genai_session.sampling' not in sys.modules\n"
        "assert 'opentelemetry.sdk' not in sys.modules\n"
    )
    assert result.returncode == 0, result.stderr
