"""Fixtures for the hostile-input, fault and leak suite.

Warnings about dropped ids are logged once per cause per process; each test here
starts with that registry empty so every cause it triggers is actually logged,
and the log-safety assertions see real records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from otel_genai_session import _validation


@pytest.fixture(autouse=True)
def _fresh_reports() -> Iterator[None]:
    _validation._reported.clear()
    yield
    _validation._reported.clear()


@pytest.fixture
def genai_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog capturing everything from this package and OpenTelemetry at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="opentelemetry")
    return caplog
