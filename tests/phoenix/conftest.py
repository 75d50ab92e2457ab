"""One real Phoenix server for the folder, and a fresh project for each test.

This folder runs in the demo's environment (``.venv-official``), with Phoenix
from its own (``.venv-phoenix``, about 850 MB, so in no other environment):
``python3 tasks.py phoenix`` creates both and runs ``pytest tests/phoenix``; the
main configuration ignores the folder.

Phoenix keys sessions on ``session.id`` alone, across projects, and the demo's
session ids are fixed: each test's project is deleted when the test ends (with
its sessions and their traces), so that no test sees another's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from ._api import PhoenixAPI
from ._server import PhoenixServer, phoenix_executable


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoenixServer]:
    with PhoenixServer(phoenix_executable(), tmp_path_factory.mktemp("phoenix")) as server:
        yield server


@pytest.fixture
def api(phoenix: PhoenixServer) -> PhoenixAPI:
    return PhoenixAPI(phoenix.url)


@pytest.fixture
def new_project(api: PhoenixAPI) -> Iterator[Callable[[], str]]:
    """``new_project()``: a project name unique to this test, deleted after it."""
    names: list[str] = []

    def make() -> str:
        names.append(f"otel-genai-session-test-{uuid.uuid4().hex[:8]}")
        return names[-1]

    yield make
    for name in names:
        api.delete_project(name)


@pytest.fixture
def project(new_project: Callable[[], str]) -> str:
    return new_project()
