"""What the fork server loads once for every child it forks (child_processes.PRELOAD): the tap's modules, and the S3
models that reading the accounts file parses (accounts.parse_s3_models), frozen (garbage_collection.py)."""

from __future__ import annotations

from tap_klaviyo import tap  # noqa: F401 -- imported for the children
from tap_klaviyo.accounts import parse_s3_models
from tap_klaviyo.garbage_collection import tune_garbage_collection

parse_s3_models()
tune_garbage_collection()  # what the server loaded is frozen once, for every child
