"""Reading the accounts file from S3 (`s3://bucket/key`), with every failure an `AccountsError` in one line.

Apart from accounts.py so that boto3 is imported only by a run whose accounts are on S3 (and by the fork server,
which parses the S3 models once for its children: fork_server_preload.py)."""

from __future__ import annotations

import contextlib
import functools
import typing as t
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from .accounts import AccountsError

# The list is read once at start-up: a wrong endpoint or a dead network should fail in seconds, not after
# botocore's default 60 s connect timeout and 5 attempts; one retry still rides out a transient S3 error.
S3_CONFIG = Config(connect_timeout=3, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 2})
ACCESS_DENIED = {
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "403",
    "Forbidden",
}


@functools.cache
def _botocore_models() -> botocore.loaders.Loader:
    """botocore's JSON models, parsed once per process and shared by its sessions: each new session would parse the S3
    model again, ~0.08 of the ~0.3 CPU-s of a forked child (2026-12-04). Read-only once parsed."""
    return botocore.loaders.create_loader()


def _s3_client(endpoint_url: str | None, region: str | None, **credentials: str) -> Any:
    # A session of our own: boto3's default session is shared module state and not thread-safe.
    session = botocore.session.get_session()
    session.register_component("data_loader", _botocore_models())
    return boto3.session.Session(botocore_session=session).client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=S3_CONFIG, **credentials
    )


def parse_s3_models() -> None:
    """Parse now what building an S3 client parses: the fork server does, so that its children need not
    (child_processes.PRELOAD). Placeholder keys: no credential chain runs, and nothing is sent."""
    with contextlib.suppress(BotoCoreError, ValueError):  # e.g. a bad AWS_ENDPOINT_URL: read_s3 says so, in one line
        _s3_client(None, "us-east-1", aws_access_key_id="unused", aws_secret_access_key="unused")


def read_s3(uri: str, endpoint_url: str | None, region: str | None) -> bytes:
    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise AccountsError(f"{uri}: an S3 source must be s3://bucket/key")
    try:
        client = _s3_client(endpoint_url, region)
        return t.cast("bytes", client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")) or str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        detail = f"{code}: {error['Message']}" if error.get("Message") else code
        if code == "NoSuchBucket":
            reason = f"bucket {bucket!r} does not exist"
        elif code in ("NoSuchKey", "404", "NotFound"):
            reason = f"no object {key!r} in bucket {bucket!r}"
        elif code in ACCESS_DENIED:
            reason = f"access denied ({detail})"
        else:
            reason = f"S3 error ({detail})"
        raise AccountsError(f"{uri}: {reason}") from exc
    except EndpointConnectionError as exc:
        raise AccountsError(f"{uri}: S3 endpoint unreachable ({exc.kwargs.get('endpoint_url')})") from exc
    except NoCredentialsError as exc:
        raise AccountsError(f"{uri}: no AWS credentials found (environment, profile or instance role)") from exc
    except (BotoCoreError, ValueError) as exc:  # ValueError: boto3's "Invalid endpoint: ..."
        raise AccountsError(f"{uri}: S3 read failed ({exc})") from exc
