"""The two zero-code set-ups, as commands for :func:`tests.ecosystem.servers.running`.

- **CLI**: ``opentelemetry-instrument`` from the test environment in front of
  the server command.
- **Operator**: what the OpenTelemetry Operator's Python image holds and its
  init container injects: ``opentelemetry-distro``, the OTLP exporter and the
  instrumentations installed with ``pip install --target DIR``, and
  ``PYTHONPATH=DIR/opentelemetry/instrumentation/auto_instrumentation:DIR`` so
  that DIR's ``sitecustomize`` instruments the app. The app runs in an
  environment of its own (its framework, its server and this package, nothing
  of OpenTelemetry's but the API), started with a plain ``python -m uvicorn`` /
  ``python -m gunicorn``.

Both environments need PyPI once: they are built into a cache under the test
environment (``.venv/zerocode-cache``), keyed by the versions pinned, and
reused by every later session; only this package's wheel is rebuilt and
reinstalled each session.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import venv
from importlib.metadata import version
from pathlib import Path
from typing import Final

import pytest

from tests.ecosystem.servers import TESTS_DIR, UVICORN_ON_FD
from tests.test_packaging import _build as build_wheel

ROOT: Final = TESTS_DIR.parent
APPS_ROOT: Final = str(Path(__file__).resolve().parent)
"""The apps' working directory: they import as ``apps.*`` (not under tests/, whose
``celery`` package would shadow Celery)."""
BIN: Final = Path(sys.executable).parent
CLI: Final = BIN / "opentelemetry-instrument"
CACHE: Final = Path(sys.prefix) / "zerocode-cache"
INSTALL_TIMEOUT: Final = 600

needs_cli: Final = pytest.mark.skipif(
    not CLI.exists() or importlib.util.find_spec("opentelemetry.distro") is None,
    reason="needs opentelemetry-instrument and opentelemetry-distro (the 'test' extra)",
)

# What the Operator's image installs (its requirements.txt, trimmed to what the
# apps use), at the versions of the test environment.
OPERATOR_PACKAGES: Final = (
    "opentelemetry-distro",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-instrumentation-asgi",
    "opentelemetry-instrumentation-fastapi",
    "opentelemetry-instrumentation-starlette",
    "opentelemetry-instrumentation-wsgi",
    "opentelemetry-instrumentation-flask",
    "opentelemetry-instrumentation-django",
    "opentelemetry-instrumentation-httpx",
    "opentelemetry-instrumentation-logging",
    "opentelemetry-instrumentation-celery",
)
# The application's own environment: its framework and server, and our package's
# own dependencies (the OpenTelemetry API only).
APP_PACKAGES: Final = (
    "fastapi",
    "starlette",
    "uvicorn",
    "flask",
    "gunicorn",
    "django",
    "celery",
    "redis",
    "httpx",
    "opentelemetry-api",
    "opentelemetry-semantic-conventions",
)


def _pins(names: tuple[str, ...]) -> list[str]:
    return [f"{name}=={version(name)}" for name in names]


def _key(pins: list[str]) -> str:
    text = "\n".join([sys.version, *pins])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pip(python: str, *args: str) -> None:
    result = subprocess.run(
        [python, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{result.stderr[-4000:]}")


def _cached(name: str, pins: list[str], build: object) -> Path:
    """``CACHE/name-key``, built by ``build(path)`` into a scratch directory first
    (so a half-built one is never used), then renamed into place."""
    target = CACHE / f"{name}-{_key(pins)}"
    if (target / ".complete").exists():
        return target
    scratch = CACHE / f".{target.name}.{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    build(scratch)  # type: ignore[operator]
    (scratch / ".complete").write_text("\n".join(pins))
    try:
        scratch.rename(target)
    except OSError:  # another session got there first
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def operator_directory() -> Path:
    """The Operator's auto-instrumentation directory (``pip install --target``)."""
    pins = _pins(OPERATOR_PACKAGES)

    def build(path: Path) -> None:
        _pip(sys.executable, "install", "--target", str(path), *pins)

    return _cached("operator", pins, build)


def app_environment(wheel_dir: Path) -> Path:
    """The app's own virtualenv's python, with this package's wheel freshly installed."""
    pins = _pins(APP_PACKAGES)

    def build(path: Path) -> None:
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
        _pip(str(path / "bin" / "python"), "install", *pins)

    python = _cached("app", pins, build) / "bin" / "python"
    _pip(
        str(python), "install", "--no-deps", "--force-reinstall", str(build_wheel(ROOT, wheel_dir))
    )
    return python


def operator_pythonpath(directory: Path) -> str:
    """PYTHONPATH as the Operator sets it, then the app's own code (its working directory)."""
    return os.pathsep.join(
        [
            str(directory / "opentelemetry/instrumentation/auto_instrumentation"),
            str(directory),
            APPS_ROOT,
        ]
    )


def uvicorn_cli(app: str) -> list[str]:
    """``opentelemetry-instrument python -m uvicorn``, on the inherited socket."""
    return [str(CLI), sys.executable, "-c", UVICORN_ON_FD, app, "{fd}", "h11"]


def gunicorn_cli(app: str) -> list[str]:
    return [str(CLI), str(BIN / "gunicorn"), "-w", "1", "-b", "fd://{fd}", app]


def uvicorn_plain(app: str) -> list[str]:
    return ["-m", "uvicorn", "--fd", "{fd}", "--no-access-log", app]


def gunicorn_plain(app: str) -> list[str]:
    return ["-m", "gunicorn", "-w", "1", "-b", "fd://{fd}", app]
