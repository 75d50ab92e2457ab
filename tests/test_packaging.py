"""Packaging: the wheel ships only our subpackage; rival distributions are reported."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import opentelemetry.util
from opentelemetry.util.genai import _conflicts
from opentelemetry.util.genai._conflicts import (
    CONFLICTING_DISTRIBUTIONS,
    find_conflicts,
    warn_about_conflicts,
)

ROOT = Path(__file__).resolve().parents[1]

BUILD_WHEEL = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel offline with the installed hatchling (no build isolation)."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling is not installed: the wheel cannot be built offline")
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-c", BUILD_WHEEL, str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("*.whl")
    return built


def test_wheel_contains_py_typed(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "opentelemetry/util/genai/py.typed" in names
    assert "opentelemetry/util/genai/__init__.py" in names
    assert "opentelemetry/util/genai/session.py" in names


def test_wheel_does_not_ship_the_namespace_packages(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "opentelemetry/__init__.py" not in names
    assert "opentelemetry/util/__init__.py" not in names


def test_wheel_ships_only_our_subpackage_and_metadata(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    stray = [
        name
        for name in names
        if not name.startswith("opentelemetry/util/genai/") and ".dist-info/" not in name
    ]
    assert stray == []
    assert wheel.name.startswith("otel_genai_session-")
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Name: otel-genai-session" in text
    assert "Requires-Dist: opentelemetry-api" in text


# -- rival distributions providing opentelemetry.util.genai -------------------------


def _dist_info(directory: Path, name: str) -> Path:
    path = directory / name
    path.mkdir(parents=True)
    (path / "METADATA").write_text("Metadata-Version: 2.1\n")
    return path


def test_conflicting_distribution_names() -> None:
    assert CONFLICTING_DISTRIBUTIONS == ("opentelemetry-util-genai", "splunk-otel-util-genai")


def test_find_conflicts(tmp_path: Path) -> None:
    site_a, site_b = tmp_path / "a", tmp_path / "b"
    upstream = _dist_info(site_a, "opentelemetry_util_genai-0.1b0.dist-info")
    splunk = _dist_info(site_b, "splunk_otel_util_genai-0.1.3.dist-info")
    upper = _dist_info(site_b, "OpenTelemetry_Util_GenAI-1.0.dist-info")
    for harmless in (
        "otel_genai_session-0.1.0.dist-info",
        "opentelemetry_util_genai_extra-1.0.dist-info",
        "opentelemetry_util_http-0.50b0.dist-info",
        "opentelemetry_util_genai-0.1b0.egg-link",
    ):
        _dist_info(site_a, harmless)
    (site_a / "splunk_otel_util_genai-9.dist-info.txt").write_text("not a dist-info")

    found = find_conflicts([str(site_a), str(site_b), str(site_a), str(tmp_path / "missing")])
    assert sorted(found) == sorted(
        [
            ("opentelemetry-util-genai", str(upstream)),
            ("splunk-otel-util-genai", str(splunk)),
            ("opentelemetry-util-genai", str(upper)),
        ]
    )


def test_find_conflicts_nothing(tmp_path: Path) -> None:
    _dist_info(tmp_path, "otel_genai_session-0.1.0.dist-info")
    assert find_conflicts([str(tmp_path)]) == []
    assert find_conflicts([]) == []
    assert find_conflicts([str(tmp_path / "missing")]) == []


def _site_with_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pretend ``opentelemetry/util`` lives in ``tmp_path`` (a site-packages)."""
    (tmp_path / "opentelemetry" / "util").mkdir(parents=True)
    monkeypatch.setattr(opentelemetry.util, "__path__", [str(tmp_path / "opentelemetry" / "util")])
    return tmp_path


def test_warn_about_conflicts_logs_one_clear_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    site = _site_with_package(tmp_path, monkeypatch)
    rival = _dist_info(site, "splunk_otel_util_genai-0.1.3.dist-info")
    with caplog.at_level(logging.DEBUG, logger="opentelemetry.util.genai"):
        warn_about_conflicts()
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "splunk-otel-util-genai" in message
    assert str(rival) in message
    assert "pip uninstall splunk-otel-util-genai" in message
    assert "overwrite" in message


def test_warn_about_conflicts_silent_without_rivals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _site_with_package(tmp_path, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="opentelemetry.util.genai"):
        warn_about_conflicts()
    assert caplog.records == []


def test_warn_about_conflicts_never_raises(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(opentelemetry.util, "__path__", None)
    with caplog.at_level(logging.DEBUG, logger="opentelemetry.util.genai"):
        warn_about_conflicts()
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_this_environment_has_no_rival(caplog: pytest.LogCaptureFixture) -> None:
    roots = [str(Path(p).parent.parent) for p in opentelemetry.util.__path__]
    assert _conflicts.find_conflicts(roots) == []
