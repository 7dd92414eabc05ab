"""Where the target keeps files that outlive a run: a local folder or an S3 prefix, each object written whole.

- A local file is written to a temporary file in the same folder, flushed to disk (fsync), then renamed over the
  old one (`os.replace`, atomic on POSIX): a reader, or the next run after a `kill -9`, sees the old file or the
  new one, never a part of either. The folder's entry is fsynced too, so the rename survives a power cut.
- An S3 object is written with one PUT: S3 stores it whole or not at all (a PUT is atomic per object,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel).

Credentials for S3 come from boto3's usual chain (environment, profile, pod role), never from the config.
"""

from __future__ import annotations

import os
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from typing_extensions import override

# A temporary file left by a process killed while writing: removed by a later write once it is this old (a
# younger one may belong to a writer still at work).
STALE_TEMPORARY_SECONDS = 3600
TEMPORARY_MARK = ".tmp-"


class StorageError(RuntimeError):
    """An object could not be read or written; the message names it (never a credential)."""


class Storage(ABC):
    """Named objects under one root."""

    @abstractmethod
    def read(self, name: str) -> bytes | None:
        """The object's bytes, or None when there is none."""

    @abstractmethod
    def write(self, name: str, data: bytes) -> None:
        """Replace the object with `data`, atomically."""

    @abstractmethod
    def where(self, name: str) -> str:
        """The object's full address, for messages."""


class LocalFolder(Storage):
    def __init__(self, root: Path) -> None:
        self.root = root

    @override
    def where(self, name: str) -> str:
        return str(self.root / name)

    @override
    def read(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{self.where(name)}: cannot read ({exc.strerror})") from None

    @override
    def write(self, name: str, data: bytes) -> None:
        path = self.root / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._remove_stale(path)
            handle, temporary = tempfile.mkstemp(prefix=f"{path.name}{TEMPORARY_MARK}", dir=path.parent)
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError as exc:
            raise StorageError(f"{path}: cannot write ({exc.strerror or exc})") from None

    @staticmethod
    def _remove_stale(path: Path) -> None:
        cutoff = time.time() - STALE_TEMPORARY_SECONDS
        for leftover in path.parent.glob(f"{path.name}{TEMPORARY_MARK}*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except OSError:
                pass


class S3Prefix(Storage):
    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None, region: str | None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._endpoint_url = endpoint_url
        self._region = region
        self._client: Any = None

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    @override
    def where(self, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(name)}"

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 -- boto3 takes ~0.3 s to import: only runs that use S3 pay it

            # A session of its own: boto3's default session is shared module state and not thread-safe.
            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self._endpoint_url, region_name=self._region
            )
        return self._client

    @override
    def read(self, name: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()
            return body
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StorageError(f"{self.where(name)}: cannot read ({_s3_reason(exc)})") from None
        except BotoCoreError as exc:
            raise StorageError(f"{self.where(name)}: cannot read ({exc})") from None

    @override
    def write(self, name: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)
        except ClientError as exc:
            raise StorageError(f"{self.where(name)}: cannot write ({_s3_reason(exc)})") from None
        except BotoCoreError as exc:
            raise StorageError(f"{self.where(name)}: cannot write ({exc})") from None


def _s3_reason(exc: Any) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")


def storage_at(uri: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None) -> Storage:
    """A folder path, or `s3://bucket/prefix`."""
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"{uri!r} names no bucket (s3://bucket/prefix)")
        return S3Prefix(bucket, prefix, s3_endpoint_url, s3_region)
    if "://" in uri:
        raise ValueError(f"{uri!r}: a local folder or s3://bucket/prefix")
    return LocalFolder(Path(uri))


def split_object(uri: str) -> tuple[str, str]:
    """`s3://bucket/dir/name` or `dir/name` -> (its folder or prefix, its name)."""
    head, _, name = uri.rpartition("/")
    return head or ".", name
