"""Import section: what ``from otel_genai_session.middleware import
GenAISessionMiddleware`` adds on top of ``import starlette.applications``.

Each run is a fresh interpreter (nothing cached in ``sys.modules``; the
``.pyc`` files are warm after a first, untimed run); the figure is the median
CPU time of the second import (``time.process_time``: on a shared VM the wall
clock also counts the neighbours' turns), with whether the OpenTelemetry SDK
got imported.
``python -X importtime`` then names the modules that cost the most.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

from _harness import Result, Settings

__all__ = ["run"]

TARGET = "from otel_genai_session.middleware import GenAISessionMiddleware"
_TIMED = f"""
import sys, time
import starlette.applications
started = time.process_time()
{TARGET}
elapsed = time.process_time() - started
sdk = any(name.startswith("opentelemetry.sdk") for name in sys.modules)
print(elapsed, int(sdk))
"""
_BASE = """
import time
started = time.process_time()
import starlette.applications
print(time.process_time() - started)
"""
_PROFILED = f"import starlette.applications, sys; sys.stderr.write('@@mark\\n'); {TARGET}"


def _python(code: str, cache: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter whose .pyc files live in ``cache``.

    As an installed package's would: PYTHONDONTWRITEBYTECODE (set in some dev
    shells) would make every run compile every module from source, and the
    prefix keeps the .pyc files out of the work tree.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True, text=True, check=True, timeout=60, env=env,
    )  # fmt: skip


def top_imports(cache: str, count: int = 6) -> list[tuple[str, int, int]]:
    """(module, self us, cumulative us) of the slowest imports the target adds."""
    stderr = _python(_PROFILED, cache, "-X", "importtime").stderr
    entries = []
    for line in stderr.split("@@mark\n", 1)[-1].splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[1].strip().isdigit():
            self_us = int(parts[0].split(":")[1])
            entries.append((parts[2].strip(), self_us, int(parts[1])))
    return sorted(entries, key=lambda entry: -entry[1])[:count]


def run(settings: Settings, notes: list[str]) -> list[Result]:
    with tempfile.TemporaryDirectory() as cache:
        _python(_TIMED, cache)  # compile and cache the .pyc files
        deltas, bases, sdk = [], [], False
        for _ in range(settings.import_runs):
            elapsed, imported_sdk = _python(_TIMED, cache).stdout.split()
            deltas.append(float(elapsed) * 1e6)
            sdk = sdk or imported_sdk == "1"
            bases.append(float(_python(_BASE, cache).stdout) * 1e6)
        top = top_imports(cache)
    notes.append(
        "import: slowest modules it adds (self us / cumulative us): "
        + ", ".join(f"{name} {own}/{total}" for name, own, total in top)
    )
    base = statistics.median(bases)
    delta = statistics.median(deltas)
    return [
        Result("import", "fresh interpreter", "cold import", "import starlette.applications", base,
               note=f"{settings.import_runs} runs"),
        Result(
            "import", "fresh interpreter", "cold import", "+ GenAISessionMiddleware",
            base + delta, delta, ratio=(base + delta) / base,
            note=("imports the OpenTelemetry SDK" if sdk else "SDK not imported"),
            extra={"sdk_imported": float(sdk)},
        ),
    ]  # fmt: skip
