"""Fixtures of the zero-code tests: the OTLP receiver, the Operator's layout, Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.celery.conftest import redis_socket  # noqa: F401 - the real redis-server fixture

from .layouts import app_environment, operator_directory, operator_pythonpath
from .receiver import Receiver, otlp_receiver


@dataclass(frozen=True)
class Operator:
    """The Operator's layout: the injected directory and the app's own python."""

    python: str
    pythonpath: str


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="session")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Operator:
    """Built once (cached across sessions); needs PyPI the first time."""
    directory = operator_directory()
    python = app_environment(tmp_path_factory.mktemp("wheel"))
    return Operator(str(python), operator_pythonpath(directory))
