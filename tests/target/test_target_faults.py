"""Faults lose nothing: 5xx, connection resets and 429 storms are retried, a refused key or an unreachable
Klaviyo fails the run without state, and the key appears in no output."""

from __future__ import annotations

from target_runs import JOB_SECONDS, Klaviyo, Target, counts, record_messages, schema_message

ROWS = 4_000
TABLES = 16  # rows of 16 tables: a request (and an import job) per table, so that faults meet many write requests


def test_fault_storms_lose_nothing(klaviyo_sandbox_factory, tmp_path, tag):
    sandbox = klaviyo_sandbox_factory(
        "--accounts",
        "1",
        "--events",
        "10",
        "--profiles",
        "10",
        "--rate-limit-scale",
        "0",
        "--job-seconds",
        str(JOB_SECONDS),
        "--error-share",
        "0.1",
        "--reset-share",
        "0.05",
        "--storm-share",
        "0.03",
        "--storm-seconds",
        "1",
        "--fault-seed",
        "5",
    )
    target = Target(sandbox, tmp_path)
    rows = [{"email": f"f{i}@{tag}.example", "order": f"o{i}", "total": str(i)} for i in range(ROWS)]
    per_table = ROWS // TABLES
    messages = [
        message
        for t in range(TABLES)
        for message in (
            schema_message(f"orders_{t}", ["email", "order", "total"]),
            *record_messages(f"orders_{t}", rows[t * per_table : (t + 1) * per_table]),
        )
    ]
    messages.append({"type": "STATE", "value": {"orders": ROWS}})
    config = {
        "mappings": {
            "*": {
                "profile": {"email": "email"},
                "event": {"metric": f"Stormy {tag}", "unique_id": "order", "value": "total"},
            }
        },
        "batch_size_rows": 250,
        "max_retries": 12,
    }
    run = target.run(messages, **config)
    assert run.returncode == 0, run.stderr[-3000:]
    each = counts(per_table, per_table, per_table, 0)
    assert run.summary == {f"orders_{t}": {"event": each, "profile": each} for t in range(TABLES)}
    assert run.states == [{"orders": ROWS}]

    # The faults did happen, on the write endpoints too.
    stats = next(iter(sandbox.stats().values()))
    faults = {
        kind: sum(
            bucket.get(kind, 0)
            for name, bucket in stats.items()
            if name in ("bulk_create_events", "bulk_import_profiles", "get_bulk_import_profiles_job")
        )
        for kind in ("fault:error", "fault:reset", "fault:storm")
    }
    assert all(faults.values()), faults

    klaviyo = Klaviyo(sandbox)
    events = klaviyo.events(f"Stormy {tag}")
    assert sorted(e["attributes"]["event_properties"]["$event_id"] for e in events) == sorted(r["order"] for r in rows)
    assert set(klaviyo.profiles([r["email"] for r in rows])) == {r["email"] for r in rows}

    key = sandbox.key(0)
    for output in (run.stdout, run.stderr, run.rejects_path.read_text(encoding="utf-8")):
        assert key not in output


def test_refused_key_fails_without_state_and_without_the_key(target, target_sandbox, tag):
    messages = [
        schema_message("k", ["email"]),
        *record_messages("k", [{"email": f"k@{tag}.example"}]),
        {"type": "STATE", "value": {"k": 1}},
    ]
    wrong_key = "pk_" + "9" * 34
    run = target.run(messages, api_key=wrong_key, mappings={"k": {"profile": {"email": "email"}}})
    assert run.returncode != 0
    assert "Klaviyo refused the API key (401" in run.stderr
    assert run.states == []
    for output in (run.stdout, run.stderr, run.rejects_path.read_text(encoding="utf-8")):
        assert wrong_key not in output
        assert target_sandbox.key(0) not in output


def test_unreachable_klaviyo_fails_the_run_before_any_row(target, closed_port_url, tag):
    """Klaviyo cannot be reached for the account's id (read before the first row): one line, no state."""
    rows = [{"email": f"u{i}@{tag}.example"} for i in range(3)]
    messages = [schema_message("u", ["email"]), *record_messages("u", rows), {"type": "STATE", "value": {"u": 3}}]
    run = target.run(
        messages,
        api_url=closed_port_url,
        max_retries=1,
        mappings={"u": {"event": {"metric": "Unsent", "profile": {"email": "email"}}}},
    )
    assert run.returncode != 0
    assert run.states == []
    assert run.stderr.rstrip().splitlines()[-1] == (
        "target-klaviyo: GET /api/accounts: no answer after 2 tries (ConnectionError)"
    )
    assert run.rejects == []
    assert target.config()["api_key"] not in run.stderr


def test_rows_klaviyo_never_takes_are_rejected_as_not_sent_and_fail_the_run(target, httpserver, tag):
    """Rows that could not be sent (every try answered 503) are named in the rejects (not_sent), the run fails,
    state stays put and the change memory remembers none of them, so the next run sends them again."""
    httpserver.expect_request("/api/accounts").respond_with_json({"data": [{"type": "account", "id": "ACC503"}]})
    httpserver.expect_request("/api/event-bulk-create-jobs").respond_with_data("down", status=503)
    rows = [{"email": f"u{i}@{tag}.example"} for i in range(3)]
    messages = [schema_message("u", ["email"]), *record_messages("u", rows), {"type": "STATE", "value": {"u": 3}}]
    run = target.run(
        messages,
        api_url=httpserver.url_for("/").rstrip("/"),
        max_retries=1,
        mappings={"u": {"event": {"metric": "Unsent", "profile": {"email": "email"}}}},
    )
    assert run.returncode != 0
    assert run.states == []
    assert "3 rows could not be sent to Klaviyo" in run.stderr
    assert [(r["row"], r["code"]) for r in run.rejects] == [(1, "not_sent"), (2, "not_sent"), (3, "not_sent")]
    assert run.rejects[0]["reason"].startswith("not sent: POST /api/event-bulk-create-jobs: 503")
    assert not list((target.tmp_path / "memory").rglob("*.tkm"))  # nothing accepted, nothing remembered
