"""`meltano run tap-csv target-klaviyo` as users run it, against the sandbox (read back with the official SDK):
the CSV-to-Klaviyo package's sample and config unchanged, a re-run, a file of bad rows, no key anywhere; the change
memory (beside Meltano's state on the local S3) across runs and a killed run."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pytest
from klaviyo_api import KlaviyoAPI
from meltano_project import LocalProject, ensure_installed

from local_stand_ins.stack import STATE_BUCKET, start_local_stack
from target_klaviyo.memory_file import decode

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "data" / "sample_orders.csv"  # a copy of the shared sample
RUN = ("run", "tap-csv", "target-klaviyo")
# The old package's config.py for sample_orders.csv, as it was.
EVENT_MAPPING = {
    "event": "PlacedOrder",
    "customer_properties": {"$email": "EMAIL"},
    "properties": {
        "$event_id": "ORDER_ID",
        "$value": "ORDER_TOTAL",
        "OrderType": "ORDER_TYPE",
        "CouponCode": "COUPON_CODE",
    },
    "time": "DATE_ORDERED",
}
PROFILE_MAPPING = {
    "properties": {
        "$email": "EMAIL",
        "$first_name": "BILL_FIRST_NAME",
        "$last_name": "BILL_LAST_NAME",
        "$region": "BILL_STATE_CODE",
        "$zip": "BILL_ZIP",
        "$phone_number": "BILL_PHONE",
    }
}
# Excel's UTF-8 with a byte-order mark, quoted commas and quotes, non-ASCII, then rows that must be rejected.
BAD_CSV = (
    "\ufeffemail,name,when,total,note\r\n"
    'ana@bad.example,"Ana, María",2024-05-01T10:00:00Z,10.5,"says ""hi"", twice"\r\n'
    "jörg@bad.example,Jörg,1714557600,7,ok\r\n"
    ",Nobody,2024-05-01,1,no identifier\r\n"
    "late@bad.example,Late,01/05/2024,1,not ISO\r\n"
    "cash@bad.example,Cash,2024-05-01,$5,not a number\r\n"
    "short@bad.example,Short\r\n"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    ensure_installed("tap-csv", "target-klaviyo")
    stack = start_local_stack(
        "--accounts",
        "1",
        "--seed",
        "3",
        "--events",
        "50",
        "--profiles",
        "50",
        "--rate-limit-scale",
        "0",
        "--job-seconds",
        "0.2",
    )
    yield LocalProject(stack, tmp_path_factory.mktemp("warehouse"))
    stack.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("csv")
    shutil.copy(SAMPLE_CSV, folder / "sample_orders.csv")
    (folder / "bad_orders.csv").write_bytes(BAD_CSV.encode("utf-8"))
    (folder / "empty.csv").write_bytes(b"")
    (folder / "header_only.csv").write_text("email,name,when,total,note\n", encoding="utf-8")
    return folder


def target_env(project: LocalProject, folder: Path, files: list[dict], **settings: object) -> dict[str, str]:
    sandbox = project.stack.sandbox
    env = {
        "TAP_CSV_FILES": json.dumps(files),
        "TARGET_KLAVIYO_API_URL": sandbox.url,
        "TARGET_KLAVIYO_API_KEY": sandbox.key(0),
        "TARGET_KLAVIYO_REJECTS_PATH": str(folder / "rejects.jsonl"),
    }
    env.update({f"TARGET_KLAVIYO_{k.upper()}": v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()})
    return env


def sdk(project: LocalProject) -> KlaviyoAPI:
    return KlaviyoAPI(project.stack.sandbox.key(0), test_host=project.stack.sandbox.url, max_retries=3, max_delay=2)


def events_of(project: LocalProject, metric: str) -> list:
    time.sleep(0.6)  # Klaviyo writes a bulk request's events just after accepting it (the sandbox: 0.2 s)
    client = sdk(project)
    metric_id = next(m.id for m in client.Metrics.get_metrics().data if m.attributes.name == metric)
    return client.Events.get_events(filter=f'equals(metric_id,"{metric_id}")', page_size=1000).data


def profile_of(project: LocalProject, email: str):
    found = sdk(project).Profiles.get_profiles(filter=f'equals(email,"{email}")').data
    return found[0] if found else None


@pytest.fixture(scope="module")
def sample_run(project, files):
    env = target_env(
        project,
        files,
        [{"entity": "orders", "path": str(files / "sample_orders.csv")}],
        event_mapping=EVENT_MAPPING,
        profile_mapping=PROFILE_MAPPING,
    )
    return project.meltano(*RUN, **env), env


def summary(run) -> dict:
    marker = "target-klaviyo summary json: "
    line = next(line for line in run.output.splitlines() if marker in line)
    return json.loads(line.split(marker, 1)[1])


def kind_counts(read: int, sent: int, accepted: int, rejected: int, *, unchanged: int = 0, changed: int = 0) -> dict:
    created = accepted - changed
    return {
        "read": read,
        "unchanged": unchanged,
        "created": created,
        "changed": changed,
        "sent": sent,
        "accepted": accepted,
        "rejected": rejected,
    }


def test_old_config_and_sample_orders_end_to_end(project, sample_run, files):
    run, _ = sample_run
    assert run.code == 0, run.output[-4000:]
    assert summary(run)["orders"]["event"] == kind_counts(5, 5, 5, 0)
    events = {e.attributes.event_properties["$event_id"]: e for e in events_of(project, "PlacedOrder")}
    assert sorted(events) == ["31625", "31842", "31954", "35554", "36648"]
    order = events["31842"].attributes
    assert order.datetime_.isoformat() == "2013-03-29T23:15:44+00:00"
    assert order.event_properties == {
        "OrderType": "B2C",
        "CouponCode": "FREEGIFT",
        "$value": 110.25,
        "$event_id": "31842",
    }
    mary = profile_of(project, "mary.washington@gmail.com")
    assert mary is not None
    assert (mary.attributes.first_name, mary.attributes.last_name) == ("Mary", "Washington")
    assert mary.attributes.phone_number == "+15554173358"
    assert (mary.attributes.location.region, mary.attributes.location.zip) == ("AZ", "85260")
    assert events["36648"].relationships.profile.data.id == mary.id
    assert (files / "rejects.jsonl").read_text() == ""


def test_rerun_and_full_refresh_create_no_duplicates(project, sample_run):
    _, env = sample_run
    again = project.meltano(*RUN, **env)  # the file is unchanged: tap-csv skips it
    assert again.code == 0, again.output[-4000:]
    assert "target-klaviyo summary json: {}" in again.output
    refresh = project.meltano(*RUN, "--full-refresh", **env)  # every row read again: none changed
    assert refresh.code == 0, refresh.output[-4000:]
    assert summary(refresh)["orders"]["event"] == kind_counts(5, 0, 0, 0, unchanged=5)
    resend = project.meltano(*RUN, "--full-refresh", TARGET_KLAVIYO_FULL_REFRESH="true", **env)
    assert resend.code == 0, resend.output[-4000:]
    assert summary(resend)["orders"]["event"] == kind_counts(5, 5, 5, 0, changed=5)  # sent: Klaviyo de-duplicates
    assert len(events_of(project, "PlacedOrder")) == 5


def test_bad_rows_rejected_with_reasons(project, files):
    listing = [
        {"entity": "bad_orders", "path": str(files / name)}
        for name in ("bad_orders.csv", "empty.csv", "header_only.csv")
    ]
    mappings = {
        "bad_orders": {
            "event": {"metric": "Bad file order", "time": "when", "value": "total", "properties": {"Note": "note"}},
            "profile": {"email": "email", "first_name": "name"},
        }
    }
    env = target_env(project, files, listing, mappings=mappings, rejects_path=str(files / "bad.jsonl"))
    run = project.meltano(*RUN, **env)
    assert run.code == 0, run.output[-4000:]
    rejects = [json.loads(line) for line in (files / "bad.jsonl").read_text(encoding="utf-8").splitlines()]
    found = {(r["row"], r["kind"]): r["code"] for r in rejects}
    assert found == {
        (3, "event"): "missing_identifier",
        (3, "profile"): "missing_identifier",
        (4, "event"): "invalid_time",
        (5, "event"): "invalid_number",
        (6, "event"): "bad_csv_row",
        (6, "profile"): "bad_csv_row",
    }
    assert {r["file"] for r in rejects} == {str(files / "bad_orders.csv")}
    events = sorted(events_of(project, "Bad file order"), key=lambda e: e.attributes.timestamp)
    assert [e.attributes.event_properties["Note"] for e in events] == ['says "hi", twice', "ok"]
    ana = profile_of(project, "ana@bad.example")
    assert ana is not None and ana.attributes.first_name == "Ana, María"
    # A row whose event was refused still updates its profile.
    assert profile_of(project, "late@bad.example") is not None


def test_no_key_in_any_output(project, sample_run, files):
    run, env = sample_run
    key = env["TARGET_KLAVIYO_API_KEY"]
    assert key not in run.output
    for path in files.iterdir():
        if path.suffix == ".jsonl":
            assert key not in path.read_text(encoding="utf-8")


def traits_csv(path: Path, tag: str, n: int, changed: dict[int, str] | None = None) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["EMAIL", "FIRST", "LTV"])
        for i in range(n):
            out.writerow([f"t{i}@{tag}.example", f"F{i}", (changed or {}).get(i, f"{i}.25")])


def traits_env(project: LocalProject, folder: Path, entity: str, path: Path) -> dict[str, str]:
    mappings = {entity: {"profile": {"email": "EMAIL", "first_name": "FIRST", "properties": {"LTV": "LTV"}}}}
    return target_env(project, folder, [{"entity": entity, "path": str(path)}], mappings=mappings)


def imported_emails(project: LocalProject, since: float) -> list[str]:
    """The profiles of the import jobs posted since `since` (the sandbox keeps small bodies in its log)."""
    out: list[str] = []
    for entry in project.stack.sandbox.requests("/api/profile-bulk-import-jobs", method="POST"):
        if entry["t"] >= since:
            assert "body" in entry, "an import job too large for the request log"
            out += [p["attributes"]["email"] for p in entry["body"]["data"]["attributes"]["profiles"]["data"]]
    return sorted(out)


def memory_objects(project: LocalProject) -> dict[str, bytes]:
    """The change memories beside Meltano's state (meltano.yml, the local environment's change_memory)."""
    s3 = project.s3()
    return {
        key: s3.get_object(Bucket=STATE_BUCKET, Key=key)["Body"].read()
        for key in project.state_objects()
        if key.endswith(".tkm")
    }


def test_a_second_run_sends_only_the_rows_that_changed(project, files, tmp_path):
    """The local environment keeps the change memory beside Meltano's state on the local S3: a file changed in
    one row is read whole again by tap-csv, and only that row goes to Klaviyo."""
    tag = f"mem{int(time.time())}"
    path = tmp_path / "traits.csv"
    traits_csv(path, tag, 60)
    env = traits_env(project, files, "traits", path)
    since = time.time()
    first = project.meltano(*RUN, **env)
    assert first.code == 0, first.output[-4000:]
    assert summary(first)["traits"]["profile"] == kind_counts(60, 60, 60, 0)
    assert len(imported_emails(project, since)) == 60
    traits_csv(path, tag, 60, changed={17: "999.00"})
    since = time.time()
    second = project.meltano(*RUN, **env)
    assert second.code == 0, second.output[-4000:]
    assert summary(second)["traits"]["profile"] == kind_counts(60, 1, 1, 0, unchanged=59, changed=1)
    assert imported_emails(project, since) == [f"t17@{tag}.example"]
    assert profile_of(project, f"t17@{tag}.example").attributes.properties["LTV"] == "999.00"
    account = project.stack.sandbox.accounts[0]["id"]
    assert any(key.startswith(f"meltano/target-klaviyo-memory/{account}/traits-") for key in memory_objects(project))


def test_a_run_killed_half_way_is_followed_by_a_correct_one(project, files, tmp_path):
    """`meltano run` killed (-9, as a pod is) once the first import job has gone: the next run sends what the
    memory does not hold and ends with every row remembered; the one after sends nothing."""
    # A Meltano database of its own: the killed run stays "running" in it (hence --force after it).
    project = LocalProject(project.stack, tmp_path / "warehouse")
    tag = f"kill{int(time.time())}"
    path = tmp_path / "big.csv"
    rows = 30_000
    traits_csv(path, tag, rows)
    env = traits_env(project, files, "big", path)
    since = time.time()
    process = project.start(*RUN, **env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        posted = [
            e for e in project.stack.sandbox.requests("/api/profile-bulk-import-jobs", method="POST") if e["t"] >= since
        ]
        if posted:
            break
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    project.kill(process)
    after_kill = {k for k in memory_objects(project) if "/big-" in k}

    again = project.meltano(*RUN, "--force", **env)  # --force: the killed run left its job marked running
    assert again.code == 0, again.output[-4000:]
    counts = summary(again)["big"]["profile"]
    assert counts["read"] == rows and counts["rejected"] == 0
    assert counts["read"] == counts["accepted"] + counts["unchanged"]
    memories = {k: v for k, v in memory_objects(project).items() if "/big-" in k}
    assert len(memories) == 1 and after_kill <= set(memories)
    assert len(decode(next(iter(memories.values())))) == rows

    last = project.meltano(*RUN, "--full-refresh", "--force", **env)
    assert last.code == 0, last.output[-4000:]
    assert summary(last)["big"]["profile"] == kind_counts(rows, 0, 0, 0, unchanged=rows)
