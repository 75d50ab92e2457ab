"""The install-order matrix (issue 14's done-when), both orders, in fresh venvs.

``scripts/install_matrix.py`` installs the checkout and
``opentelemetry-instrumentation-genai-openai openai`` in either order, then
checks ``pip check``, the files two distributions share, the imports, the end
to end test against the installed core, and an uninstall of the other side.
It needs the package index, as ``python3 tasks.py test`` does to set up, and
takes about two minutes (both orders side by side).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1500)
def test_both_install_orders_work_beside_the_official_stack(tmp_path: Path) -> None:
    report = tmp_path / "matrix.json"

    result = subprocess.run(
        [sys.executable, "scripts/install_matrix.py", "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1400,
        check=False,
    )

    assert report.exists(), result.stdout + result.stderr
    orders = {entry["order"]: entry for entry in json.loads(report.read_text())}
    assert set(orders) == {"core-first", "stack-first"}
    for order, entry in orders.items():
        assert entry["pip_check"] == "clean", order
        assert entry["shared_files"] == {}, order
        assert entry["core_files_under_opentelemetry"] == [], order
        assert entry["imports"] and set(entry["imports"].values()) == {"ok"}, entry["imports"]
        assert entry["import_log"] == "", order  # no conflict warning, nothing logged
        assert entry["end_to_end"] == "3 passed", entry["end_to_end"]
        assert set(entry["after_uninstall"].values()) == {"ok"}, entry["after_uninstall"]
        assert entry["ok"] is True
    assert result.returncode == 0, result.stdout + result.stderr
