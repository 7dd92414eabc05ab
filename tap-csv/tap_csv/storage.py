"""Where CSV files are: expanding paths and globs into files, and opening a file as a byte stream.

- `s3://bucket/key` (a glob in the key is allowed): boto3 lists and describes the objects and smart_open streams
  them (ranged GETs, reconnecting on a dropped connection), both through one client, so `s3_endpoint_url` (a local
  S3) is honoured everywhere. singer-sdk 0.54's own S3 support is fsspec's s3fs, whose aiobotocore pins botocore
  below the boto3 this project uses.
- Anything else (a local path, `file://`, or a URL of any fsspec filesystem installed: sftp, ftp, http, gcs...):
  fsspec, as singer-sdk's filesystem support does, with `storage_options[protocol]` given to the filesystem.

Compressed files (`.gz`, `.bz2`, ...) are decompressed on the fly by both, as their names say.

boto3 and smart_open are imported when a path is on S3, not before: a run of local files (and every `--discover`,
`--about`) does without them, 0.1 CPU-s a process.
"""

from __future__ import annotations

import datetime
import os
import re
import sys
import typing as t
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import fsspec
from fsspec.utils import glob_translate

from .errors import UserError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

GLOB_CHARACTERS = re.compile(r"[*?\[]")


class SourceError(UserError):
    """A path names no file, or a file cannot be listed or opened; the message names the path."""


@dataclass(frozen=True)
class SourceFile:
    """One file to read. `url` is as the path was written (relative local paths stay relative), so state keyed on it
    survives a different working directory; `fingerprint` tells whether it is the same file as at the last run."""

    url: str
    fingerprint: dict[str, t.Any]


def is_glob(path: str) -> bool:
    return GLOB_CHARACTERS.search(path) is not None


class FileStore:
    def __init__(
        self,
        *,
        s3_endpoint_url: str | None = None,
        s3_region: str | None = None,
        storage_options: t.Mapping[str, t.Mapping[str, t.Any]] | None = None,
    ) -> None:
        self._s3_endpoint_url = s3_endpoint_url or None
        self._s3_region = s3_region or None
        self._storage_options = storage_options or {}

    def expand(self, path: str) -> list[SourceFile]:
        """The files a path names, sorted: one for a plain path (an error if it is missing), any number for a glob."""
        try:
            return self._expand_s3(path) if path.startswith("s3://") else self._expand_fsspec(path)
        except SourceError:
            raise
        except _storage_errors() as exc:
            raise SourceError(f"{path}: cannot list files: {_reason(exc)}") from exc

    @contextmanager
    def open(self, url: str) -> Iterator[t.BinaryIO]:
        try:
            if url.startswith("s3://"):
                import smart_open  # noqa: PLC0415 -- S3 only (the module's docstring)

                handle = smart_open.open(url, "rb", transport_params={"client": self._s3})
            else:
                filesystem, path = self._filesystem(url)
                handle = filesystem.open(path, "rb", compression="infer")
        except _storage_errors() as exc:
            raise SourceError(f"{url}: cannot open: {_reason(exc)}") from exc
        with handle:
            yield handle

    # S3

    @cached_property
    def _s3(self) -> t.Any:
        import boto3  # noqa: PLC0415 -- S3 only (the module's docstring)

        # Credentials come from boto3's usual chain (environment, profile, instance or pod role): never from config.
        return boto3.session.Session().client("s3", endpoint_url=self._s3_endpoint_url, region_name=self._s3_region)

    def _expand_s3(self, url: str) -> list[SourceFile]:
        from botocore.exceptions import ClientError  # noqa: PLC0415 -- S3 only (the module's docstring)

        bucket, _, key = url.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise SourceError(f"{url}: an S3 path must be s3://bucket/key")
        if not is_glob(key):
            try:
                head = self._s3.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    raise SourceError(f"{url}: no such file") from exc
                raise
            return [SourceFile(url, _s3_fingerprint(head["ContentLength"], head["ETag"], head["LastModified"]))]
        pattern = re.compile(glob_translate(key))
        prefix = key[: GLOB_CHARACTERS.search(key).start()]  # type: ignore[union-attr]
        files = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            files += [
                SourceFile(
                    f"s3://{bucket}/{item['Key']}", _s3_fingerprint(item["Size"], item["ETag"], item["LastModified"])
                )
                for item in page.get("Contents", [])
                if pattern.match(item["Key"])
            ]
        return sorted(files, key=lambda file: file.url)

    # fsspec: local files and every other filesystem

    def _filesystem(self, url: str) -> tuple[fsspec.AbstractFileSystem, str]:
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        filesystem, path = fsspec.core.url_to_fs(url, **self._storage_options.get(protocol, {}))
        return filesystem, str(path)

    def _expand_fsspec(self, url: str) -> list[SourceFile]:
        filesystem, path = self._filesystem(url)
        if is_glob(path):
            infos = [info for info in filesystem.glob(path, detail=True).values() if info.get("type") == "file"]
        else:
            try:
                infos = [filesystem.info(path)]
            except FileNotFoundError as exc:
                raise SourceError(f"{url}: no such file") from exc
            if infos[0].get("type") != "file":
                raise SourceError(f"{url}: not a file (a folder? give a glob such as {url.rstrip('/')}/*.csv)")
        files = [
            SourceFile(self._url_as_written(url, filesystem, info["name"]), _fsspec_fingerprint(info)) for info in infos
        ]
        return sorted(files, key=lambda file: file.url)

    @staticmethod
    def _url_as_written(url: str, filesystem: fsspec.AbstractFileSystem, path: str) -> str:
        if "://" in url:
            return str(filesystem.unstrip_protocol(path))
        # fsspec makes local paths absolute; give back a relative one where the setting was relative.
        return path if os.path.isabs(url) else os.path.relpath(path)


def _s3_fingerprint(size: int, etag: str, modified: datetime.datetime) -> dict[str, t.Any]:
    return {"size": size, "etag": etag.strip('"'), "modified": modified.isoformat()}


def _fsspec_fingerprint(info: dict[str, t.Any]) -> dict[str, t.Any]:
    fingerprint: dict[str, t.Any] = {"size": info.get("size")}
    modified = next(
        (
            info[name]
            for name in ("mtime", "LastModified", "last_modified", "updated", "modified")
            if info.get(name) is not None
        ),
        None,
    )
    if isinstance(modified, int | float):
        modified = datetime.datetime.fromtimestamp(modified, tz=datetime.UTC)
    if modified is not None:
        fingerprint["modified"] = modified.isoformat() if isinstance(modified, datetime.datetime) else str(modified)
    if info.get("ETag") or info.get("etag"):
        fingerprint["etag"] = str(info.get("ETag") or info.get("etag")).strip('"')
    return fingerprint


def _storage_errors() -> tuple[type[BaseException], ...]:
    """What listing or opening a file can raise: botocore's errors too once S3 is in use (botocore imported)."""
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is None:
        return (OSError, ValueError)
    return (OSError, ValueError, botocore.BotoCoreError, botocore.ClientError)


def _reason(exc: BaseException) -> str:
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None and isinstance(exc, botocore.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
