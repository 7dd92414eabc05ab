"""What the fork server loads once for every child it forks (child_processes.PRELOAD): the tap's modules, and the S3
models that reading the accounts file parses (accounts_s3.parse_s3_models). Each child tunes its own garbage
collection where its run starts (TapKlaviyo.run_invoked)."""

from __future__ import annotations

from tap_klaviyo import tap  # noqa: F401 -- imported for the children
from tap_klaviyo.accounts_s3 import parse_s3_models

parse_s3_models()
