"""Warn when another distribution also provides ``opentelemetry.util.genai``.

Two distributions writing the same package directory overwrite each other's
files, so whichever was installed last wins, file by file. That cannot work,
and it fails in confusing ways: say so once, at import.

``importlib.metadata`` would cost ~20 ms of import time, so this looks for the
rivals' ``.dist-info`` folders in the directories that hold ``opentelemetry/``.
"""

from __future__ import annotations

import os
from typing import Final

from opentelemetry.util.genai._validation import logger

__all__ = ["CONFLICTING_DISTRIBUTIONS", "find_conflicts", "warn_about_conflicts"]

CONFLICTING_DISTRIBUTIONS: Final = ("opentelemetry-util-genai", "splunk-otel-util-genai")

CONFLICT: Final = (
    "otel-genai-session provides the package opentelemetry.util.genai, and so does the "
    "installed distribution %s (%s): the two overwrite each other's files. Uninstall one "
    "of them (pip uninstall %s; then reinstall otel-genai-session if you keep it)."
)


def find_conflicts(directories: list[str]) -> list[tuple[str, str]]:
    """``(distribution, dist-info path)`` for each rival installed in ``directories``."""
    prefixes = {name.replace("-", "_") + "-": name for name in CONFLICTING_DISTRIBUTIONS}
    found = []
    for directory in dict.fromkeys(directories):
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for entry in entries:
            lowered = entry.lower()
            if not lowered.endswith(".dist-info"):
                continue
            for prefix, name in prefixes.items():
                if lowered.startswith(prefix):
                    found.append((name, os.path.join(directory, entry)))
    return found


def warn_about_conflicts() -> None:
    try:
        import opentelemetry.util

        roots = [os.path.dirname(os.path.dirname(p)) for p in opentelemetry.util.__path__]
        for name, path in find_conflicts(roots):
            logger.warning(CONFLICT, name, path, name)
    except Exception:  # a broken environment must not break the import
        logger.debug("conflict check failed", exc_info=True)
