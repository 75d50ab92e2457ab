"""Packaging: the core wheel ships nothing under opentelemetry/, the compat wheel
ships only opentelemetry/util/genai/, and compat beside a rival is reported."""

from __future__ import annotations

import importlib.util
import logging
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import opentelemetry
import pytest

from otel_genai_session import __version__, _conflicts
from otel_genai_session._conflicts import (
    COMPAT_DISTRIBUTION,
    RIVAL_DISTRIBUTIONS,
    find_distributions,
    warn_about_conflicts,
)

ROOT = Path(__file__).resolve().parents[1]

BUILD_WHEEL = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"


def _build(project: Path, out: Path) -> Path:
    """Build a wheel offline with the installed hatchling (no build isolation)."""
    result = subprocess.run(
        [sys.executable, "-c", BUILD_WHEEL, str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, zipfile.ZipFile]:
    if importlib.util.find_spec("hatchling") is None:
        pytest.fail("hatchling is not installed (it is in the test extra)")
    return {
        name: zipfile.ZipFile(_build(project, tmp_path_factory.mktemp(name)))
        for name, project in (("core", ROOT), ("compat", ROOT / "compat"))
    }


def _metadata(wheel: zipfile.ZipFile) -> str:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    return wheel.read(name).decode()


def test_core_wheel_ships_only_its_own_package(wheels: dict[str, zipfile.ZipFile]) -> None:
    names = wheels["core"].namelist()
    assert "otel_genai_session/py.typed" in names
    assert "otel_genai_session/session.py" in names
    assert "otel_genai_session/middleware/asgi.py" in names
    stray = [n for n in names if not n.startswith("otel_genai_session/") and ".dist-info/" not in n]
    assert stray == []
    assert not any(n.startswith("opentelemetry/") for n in names)


def test_core_wheel_metadata(wheels: dict[str, zipfile.ZipFile]) -> None:
    metadata = _metadata(wheels["core"])
    assert "Name: otel-genai-session\n" in metadata
    assert f"Version: {__version__}\n" in metadata
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    # A library depends on the OpenTelemetry API; the SDK is an extra.
    assert "Requires-Dist: opentelemetry-api>=1.43" in requires
    assert not [r for r in requires if "opentelemetry-sdk" in r and "extra ==" not in r]
    assert not [r for r in requires if "typing-extensions" in r]
    assert "Requires-Dist: opentelemetry-sdk>=1.43; extra == 'sdk'" in requires


def test_core_wheel_registers_the_instrumentor_without_depending_on_it(
    wheels: dict[str, zipfile.ZipFile],
) -> None:
    """opentelemetry-instrument and the Operator find it by its entry point; only
    the `instrument` extra (not the core) needs opentelemetry-instrumentation, and
    there is no `instruments` extra (the CLI would check it for conflicts)."""
    name = next(n for n in wheels["core"].namelist() if n.endswith(".dist-info/entry_points.txt"))
    entry_points = wheels["core"].read(name).decode()
    assert "[opentelemetry_instrumentor]\ngenai_session = " in entry_points
    assert "otel_genai_session.instrumentor:GenAISessionInstrumentor" in entry_points
    requires = [
        line for line in _metadata(wheels["core"]).splitlines() if line.startswith("Requires-Dist:")
    ]
    instrumentation = [r for r in requires if "opentelemetry-instrumentation>=" in r]
    assert instrumentation and all("extra ==" in r for r in instrumentation)
    assert "Requires-Dist: opentelemetry-instrumentation>=0.51b0; extra == 'instrument'" in requires
    assert not [r for r in requires if "extra == 'instruments'" in r]


def test_compat_wheel_ships_only_the_genai_package(wheels: dict[str, zipfile.ZipFile]) -> None:
    names = wheels["compat"].namelist()
    assert "opentelemetry/__init__.py" not in names
    assert "opentelemetry/util/__init__.py" not in names
    for module in ("__init__", "handler", "types", "processor", "logs", "py.typed"):
        suffix = "" if module == "py.typed" else ".py"
        assert f"opentelemetry/util/genai/{module}{suffix}" in names
    stray = [
        n for n in names if not n.startswith("opentelemetry/util/genai/") and ".dist-info/" not in n
    ]
    assert stray == []


def test_compat_wheel_pins_the_core_of_its_version(wheels: dict[str, zipfile.ZipFile]) -> None:
    metadata = _metadata(wheels["compat"])
    assert "Name: otel-genai-session-compat\n" in metadata
    assert f"Version: {__version__}\n" in metadata
    assert f"Requires-Dist: otel-genai-session=={__version__}" in metadata
    assert "License-File: LICENSE" in metadata


def test_the_two_wheels_share_no_file(wheels: dict[str, zipfile.ZipFile]) -> None:
    core = {n for n in wheels["core"].namelist() if ".dist-info/" not in n}
    compat = {n for n in wheels["compat"].namelist() if ".dist-info/" not in n}
    assert core and compat
    assert core.isdisjoint(compat)


def test_compat_holds_no_logic() -> None:
    """Every compat module only re-exports: imports, ``__all__`` and a docstring
    (the two packages' roots also forward their lazy names)."""
    for path in sorted((ROOT / "compat" / "src").rglob("*.py")):
        text = path.read_text()
        assert "class " not in text, path
        defs = [line for line in text.splitlines() if line.startswith("def ")]
        assert defs in ([], ["def __getattr__(name: str) -> Any:"]), path


# -- compat installed beside a rival ----------------------------------------------


def _dist_info(directory: Path, name: str) -> Path:
    path = directory / name
    path.mkdir(parents=True)
    (path / "METADATA").write_text("Metadata-Version: 2.1\n")
    return path


def test_distribution_names() -> None:
    assert COMPAT_DISTRIBUTION == "otel-genai-session-compat"
    assert RIVAL_DISTRIBUTIONS == ("opentelemetry-util-genai", "splunk-otel-util-genai")


def test_find_distributions(tmp_path: Path) -> None:
    site_a, site_b = tmp_path / "a", tmp_path / "b"
    upstream = _dist_info(site_a, "opentelemetry_util_genai-1.3b0.dist-info")
    splunk = _dist_info(site_b, "splunk_otel_util_genai-0.1.3.dist-info")
    upper = _dist_info(site_b, "OpenTelemetry_Util_GenAI-1.0.dist-info")
    compat = _dist_info(site_b, "otel_genai_session_compat-0.2.0.dist-info")
    for harmless in (
        "otel_genai_session-0.2.0.dist-info",
        "opentelemetry_util_genai_extra-1.0.dist-info",
        "opentelemetry_util_http-0.50b0.dist-info",
        "opentelemetry_util_genai-0.1b0.egg-link",
    ):
        _dist_info(site_a, harmless)
    (site_a / "splunk_otel_util_genai-9.dist-info.txt").write_text("not a dist-info")

    names = (COMPAT_DISTRIBUTION, *RIVAL_DISTRIBUTIONS)
    found = find_distributions([str(site_a), str(site_b), str(site_a), str(tmp_path / "x")], names)
    assert sorted(found) == sorted(
        [
            ("opentelemetry-util-genai", str(upstream)),
            ("splunk-otel-util-genai", str(splunk)),
            ("opentelemetry-util-genai", str(upper)),
            ("otel-genai-session-compat", str(compat)),
        ]
    )
    assert find_distributions([], names) == []


def _site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *dist_infos: str) -> Path:
    """Pretend ``opentelemetry/`` lives in ``tmp_path`` (a site-packages) beside these."""
    (tmp_path / "opentelemetry").mkdir()
    monkeypatch.setattr(opentelemetry, "__path__", [str(tmp_path / "opentelemetry")])
    for name in dist_infos:
        _dist_info(tmp_path, name)
    return tmp_path


@pytest.mark.parametrize(
    "rival", ["opentelemetry_util_genai-1.3b0.dist-info", "splunk_otel_util_genai-0.1.3.dist-info"]
)
def test_compat_beside_a_rival_logs_one_clear_warning(
    rival: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = _site(tmp_path, monkeypatch, "otel_genai_session_compat-0.2.0.dist-info", rival)
    with caplog.at_level(logging.DEBUG, logger="otel_genai_session"):
        warn_about_conflicts()
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    name = rival.split("-")[0].replace("_", "-")
    assert COMPAT_DISTRIBUTION in message and name in message
    assert str(site / rival) in message
    assert f"pip uninstall {COMPAT_DISTRIBUTION}" in message
    assert f"pip uninstall {name}" in message
    assert "otel_genai_session" in message


@pytest.mark.parametrize(
    "installed",
    [
        # the core beside the official stack: no conflict at all
        ("otel_genai_session-0.2.0.dist-info", "opentelemetry_util_genai-1.3b0.dist-info"),
        ("otel_genai_session_compat-0.2.0.dist-info",),
        (),
    ],
)
def test_no_warning_without_both(
    installed: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _site(tmp_path, monkeypatch, *installed)
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        warn_about_conflicts()
    assert caplog.records == []


def test_warn_about_conflicts_never_raises(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(opentelemetry, "__path__", None)
    with caplog.at_level(logging.DEBUG, logger="otel_genai_session"):
        warn_about_conflicts()
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_this_environment_has_no_rival() -> None:
    roots = [str(Path(p).parent) for p in opentelemetry.__path__]
    assert _conflicts.find_distributions(roots, RIVAL_DISTRIBUTIONS) == []


@pytest.mark.parametrize("project", [ROOT, ROOT / "compat"], ids=["core", "compat"])
def test_hatchling_lower_bound_builds_license_metadata(project: Path) -> None:
    """hatchling 1.21-1.25 reject ``license-files`` as a list and 1.26 builds a wheel
    without the license metadata (PEP 639 came in 1.27): every bound must be >= 1.27."""
    text = (project / "pyproject.toml").read_text()
    bounds = re.findall(r'"hatchling>=([0-9.]+)"', text)
    assert bounds, "hatchling is named with a lower bound"
    assert all(tuple(map(int, bound.split("."))) >= (1, 27) for bound in bounds), bounds
    assert not re.findall(r'"hatchling(?![>.])', text)  # none unbounded


def _pip_install_offline(requirement: str, target: Path, cwd: Path) -> None:
    """``pip install requirement`` as the README says, offline: no index, no build
    isolation (the installed hatchling builds), no dependencies (what pip would
    fetch from PyPI), into ``target``."""
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    command += ["--no-index", "--no-build-isolation", "--no-deps", "--target", str(target)]
    result = subprocess.run(
        [*command, requirement], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_readme_install_lines_work_from_a_fresh_clone_and_a_git_url(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install ".[sdk]"' in readme
    assert 'pip install "otel-genai-session[sdk] @ git+URL"' in readme
    clone = tmp_path / "otel-genai-session"
    cloned = subprocess.run(
        ["git", "clone", "-q", str(ROOT), str(clone)], capture_output=True, text=True, timeout=120
    )
    assert cloned.returncode == 0, cloned.stderr

    for name, requirement, cwd in (
        ("from-clone", ".[sdk]", clone),
        ("from-git-url", f"otel-genai-session[sdk] @ git+{clone.as_uri()}", tmp_path),
    ):
        target = tmp_path / name
        _pip_install_offline(requirement, target, cwd)

        (metadata,) = target.glob("otel_genai_session-*.dist-info/METADATA")
        assert re.search(
            r"^Requires-Dist: opentelemetry-sdk.*extra == .sdk.", metadata.read_text(), re.M
        )
        imported = subprocess.run(
            [sys.executable, "-c", "import otel_genai_session as m; print(m.__file__)"],
            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.startswith(str(target)), imported.stdout
