"""The public surface: every ``__all__`` name exists, lazy names resolve, imports stay light."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from types import ModuleType

import pytest

import otel_genai_session as package
from otel_genai_session import environment_variables, handler, session

PUBLIC_MODULES = [
    "otel_genai_session",
    "otel_genai_session.attributes",
    "otel_genai_session.environment_variables",
    "otel_genai_session.executor",
    "otel_genai_session.handler",
    "otel_genai_session.logs",
    "otel_genai_session.privacy",
    "otel_genai_session.processor",
    "otel_genai_session.sampling",
    "otel_genai_session.splunk_context",
    "otel_genai_session.session",
    "otel_genai_session.types",
    "otel_genai_session.middleware",
    "otel_genai_session.propagation",
    "otel_genai_session.celery",
    "otel_genai_session._conflicts",
    "otel_genai_session._validation",
    "otel_genai_session.sampling._consistent_probability",
    "otel_genai_session.sampling._sampler_config",
]


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_names_exist(name: str) -> None:
    module = _module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "duplicate names in __all__"
    assert exported == sorted(exported)
    for member in exported:
        assert getattr(module, member) is not None, f"{name}.{member}"


@pytest.mark.parametrize("name", PUBLIC_MODULES[1:])
def test_public_classes_and_functions_are_exported(name: str) -> None:
    module = _module(name)
    defined = {
        member
        for member, value in vars(module).items()
        if not member.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == name
    }
    assert defined <= set(module.__all__)


def test_package_lazy_names_resolve_to_their_modules() -> None:
    for name in package.__all__:
        value = getattr(package, name)
        home = package._LAZY.get(name)
        if home is not None:
            assert value is getattr(importlib.import_module(f"otel_genai_session.{home}"), name)
    assert package.session_context is session.session_context
    assert package.TelemetryHandler is handler.TelemetryHandler


def test_package_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        exec("from otel_genai_session import no_such_name", {})


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from otel_genai_session import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(package.__all__)


def test_the_session_api_has_one_home() -> None:
    """The package root and ``session`` serve it; the handler no longer re-exports it
    (the seed's ``opentelemetry.util.genai.handler`` path is served by compat)."""
    for name in (
        "session_context",
        "set_session_context",
        "get_session_context",
        "clear_session_context",
        "SessionContext",
    ):
        assert getattr(package, name) is getattr(session, name)
        assert name in session.__all__
        assert name in package.__all__
        assert name not in handler.__all__
        assert not hasattr(handler, name)
    assert handler.__all__ == ["TelemetryHandler", "get_telemetry_handler"]


def test_each_public_name_has_one_module() -> None:
    """Besides the packages' re-exports (the root and ``middleware``), a public
    name is in the ``__all__`` of one public module only."""
    homes: dict[str, list[str]] = {}
    for name in PUBLIC_MODULES:
        if name in ("otel_genai_session", "otel_genai_session.middleware") or "._" in name:
            continue
        for member in _module(name).__all__:
            homes.setdefault(member, []).append(name)
    shared = {member: where for member, where in homes.items() if len(where) > 1}
    assert shared == {}


@pytest.mark.parametrize("name", environment_variables.__all__)
def test_environment_variable_constants_are_their_own_names(name: str) -> None:
    assert getattr(environment_variables, name) == name
    assert name.startswith("OTEL_INSTRUMENTATION_GENAI_")


def test_the_three_id_environment_variables_exist() -> None:
    for name in (
        "OTEL_INSTRUMENTATION_GENAI_SESSION_ID",
        "OTEL_INSTRUMENTATION_GENAI_USER_ID",
        "OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID",
    ):
        assert getattr(environment_variables, name) == name


def test_version_is_a_string() -> None:
    assert isinstance(package.__version__, str)
    assert package.__version__


def test_importing_the_package_does_not_load_the_sdk_or_handler() -> None:
    code = (
        "import sys\n"
        "import otel_genai_session as p\n"
        "heavy = [m for m in ('opentelemetry.sdk', 'opentelemetry.sdk.trace',\n"
        "    'otel_genai_session.handler', 'otel_genai_session.processor',\n"
        "    'otel_genai_session.types', 'otel_genai_session.logs',\n"
        "    'otel_genai_session.middleware.asgi', 'otel_genai_session.middleware.wsgi',\n"
        "    'starlette', 'flask', 'werkzeug') if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        "p.TelemetryHandler\n"
        "assert 'otel_genai_session.handler' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
