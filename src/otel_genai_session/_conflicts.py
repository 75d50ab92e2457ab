"""Warn when the compat distribution shares ``opentelemetry.util.genai`` with a rival.

``otel-genai-session`` itself ships nothing under ``opentelemetry/`` and installs
beside anything. Its opt-in compat distribution, ``otel-genai-session-compat``,
serves the same API at the ``opentelemetry.util.genai`` import paths, and so
does ``opentelemetry-util-genai`` (which every official GenAI instrumentation
depends on): two distributions writing one package directory overwrite each
other file by file, in either install order. The check lives here, in the core,
because nothing overwrites this file: importing either package says so once.

``importlib.metadata`` would cost ~20 ms of import time, so this looks for the
``.dist-info`` folders in the directories that hold ``opentelemetry/``.
"""

from __future__ import annotations

import os
from typing import Final

from otel_genai_session._validation import logger

__all__ = [
    "COMPAT_DISTRIBUTION",
    "CONFLICT",
    "RIVAL_DISTRIBUTIONS",
    "find_distributions",
    "warn_about_conflicts",
]

COMPAT_DISTRIBUTION: Final = "otel-genai-session-compat"
RIVAL_DISTRIBUTIONS: Final = ("opentelemetry-util-genai", "splunk-otel-util-genai")

CONFLICT: Final = (
    "%s and %s (%s) both provide the package opentelemetry.util.genai and overwrite "
    "each other's files. Keep one: to use the official OpenTelemetry GenAI "
    "instrumentations, run 'pip uninstall %s' and import from otel_genai_session, "
    "which works beside them; otherwise run 'pip uninstall %s'."
)


def find_distributions(directories: list[str], names: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(distribution, dist-info path)`` for each of ``names`` installed in ``directories``."""
    prefixes = {name.replace("-", "_") + "-": name for name in names}
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
                # "otel_genai_session-" must not match "otel_genai_session_compat-".
                if lowered.startswith(prefix) and lowered[len(prefix) : len(prefix) + 1].isdigit():
                    found.append((name, os.path.join(directory, entry)))
    return found


def warn_about_conflicts() -> None:
    """Log one warning per rival when the compat distribution is installed beside it."""
    try:
        import opentelemetry

        roots = [os.path.dirname(path) for path in opentelemetry.__path__]
        installed = find_distributions(roots, (COMPAT_DISTRIBUTION, *RIVAL_DISTRIBUTIONS))
        if not any(name == COMPAT_DISTRIBUTION for name, _ in installed):
            return
        for name, path in installed:
            if name != COMPAT_DISTRIBUTION:
                logger.warning(CONFLICT, COMPAT_DISTRIBUTION, name, path, COMPAT_DISTRIBUTION, name)
    except Exception:  # a broken environment must not break the import
        logger.debug("conflict check failed", exc_info=True)
