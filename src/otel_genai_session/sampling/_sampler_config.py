"""Checks of the samplers' configuration: wrong values fail at construction.

A misconfigured sampler must not become a silent "keep everything" or "keep
nothing" in production, so each check raises ``TypeError``/``ValueError``
naming the option and showing the value. ``OTEL_TRACES_SAMPLER_ARG`` is parsed
here too: the SDK's configurator logs the ValueError and falls back to its
default sampler.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

from opentelemetry.sdk.trace.sampling import Sampler

__all__ = [
    "check_always_keep",
    "check_customer_ratios",
    "check_ratio",
    "check_sampler",
    "parse_sampler_arg",
]

ARG_VARIABLE: Final = "OTEL_TRACES_SAMPLER_ARG"
ARG_FORMAT: Final = "a ratio from 0 to 1, optionally followed by ',customer=ratio' pairs"


def check_ratio(name: str, value: object) -> float:
    """``value`` as a float in [0, 1]; booleans, NaN and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number from 0 to 1, not {value!r}")
    ratio = float(value)
    if not 0.0 <= ratio <= 1.0:  # NaN fails both comparisons
        raise ValueError(f"{name} must be from 0 to 1, got {value!r}")
    return ratio


def check_customer_ratios(value: object) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"customer_ratios must be a mapping of customer id to ratio, not {value!r}")
    checked = {}
    for customer, ratio in value.items():
        if not isinstance(customer, str) or not customer:
            raise TypeError(f"customer_ratios keys must be non-empty strings, not {customer!r}")
        checked[customer] = check_ratio(f"customer_ratios[{customer!r}]", ratio)
    return checked


def check_always_keep(value: object) -> Callable[[str], bool] | None:
    if value is not None and not callable(value):
        raise TypeError(f"always_keep must be a callable taking a session id, not {value!r}")
    return value


def check_sampler(name: str, value: object) -> Sampler:
    if not isinstance(value, Sampler):
        raise TypeError(f"{name} must be an OpenTelemetry SDK Sampler, not {value!r}")
    return value


def parse_sampler_arg(argument: str | None) -> tuple[float, dict[str, float]]:
    """``RATIO[,customer=RATIO...]`` -> (ratio, customer ratios); unset or empty is 1.0.

    Customer ids containing ``,`` or ``=`` cannot be given this way (pass
    ``customer_ratios`` in code).
    """
    if argument is None or not argument.strip():
        return 1.0, {}
    first, *pairs = (part.strip() for part in argument.split(","))
    ratio = _parse_ratio(first, argument)
    customers: dict[str, float] = {}
    for pair in pairs:
        customer, equals, value = pair.partition("=")
        customer = customer.strip()
        if not equals or not customer or customer in customers:
            raise ValueError(f"{ARG_VARIABLE} must be {ARG_FORMAT}; got {argument!r}")
        customers[customer] = _parse_ratio(value.strip(), argument)
    return ratio, customers


def _parse_ratio(text: str, argument: str) -> float:
    try:
        ratio = float(text)
    except ValueError:
        ratio = math.nan
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"{ARG_VARIABLE} must be {ARG_FORMAT}; got {argument!r}")
    return ratio
