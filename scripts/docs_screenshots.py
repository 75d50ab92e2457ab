"""Screenshots of the documentation site, for the README and the docs.

    python3 tasks.py docs                         # builds site/ first
    .venv/bin/python scripts/docs_screenshots.py [--site site] [--out docs/images]

Serves the built site on 127.0.0.1 (a socket bound here and handed to the
server), then saves two pages from headless Chromium: the getting-started page
(``docs-getting-started.png``) and the top of the API reference, which opens
with ``GenAISessionMiddleware`` (``docs-api-middleware.png``). Each is saved only
once the rendered page shows its text. Chromium comes from the system
(``apt-get install -y chromium``; see scripts/_chromium.py); CI does not run this.
"""

from __future__ import annotations

import argparse
import functools
import socket
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _chromium import Page, save

ROOT = Path(__file__).resolve().parents[1]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(site: Path) -> tuple[ThreadingHTTPServer, str]:
    """The site served from a socket bound on 127.0.0.1 (a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(sock.getsockname(), handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def pages(url: str, out: Path) -> list[Page]:
    return [
        Page(
            f"{url}/getting-started/",
            out / "docs-getting-started.png",
            1600,
            ("Getting started", "GenAISessionMiddleware", "Quick start"),
            width=1440,
        ),
        Page(
            f"{url}/api/",
            out / "docs-api-middleware.png",
            1600,
            ("GenAISessionMiddleware", "header_mapping", "exclude_paths"),
            width=1440,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").exists():
        print(f"no site in {args.site}: run python3 tasks.py docs first", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    server, url = serve(args.site)
    try:
        with tempfile.TemporaryDirectory(prefix="docs-screenshots-") as profile:
            for page in pages(url, args.out):
                save(page, Path(profile))
                print(f"wrote {page.path}")
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
