"""s3:// paths on a local S3 (moto as its own process): single keys, globs, gzip, state by ETag, clear errors, and no
credential in any output."""

from __future__ import annotations

import gzip

from csv_runs import assert_one_line_error, data_columns, partition_state, run_tap

SECRET = "s3cr3t-never-printed-0123456789"


def s3_config(moto, *paths: str, entity: str = "orders") -> dict:
    return {
        "files": [{"entity": entity, "path": path} for path in paths],
        "s3_endpoint_url": moto.endpoint_url,
        "s3_region": "us-east-1",
        "storage_options": {"file": {"password": SECRET}},
    }


def test_s3_keys_and_globs_stream_like_local_files(moto_s3, aws_env, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    moto_s3.put("csv-drop", "orders/2025-01.csv", "\ufeffid,email\n1,a@example.com\n2,\n")
    moto_s3.put("csv-drop", "orders/2025-02.csv.gz", gzip.compress(b"id,email\n3,c@example.com\n"))
    moto_s3.put("csv-drop", "orders/archive/2024-12.csv", "id,email\n0,z@example.com\n")
    moto_s3.put("csv-drop", "other/x.csv", "id\n9\n")
    config = s3_config(moto_s3, "s3://csv-drop/orders/*.csv*")
    run = run_tap(config, tmp_path)
    assert run.code == 0, run.stderr
    assert [(r["_sdc_source_file"], data_columns(r)) for r in run.records()] == [
        ("s3://csv-drop/orders/2025-01.csv", {"id": "1", "email": "a@example.com"}),
        ("s3://csv-drop/orders/2025-01.csv", {"id": "2", "email": None}),
        ("s3://csv-drop/orders/2025-02.csv.gz", {"id": "3", "email": "c@example.com"}),
    ]
    fingerprint = partition_state(run.state, "orders", "s3://csv-drop/orders/2025-01.csv")["file"]
    assert fingerprint["etag"] and fingerprint["size"] == len("\ufeffid,email\n1,a@example.com\n2,\n".encode())

    # Same objects: skipped. One object rewritten (new ETag): read again from row 1.
    moto_s3.put("csv-drop", "orders/2025-01.csv", "id,email\n1,a@example.com\n2,b@example.com\n")
    again = run_tap(config, tmp_path, state=run.state)
    assert again.code == 0, again.stderr
    assert [(r["id"], r["email"]) for r in again.records()] == [("1", "a@example.com"), ("2", "b@example.com")]
    assert "s3://csv-drop/orders/2025-02.csv.gz: unchanged since it was read to the end" in again.stderr

    single = run_tap(s3_config(moto_s3, "s3://csv-drop/other/x.csv", entity="x"), tmp_path)
    assert [r["id"] for r in single.records("x")] == ["9"]
    for output in (run.stdout, run.stderr, again.stdout, again.stderr, single.stdout, single.stderr):
        assert SECRET not in output


def test_s3_errors_name_the_path_and_never_the_credentials(moto_s3, aws_env, tmp_path, monkeypatch, closed_port_url):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    moto_s3.put("csv-errors", "present.csv", "id\n1\n")
    cases = [
        (s3_config(moto_s3, "s3://csv-errors/absent.csv"), "s3://csv-errors/absent.csv: no such file"),
        (s3_config(moto_s3, "s3://no-such-bucket/*.csv"), "s3://no-such-bucket/*.csv: cannot list files: NoSuchBucket"),
        (s3_config(moto_s3, "s3://csv-errors"), "s3://csv-errors: an S3 path must be s3://bucket/key"),
        (
            {**s3_config(moto_s3, "s3://csv-errors/present.csv"), "s3_endpoint_url": closed_port_url},
            "s3://csv-errors/present.csv: cannot list files: Could not connect to the endpoint URL",
        ),
    ]
    for config, message in cases:
        run = run_tap(config, tmp_path, env={"AWS_MAX_ATTEMPTS": "1"})
        assert_one_line_error(run, message)
        assert SECRET not in run.stdout + run.stderr
