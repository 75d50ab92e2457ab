#!/usr/bin/env python3
"""Set-up and run, from a fresh clone with only python3 and pip.

    python3 tasks.py demo [--otlp URL]   # the demo: a chat service with sessions on its traces
    python3 tasks.py test                # lint, type check and the test suite
    python3 tasks.py bench               # the benchmark suite (figures, no assertions)

Each command creates ``.venv`` from this project's own files on first use (and
again when pyproject.toml changes), then runs inside it. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

EXTRAS = {"demo": "demo", "test": "dev", "bench": "dev,bench"}


def ensure_venv(extra: str) -> None:
    """Create .venv and install the project with ``extra``, once per pyproject version."""
    stamp = VENV / f".installed-{extra}"
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "compat" / "pyproject.toml").read_bytes()
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print(f"Installing otel-genai-session[{extra}] into {VENV} ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    # The test environment also holds the compat distribution (the former
    # opentelemetry.util.genai paths), which never shares one with opentelemetry-util-genai.
    compat = ["-e", "./compat"] if extra == "dev" else []
    subprocess.run([*pip, "install", "-e", f".[{extra}]", *compat], check=True, cwd=ROOT)
    stamp.write_text(digest)


def run(*args: str) -> int:
    return subprocess.call([str(PYTHON), *args], cwd=ROOT)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_venv(EXTRAS[command])
    if command == "demo":
        return run("examples/demo/demo.py", *rest)
    if command == "bench":
        return run("benchmarks/run.py", *rest)
    for step in (
        ("-m", "ruff", "check", "src", "compat", "tests", "examples", "benchmarks", "scripts"),
        ("-m", "mypy", "--strict"),
        ("-m", "pytest", *rest),
    ):
        print("+", " ".join(step), flush=True)
        code = run(*step)
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
