"""tap_klaviyo/batch_files.py in-process: what a file holds, and the wait for the loader, which never hangs.

The rule (batch_files.py): the tap waits while `max_pending` announced files are on disk and the loader deletes
them; a loader that deleted none for `loader_wait` seconds is taken to keep its files (one warning, with the disk
they take), and the tap writes on; when stdout is a file, nothing loads as the run goes, and the tap never waits.
"""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tap_klaviyo.batch_files import BatchConfigError, BatchFiles
from tap_klaviyo.sdk_seams import BatchConfig

LOGGER = logging.getLogger("tap-klaviyo-test")


def config(root: Path, compression: str = "gzip", prefix: str = "") -> BatchConfig:
    return BatchConfig.from_dict(
        {
            "encoding": {"format": "jsonl", "compression": compression},
            "storage": {"root": root.as_uri(), "prefix": prefix},
            "batch_size": 10,
        }
    )


def announce(files: BatchFiles, n: int) -> str:
    file = files.open("events")
    file.write([{"id": f"E{n}", "n": n}], {"_sdc_extracted_at": "2026-12-02T00:00:00+00:00"})
    return files.announce(file)


def test_a_file_holds_its_rows_with_the_envelope_as_json_lines(tmp_path: Path):
    files = BatchFiles(config(tmp_path, prefix="acme-"), max_pending=0, loader_wait=1, logger=LOGGER)
    file = files.open("events")
    file.write([{"id": "E1"}, {"id": "E2", "v": {"a": 1}}], {"_sdc_table_version": 7})
    url = files.announce(file)
    path = Path(url.removeprefix("file://"))
    assert path.name.startswith("acme-events-") and path.name.endswith(".jsonl.gz")
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": "E1", "_sdc_table_version": 7},
        {"id": "E2", "v": {"a": 1}, "_sdc_table_version": 7},
    ]
    empty = files.open("events")
    empty.discard()
    assert not empty.path.exists()
    files.close()


def test_without_a_loader_the_wait_ends_says_so_once_and_the_run_writes_on(tmp_path: Path, caplog):
    files = BatchFiles(config(tmp_path), max_pending=2, loader_wait=0.3, logger=LOGGER)
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        urls = [announce(files, n) for n in range(6)]
        files.close()
    assert time.monotonic() - start < 10  # one wait of 0.3 s, not one per file, never for ever
    assert all(Path(url.removeprefix("file://")).exists() for url in urls)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "taken to keep its files" in warnings[0]
    assert "2 announced file(s)" in warnings[0] and " MB, are in " in warnings[0] and "GB free there" in warnings[0]
    assert any("Batch files left for the loader: 6 announced file(s)" in r.getMessage() for r in caplog.records)


def test_a_loader_that_deletes_is_waited_for_and_the_disk_stays_bounded(tmp_path: Path, caplog):
    files = BatchFiles(config(tmp_path), max_pending=2, loader_wait=30, logger=LOGGER)
    announced: list[Path] = []
    done = threading.Event()

    def loader() -> None:  # deletes each announced file a little after it was announced, as target-snowflake does
        while not done.is_set() or announced:
            if announced:
                time.sleep(0.05)
                announced.pop(0).unlink()
            else:
                time.sleep(0.01)

    thread = threading.Thread(target=loader)
    thread.start()
    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        for n in range(8):
            announced.append(Path(announce(files, n).removeprefix("file://")))
            assert files.pending() <= 2
    done.set()
    thread.join(timeout=10)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not files.loader_keeps_files


def test_no_wait_at_all_when_pending_files_are_unbounded(tmp_path: Path):
    files = BatchFiles(config(tmp_path), max_pending=0, loader_wait=3600, logger=LOGGER)
    start = time.monotonic()
    for n in range(5):
        announce(files, n)
    assert time.monotonic() - start < 5 and files.pending() == 5


@pytest.mark.parametrize(
    ("root", "message"),
    [("s3://bucket/x", "'s3://' is not supported"), ("", "empty")],
)
def test_a_batch_config_that_cannot_work_names_the_setting(tmp_path: Path, root: str, message: str):
    bad = BatchConfig.from_dict({"encoding": {"format": "jsonl"}, "storage": {"root": root}})
    with pytest.raises(BatchConfigError, match=message):
        BatchFiles(bad, max_pending=0, loader_wait=1, logger=LOGGER)


def test_stdout_is_read_by_a_loader_when_it_is_a_pipe_not_a_file(tmp_path: Path):
    probe = [sys.executable, "-c", "from tap_klaviyo.batch_files import loader_reads_stdout as r; print(r())"]
    assert subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip() == "True"
    with open(tmp_path / "out.singer", "w") as out:
        subprocess.run(probe, stdout=out, check=True)
    assert (tmp_path / "out.singer").read_text().strip() == "False"


def test_streams_writing_at_once_share_the_files_numbering_and_the_wait(tmp_path: Path):
    """Several streams of one process (threads) announce files at the same time: each file is its own, and the
    limit on pending files holds for all of them together."""
    files = BatchFiles(config(tmp_path), max_pending=3, loader_wait=0.5, logger=LOGGER)
    urls: list[str] = []
    lock = threading.Lock()

    def stream(k: int) -> None:
        for n in range(5):
            url = announce(files, 100 * k + n)
            with lock:
                urls.append(url)

    threads = [threading.Thread(target=stream, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(urls) == len(set(urls)) == 20
    assert files.loader_keeps_files  # no loader here: one wait of 0.5 s for all of them, then no more
