"""Helpers shared by test modules."""
import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition, reason):
    """Skip (locally) or fail (in CI) when a needed server is unavailable.

    DESIGN.md: a test that needs a server the machine cannot provide is
    skipped with a one-line reason, except in CI, where it must run.
    """
    if condition:
        return
    if IN_CI:
        pytest.fail("CI requires this server: " + reason, pytrace=False)
    pytest.skip(reason)
