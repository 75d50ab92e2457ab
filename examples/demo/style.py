"""Terminal output for the demo: ANSI colours and tree glyphs, or plain ASCII."""

from __future__ import annotations

import os
import sys

__all__ = ["Style"]


class Style:
    """ANSI colours when writing to a terminal (and NO_COLOR is unset), else none."""

    def __init__(self, enabled: bool, unicode: bool | None = None) -> None:
        self.enabled = enabled
        if unicode is None:  # box-drawing characters only where stdout can encode them
            try:
                "└─├│✓✗·".encode(getattr(sys.stdout, "encoding", None) or "ascii")
                unicode = True
            except (UnicodeEncodeError, LookupError):
                unicode = False
        self.unicode = unicode

    @classmethod
    def for_stdout(cls, no_color: bool = False) -> Style:
        return cls(sys.stdout.isatty() and not no_color and "NO_COLOR" not in os.environ)

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def red(self, text: str) -> str:
        return self._wrap("31", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)

    @property
    def ok(self) -> str:
        return "✓" if self.unicode else "OK"

    @property
    def fail(self) -> str:
        return "✗" if self.unicode else "FAIL"

    @property
    def dot(self) -> str:
        return "·" if self.unicode else "-"

    def branch(self, last: bool) -> str:
        if self.unicode:
            return "└─ " if last else "├─ "
        return "`- " if last else "|- "

    def pipe(self, last: bool) -> str:
        return "   " if last else ("│  " if self.unicode else "|  ")
