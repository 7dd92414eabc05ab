"""The pods of the csv-to-klaviyo workflow, started for one file by the Argo Events Sensor (orchestrate/README.md).

    load_file.py identify --bucket B --key K --prefix P --suffix S --output-dir DIR
        The S3 notification's key is URL-encoded (`+` for a space): decode it, check that it is under the watched
        prefix, and write the file's `path` (s3://bucket/key), its `stream` (the folder that holds it) and its
        `file_id` (its state id suffix and mutex name) into DIR, one file each, for Argo to read. A key Argo should
        not load is a wrong parameter: exit 2, naming it, and the workflow is not retried.

    load_file.py run --path s3://B/K --stream S --file-id F --etag E --meltano M --environment prod --job J
        `meltano run --state-id-suffix F J` with tap-csv reading only that file (TAP_CSV_FILES), unless the state of
        that file already holds a complete read of the same ETag: then nothing is sent, and the pod says so.

Loaded once: a file is the object at bucket + key with its content's ETag. Dropped again unchanged (same ETag, an
S3 event delivered twice, or the same bytes uploaded again), it is not sent again; changed (another ETag), it is read
again from its first row. The pods of one file hold a mutex named after it, so two drops of one file never run at
once. Standard library only: it runs with the image's Meltano venv.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

WRONG_PARAMETER = 2  # as orchestrate/plan.py: Argo does not retry it
FILE_ID_SLUG = 60
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.-]+")
EXTRACTOR, LOADER = "tap-csv", "target-klaviyo"
SOURCE_FILE = "_sdc_source_file"  # tap-csv's partition key (tap-csv/tap_csv/stream.py)


class WrongParameter(Exception):
    """A parameter the workflow cannot load; the message names it."""


def file_id(bucket: str, key: str) -> str:
    """Letters, digits and `_ . -` only (a Meltano state id suffix, an Argo mutex name), unique per bucket and key:
    a readable slug of the key and a hash of both."""
    digest = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:12]
    slug = _NOT_IN_ID.sub("-", key).strip("-.")[-FILE_ID_SLUG:].strip("-.")
    return f"{slug}-{digest}" if slug else digest


def identify(bucket: str, raw_key: str, prefix: str, suffix: str) -> dict[str, str]:
    """The file an S3 notification names: its path, stream and id."""
    if not bucket:
        raise WrongParameter("bucket: empty")
    # S3 notifications carry the key URL-encoded, spaces as `+` (AWS: "notification-content-structure"); moto
    # encodes `/` as well. unquote_plus reads both.
    key = unquote_plus(raw_key)
    if not key.startswith(prefix) or not key.endswith(suffix) or key.endswith("/"):
        raise WrongParameter(f"key: s3://{bucket}/{key} is not a {suffix or 'file'} under s3://{bucket}/{prefix}")
    folders = key.removeprefix(prefix).split("/")[:-1]
    if not folders:
        raise WrongParameter(
            f"key: s3://{bucket}/{key} is directly under {prefix or 'the bucket'}; put it in a folder named after "
            f"its stream, e.g. {prefix}orders/{key.removeprefix(prefix)}"
        )
    return {"path": f"s3://{bucket}/{key}", "stream": folders[-1], "file_id": file_id(bucket, key)}


def state_id(environment: str, suffix: str) -> str:
    """Meltano's state id of `meltano run --state-id-suffix` for the tap and the target."""
    return f"{environment}:{EXTRACTOR}-to-{LOADER}:{suffix}"


def loaded_etag(state: dict[str, Any], path: str) -> str | None:
    """The ETag of `path` that tap-csv read to the end, according to its state (tap-csv/README.md, "State")."""
    for stream in (state.get("singer_state") or {}).get("bookmarks", {}).values():
        for partition in stream.get("partitions", []):
            if partition.get("context", {}).get(SOURCE_FILE) == path and partition.get("complete"):
                etag = (partition.get("file") or {}).get("etag")
                return str(etag) if etag else None
    return None


def meltano_state(meltano: str, environment: str, identifier: str) -> dict[str, Any]:
    result = subprocess.run(
        [meltano, "--environment", environment, "state", "get", identifier],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"load_file: cannot read the state {identifier} (exit {result.returncode})")
    state: dict[str, Any] = json.loads(result.stdout or "{}")
    return state


def run(args: argparse.Namespace) -> int:
    etag = args.etag.strip('"')
    identifier = state_id(args.environment, args.file_id)
    if etag and loaded_etag(meltano_state(args.meltano, args.environment, identifier), args.path) == etag:
        print(f"load_file: {args.path} (ETag {etag}) was loaded already (state {identifier}): nothing to send")
        return 0
    print(f"load_file: loading {args.path} (ETag {etag or 'unknown'}) as stream {args.stream!r}", flush=True)
    env = {**os.environ, "TAP_CSV_FILES": json.dumps([{"entity": args.stream, "path": args.path}])}
    command = [args.meltano, "--environment", args.environment, "run", "--no-install"]
    command += ["--state-id-suffix", args.file_id, args.job]
    return subprocess.run(command, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("identify", help="decode and check the key; write path, stream and file_id")
    one.add_argument("--bucket", required=True)
    one.add_argument("--key", required=True)
    one.add_argument("--prefix", default="")
    one.add_argument("--suffix", default="")
    one.add_argument("--output-dir", type=Path, required=True)
    load = commands.add_parser("run", help="meltano run the job for one file, unless that content was loaded")
    for name in ("--path", "--stream", "--file-id", "--meltano", "--environment", "--job"):
        load.add_argument(name, required=True)
    load.add_argument("--etag", default="")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args)
    try:
        found = identify(args.bucket, args.key, args.prefix, args.suffix)
    except WrongParameter as wrong:
        print(f"load_file: {wrong}", file=sys.stderr)
        return WRONG_PARAMETER
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name, value in found.items():
        (args.output_dir / name).write_text(value, encoding="utf-8")
    print(f"load_file: {found['path']} -> stream {found['stream']!r}, state id suffix {found['file_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
