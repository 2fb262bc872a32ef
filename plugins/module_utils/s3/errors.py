# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""The S3 layer's exception, in a file of its own: filter plugins and pure
helpers raise it without importing boto3 (client.py), which costs about a
second in every task's worker process (docs/benchmarks.md)."""


class S3Error(Exception):
    """Expected failure; the message names the endpoint and the fix."""
