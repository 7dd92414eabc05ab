"""List mirrors and consent, with target-klaviyo as a process against the sandbox: bad input first (one line
naming the setting or column, nothing sent; a bad consent cell rejected with its reason)."""

from __future__ import annotations

import time

from klaviyo_api import KlaviyoAPI
from target_runs import counts, record_messages, schema_message

from klaviyo_sandbox.pytest_plugin import wait_for


def lists_of(sandbox, account: int = 0) -> list[str]:
    import requests  # noqa: PLC0415

    response = requests.get(
        f"{sandbox.url}/api/lists",
        headers={"Authorization": f"Klaviyo-API-Key {sandbox.key(account)}", "revision": "2026-10-15"},
        timeout=30,
    )
    return [item["id"] for item in response.json()["data"]]


def written_since(sandbox, since: float) -> list[tuple[str, str]]:
    return [(e["method"], e["path"]) for e in sandbox.requests("/api/") if e["t"] >= since and e["method"] != "GET"]


def test_a_list_that_does_not_exist_is_one_line_and_nothing_is_sent(target, target_sandbox, tag):
    rows = [{"email": f"a{i}@{tag}.example"} for i in range(3)]
    messages = [
        schema_message("people", ["email"]),
        *record_messages("people", rows),
        schema_message("audience", ["email"]),
        *record_messages("audience", rows),
    ]
    mappings = {
        "people": {"profile": {"email": "email"}},
        "audience": {"list": {"list_id": "NoSuchList1", "mode": "mirror", "profile": {"email": "email"}}},
    }
    since = time.time()
    run = target.run(messages, mappings=mappings)
    assert run.returncode != 0
    assert run.stderr.rstrip().splitlines()[-1] == (
        "target-klaviyo: mappings.audience: list 'NoSuchList1' does not exist in this Klaviyo account"
    )
    assert written_since(target_sandbox, since) == []  # not even the other stream's rows
    assert run.states == []


def test_list_and_consent_mappings_that_cannot_work_name_the_setting(target, target_sandbox):
    messages = [schema_message("c", ["email", "phone", "opt"]), *record_messages("c", [{"email": "a@b.co"}])]
    list_id = lists_of(target_sandbox)[0]
    cases = {
        "mappings.c.consent: column(s) OPT_IN not in stream 'c'": {
            "consent": {"email": "OPT_IN", "profile": {"email": "email"}}
        },
        "mappings.c.list.mode: say what happens to members whose row is gone": {
            "list": {"list_id": list_id, "profile": {"email": "email"}}
        },
        "mappings.c.consent.sms: sms consent is given to a profile's phone_number": {
            "consent": {"sms": "opt", "profile": {"email": "email"}}
        },
        "mappings.c.list.list_id: a Klaviyo list id": {
            "list": {"list_id": "../lists", "mode": "add_only", "profile": {"email": "email"}}
        },
    }
    for message, mapping in cases.items():
        run = target.run(messages, mappings={"c": mapping})
        assert run.returncode != 0, message
        where, _, what = message.partition(": ")
        found = [line for line in run.stderr.splitlines() if where in line]
        assert found and what in found[-1], (message, run.stderr[-2000:])


def test_a_consent_cell_that_is_neither_a_boolean_nor_a_date_is_rejected_with_its_reason(target, target_sandbox, tag):
    """Previewed (dry run): the preview reads what a run reads first (the account, the lists) and sends nothing."""
    rows = [
        {"email": f"c0@{tag}.example", "phone": "+12025550100", "opt": "yes"},
        {"email": f"c1@{tag}.example", "phone": "+12025550101", "opt": "maybe"},
        {"email": f"c2@{tag}.example", "phone": "+12025550102", "opt": "2024-02-30"},
        {"email": f"c3@{tag}.example", "phone": "+12025550103", "opt": ""},  # says nothing: not read
        {"email": f"c4@{tag}.example", "phone": "+12025550104", "opt": "2023-11-02"},
        {"email": f"c5@{tag}.example", "phone": "+12025550105", "opt": "no"},
    ]
    messages = [schema_message("c", ["email", "phone", "opt"]), *record_messages("c", rows)]
    since = time.time()
    run = target.run(
        messages,
        dry_run=True,
        mappings={"c": {"consent": {"email": "opt", "profile": {"email": "email", "phone_number": "phone"}}}},
    )
    assert run.returncode == 0, run.stderr
    assert run.summary["c"]["email_consent"] == counts(5, 0, 0, 2, created=3, subscribed=0, unsubscribed=0)
    assert [(r["row"], r["kind"], r["key"], r["code"]) for r in run.rejects] == [
        (2, "email_consent", f"c1@{tag}.example", "invalid_consent"),
        (3, "email_consent", f"c2@{tag}.example", "invalid_consent"),
    ]
    assert run.rejects[0]["reason"].startswith("opt: consent 'maybe' is neither a boolean")
    assert written_since(target_sandbox, since) == []


# --- consent -----------------------------------------------------------------------------------------------------

CONSENT_COLUMNS = ["email", "phone", "email_opt", "sms_opt"]
CONSENT_MAPPING = {
    "consents": {
        "consent": {
            "email": "email_opt",
            "sms": "sms_opt",
            "profile": {"email": "email", "phone_number": "phone"},
        }
    }
}


def consent_rows(tag: str, **opts: tuple[str, str]) -> list[dict[str, str]]:
    return [
        {"email": f"{name}@{tag}.example", "phone": f"+1202555{i:04d}", "email_opt": e, "sms_opt": s}
        for i, (name, (e, s)) in enumerate(opts.items())
    ]


def subscription_requests(sandbox, rows: list[dict[str, str]], since: float) -> list[tuple[str, bool, list[str]]]:
    """(create or delete, historical import, e-mails and phones) of each subscription job posted since `since`
    for the profiles of `rows`."""
    ours = {row["email"] for row in rows} | {row["phone"] for row in rows}
    out = []
    for entry in sandbox.requests("/api/profile-subscription-bulk-"):
        if entry["t"] < since:
            continue
        attributes = entry["body"]["data"]["attributes"]
        # Each profile as "channel:identifier" (a profile carries the other identifier too).
        who = [
            f"{channel}:{p['attributes'][{'email': 'email', 'sms': 'phone_number'}[channel]]}"
            for p in attributes["profiles"]["data"]
            for channel in p["attributes"]["subscriptions"]
        ]
        if {w.split(":", 1)[1] for w in who} & ours:
            out.append((entry["path"].rsplit("-", 2)[1], bool(attributes.get("historical_import")), sorted(who)))
    return sorted(out)


def test_consent_rows_subscribe_and_unsubscribe_as_read_back_through_the_sdk(target, target_sandbox, tag):
    rows = consent_rows(tag, ann=("true", ""), bob=("2024-03-01", "yes"), cy=("false", ""), dee=("", ""))
    messages = [schema_message("consents", CONSENT_COLUMNS), *record_messages("consents", rows)]
    since = time.time()
    run = target.run(messages, mappings=CONSENT_MAPPING)
    assert run.returncode == 0, run.stderr
    assert run.summary["consents"] == {
        "email_consent": counts(3, 3, 3, 0, subscribed=2, unsubscribed=1),
        "sms_consent": counts(1, 1, 1, 0, subscribed=1, unsubscribed=0),
    }
    bob_phone = rows[1]["phone"]
    assert subscription_requests(target_sandbox, rows, since) == [
        ("create", False, [f"email:ann@{tag}.example"]),
        ("create", False, [f"sms:{bob_phone}"]),  # each channel is a kind of its own: its own requests
        ("create", True, [f"email:bob@{tag}.example"]),  # a date: consent given then, a historical import
        ("delete", False, [f"email:cy@{tag}.example"]),
    ]
    client = sdk(target_sandbox)
    assert wait_for(lambda: consent_of(client, f"cy@{tag}.example"))
    ann, bob, cy = (consent_of(client, f"{name}@{tag}.example") for name in ("ann", "bob", "cy"))
    assert (ann.email.marketing.consent, bob.email.marketing.consent) == ("SUBSCRIBED", "SUBSCRIBED")
    assert bob.email.marketing.consent_timestamp.isoformat() == "2024-03-01T00:00:00+00:00"
    assert bob.sms.marketing.consent == "SUBSCRIBED"
    assert cy.email.marketing.consent == "UNSUBSCRIBED"
    assert consent_of(client, f"dee@{tag}.example") is None  # an empty cell says nothing: nobody made

    # Unchanged: nothing sent. Ann withdraws: only her unsubscription is sent.
    since = time.time()
    again = target.run(messages, mappings=CONSENT_MAPPING)
    assert again.summary["consents"]["email_consent"] == counts(3, 0, 0, 0, unchanged=3, subscribed=0, unsubscribed=0)
    assert subscription_requests(target_sandbox, rows, since) == []
    rows[0]["email_opt"] = "no"
    since = time.time()
    withdrawn = target.run(
        [schema_message("consents", CONSENT_COLUMNS), *record_messages("consents", rows)], mappings=CONSENT_MAPPING
    )
    assert withdrawn.summary["consents"]["email_consent"] == counts(
        3, 1, 1, 0, unchanged=2, changed=1, subscribed=0, unsubscribed=1
    )
    assert subscription_requests(target_sandbox, rows, since) == [("delete", False, [f"email:ann@{tag}.example"])]
    assert wait_for(lambda: consent_of(client, f"ann@{tag}.example").email.marketing.consent == "UNSUBSCRIBED")


def test_consent_is_never_inferred_from_a_profile_row(target, target_sandbox, tag):
    """A profile mapping sends no subscription, whatever the row's columns say."""
    rows = consent_rows(tag, eve=("true", "true"))
    messages = [schema_message("people", CONSENT_COLUMNS), *record_messages("people", rows)]
    since = time.time()
    run = target.run(messages, mappings={"people": {"profile": {"email": "email", "properties": "*"}}})
    assert run.returncode == 0, run.stderr
    assert list(run.summary["people"]) == ["profile"]
    assert [e for e in target_sandbox.requests("/api/profile-subscription-") if e["t"] >= since] == []


# --- list mirror -------------------------------------------------------------------------------------------------


def audience(tag: str, names: list[str], first_row: int = 1, file: str | None = None) -> list[dict]:
    rows = [{"email": f"{name}@{tag}.example"} for name in names]
    if file is not None:
        rows = [{**row, "_sdc_source_file": file} for row in rows]
    columns = ["email", *(["_sdc_source_file"] if file is not None else [])]
    return [schema_message("audience", columns), *record_messages("audience", rows, first_row=first_row)]


def mirror(list_id: str, mode: str = "mirror") -> dict:
    return {"audience": {"list": {"list_id": list_id, "mode": mode, "profile": {"email": "email"}}}}


def members_of(sandbox, list_id: str, tag: str) -> set[str]:
    """The list's members among this test's profiles (m0 ... m11), read through the official SDK."""
    quoted = ",".join(f'"{n}@{tag}.example"' for n in NAMES)
    found = sdk(sandbox).Lists.get_profiles_for_list(id=list_id, filter=f"any(email,[{quoted}])", page_size=100).data
    return {p.attributes.email.split("@")[0] for p in found}


NAMES = [f"m{i}" for i in range(12)]


def removals(sandbox, list_id: str, since: float) -> list[list[str]]:
    return [
        [ref["id"] for ref in e["body"]["data"]]
        for e in sandbox.requests(f"/api/lists/{list_id}/relationships/profiles", method="DELETE")
        if e["t"] >= since
    ]


def test_a_list_mirror_adds_and_removes_exactly_the_members_that_changed(target, target_sandbox, tag):
    list_id = lists_of(target_sandbox)[3]
    client = sdk(target_sandbox)
    others = len(client.Lists.get_profile_ids_for_list(id=list_id, page_size=100).data)
    first = target.run(audience(tag, NAMES[:6]), mappings=mirror(list_id))
    assert first.returncode == 0, first.stderr
    assert first.summary["audience"]["list"] == counts(6, 6, 6, 0, added=6, removed=0)
    assert members_of(target_sandbox, list_id, tag) == set(NAMES[:6])

    # m0 and m1 leave, m6 joins, m2..m5 stay.
    since = time.time()
    second = target.run(audience(tag, NAMES[2:7]), mappings=mirror(list_id))
    assert second.returncode == 0, second.stderr
    assert second.summary["audience"]["list"] == counts(5, 1, 1, 0, unchanged=4, added=1, removed=2)
    assert members_of(target_sandbox, list_id, tag) == set(NAMES[2:7])
    profile_ids = {p.attributes.email.split("@")[0]: p.id for p in sdk_profiles(client, tag, NAMES[:2])}
    assert [sorted(batch) for batch in removals(target_sandbox, list_id, since)] == [
        sorted([profile_ids["m0"], profile_ids["m1"]])
    ]
    # Members the mirror never added are not its to remove.
    assert len(client.Lists.get_profile_ids_for_list(id=list_id, page_size=100).data) >= min(others, 100)

    # add_only: nobody leaves, whatever the rows.
    since = time.time()
    add_only = target.run(audience(tag, NAMES[6:8]), mappings=mirror(list_id, "add_only"))
    assert add_only.summary["audience"]["list"] == counts(2, 1, 1, 0, unchanged=1, added=1, removed=0)
    assert removals(target_sandbox, list_id, since) == []
    assert members_of(target_sandbox, list_id, tag) == set(NAMES[2:8])


def test_a_mirror_removes_nobody_when_its_rows_cannot_be_the_whole_audience(target, target_sandbox, tag):
    list_id = lists_of(target_sandbox)[4]
    assert target.run(audience(tag, NAMES[:4], file="in/a.csv"), mappings=mirror(list_id)).returncode == 0
    since = time.time()
    empty = target.run(audience(tag, []), mappings=mirror(list_id))
    assert empty.returncode == 0, empty.stderr
    assert "nobody removed from list" in empty.stderr and "the stream brought no rows in this run" in empty.stderr
    resumed = target.run(audience(tag, NAMES[3:4], first_row=4, file="in/a.csv"), mappings=mirror(list_id))
    assert resumed.returncode == 0, resumed.stderr
    assert "part of a file was read (in/a.csv from row 4: a resumed read)" in resumed.stderr
    assert removals(target_sandbox, list_id, since) == []
    assert members_of(target_sandbox, list_id, tag) == set(NAMES[:4])


def test_a_mirror_preview_counts_who_would_leave_and_removes_nobody(target, target_sandbox, tag):
    list_id = lists_of(target_sandbox)[5]
    assert target.run(audience(tag, NAMES[:5]), mappings=mirror(list_id)).returncode == 0
    since = time.time()
    preview = target.run(audience(tag, NAMES[2:6]), dry_run=True, mappings=mirror(list_id))
    assert preview.returncode == 0, preview.stderr
    assert preview.summary["audience"]["list"] == counts(4, 0, 0, 0, unchanged=3, created=1, added=0, removed=2)
    assert written_since(target_sandbox, since) == []
    assert members_of(target_sandbox, list_id, tag) == set(NAMES[:5])


def sdk_profiles(client, tag: str, names: list[str]) -> list:
    quoted = ",".join(f'"{n}@{tag}.example"' for n in names)
    return client.Profiles.get_profiles(filter=f"any(email,[{quoted}])").data


def sdk(sandbox) -> KlaviyoAPI:
    return KlaviyoAPI(sandbox.key(0), test_host=sandbox.url, max_retries=3, max_delay=2)


def consent_of(client, address: str):
    found = client.Profiles.get_profiles(
        filter=f'equals(email,"{address}")', additional_fields_profile=["subscriptions"]
    ).data
    return found[0].attributes.subscriptions if found else None


def test_a_member_whose_row_is_rejected_stays(target, target_sandbox, tag):
    """A row tap-csv could not read (or one with a bad value) is not a member leaving: only a row that is gone is."""
    list_id = lists_of(target_sandbox)[6]
    assert target.run(audience(tag, NAMES[:3]), mappings=mirror(list_id)).returncode == 0
    messages = audience(tag, NAMES[:3])
    messages[2]["record"]["_sdc_row_error"] = "3 fields where the header has 1"
    since = time.time()
    run = target.run(messages, mappings=mirror(list_id))
    assert run.summary["audience"]["list"] == counts(3, 0, 0, 1, unchanged=2, added=0, removed=0)
    assert [(r["row"], r["code"]) for r in run.rejects] == [(2, "bad_csv_row")]
    assert removals(target_sandbox, list_id, since) == []
    assert members_of(target_sandbox, list_id, tag) == set(NAMES[:3])
