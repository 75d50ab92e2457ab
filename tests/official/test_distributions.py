"""This environment: the core beside opentelemetry-util-genai, each with its own files.

The core is installed editable here (its RECORD lists a ``.pth``, not the
package), so the wheel that ``pip install <checkout>`` would install is built
offline and its files compared with every installed distribution's RECORD.
scripts/install_matrix.py (test_install_order) does the same on real installs.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_WHEEL = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"


@pytest.fixture(scope="module")
def core_wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-c", BUILD_WHEEL, str(out)], cwd=ROOT, check=True, timeout=120)
    (wheel,) = out.glob("otel_genai_session-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if ".dist-info/" not in name}


def _installed_files(distribution: str) -> set[str]:
    files = metadata.distribution(distribution).files or []
    return {str(f) for f in files if ".dist-info/" not in str(f) and "__pycache__" not in str(f)}


def test_the_core_shares_no_file_with_util_genai(core_wheel_files: set[str]) -> None:
    util_genai = _installed_files("opentelemetry-util-genai")

    assert "opentelemetry/util/genai/handler.py" in util_genai
    assert "otel_genai_session/processor.py" in core_wheel_files
    assert core_wheel_files.isdisjoint(util_genai)


def test_the_core_shares_no_file_with_any_installed_distribution(
    core_wheel_files: set[str],
) -> None:
    clashes = {
        (dist.metadata["Name"], path)
        for dist in metadata.distributions()
        if dist.metadata["Name"] != "otel-genai-session"
        for path in core_wheel_files & _installed_files(dist.metadata["Name"])
    }
    assert clashes == set()


def test_pip_check_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_compat_here_and_opentelemetry_util_genai_is_upstreams() -> None:
    """Compat and opentelemetry-util-genai never share an environment."""
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("otel-genai-session-compat")
    from opentelemetry.util.genai import environment_variables, handler

    assert "OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK" in vars(environment_variables)
    owned = {str(f.locate()) for f in metadata.distribution("opentelemetry-util-genai").files or []}
    assert handler.__file__ in owned


def test_importing_the_core_logs_nothing_and_loads_neither_the_stack_nor_the_sdk() -> None:
    code = (
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, level=logging.DEBUG)\n"
        "import otel_genai_session\n"
        "from otel_genai_session.middleware import GenAISessionMiddleware\n"
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.util.genai',"
        " 'opentelemetry.sdk', 'openai', 'starlette', 'fastapi'))]\n"
        "print(sorted(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout == "[]\n", result.stdout
    assert result.stderr == ""
