# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""S3 bucket name rules (AWS general purpose buckets). Pure."""


import re

from ansible_collections.mlops.stack.plugins.module_utils.s3.errors import S3Error


_NAME_CHARS = re.compile(r"^[a-z0-9.-]+$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problems(name):
    """List of reasons *name* breaks the S3 bucket naming rules (empty: valid).

    The general-purpose bucket rules of AWS S3, which MinIO and SeaweedFS
    enforce too (MinIO additionally rejects '.-' and '-.').
    """
    problems = []
    if not isinstance(name, str) or not name:
        return ["the name is empty"]
    if not 3 <= len(name) <= 63:
        problems.append("it must be 3 to 63 characters long (it has %d)" % len(name))
    if not _NAME_CHARS.match(name):
        bad = sorted(set(c for c in name if not re.match(r"[a-z0-9.-]", c)))
        problems.append("it may contain only lowercase letters, digits, '.' and '-' (found %s)"
                        % ", ".join(repr(c) for c in bad))
    if not (name[0].isalnum() and name[-1].isalnum()) or not (name[0].isascii() and name[-1].isascii()):
        problems.append("it must begin and end with a lowercase letter or digit")
    if ".." in name:
        problems.append("it must not contain two adjacent periods")
    if ".-" in name or "-." in name:
        problems.append("a period must not be next to a hyphen")
    if _IPV4.match(name):
        problems.append("it must not be formatted as an IP address")
    for prefix in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            problems.append("the prefix %r is reserved" % prefix)
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix):
            problems.append("the suffix %r is reserved" % suffix)
    return problems


def validate_bucket_name(name):
    problems = bucket_name_problems(name)
    if problems:
        raise S3Error("Invalid bucket name %r: %s. See the S3 bucket naming rules "
                      "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html)."
                      % (name, "; ".join(problems)))
