"""Ecosystem tests: both middlewares on real frameworks, servers and versions.

A package (``ecosystem``) so that module names such as ``test_flask`` cannot
clash with test modules of the same name elsewhere in ``tests/``.
"""
