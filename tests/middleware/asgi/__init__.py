"""Tests of the ASGI middleware (a package so helper modules import relatively)."""
