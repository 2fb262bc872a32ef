"""Helpers shared by test modules."""
import os
import time

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


def wait_for(what, fn, timeout=120, interval=0.5):
    """fn()'s first truthy result, polled every ``interval`` seconds.

    Controllers act asynchronously: a test that read the cluster once would
    pass or fail on timing, not on what the controllers do.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))
