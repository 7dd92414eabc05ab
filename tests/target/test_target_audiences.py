"""List mirrors and consent, with target-klaviyo as a process against the sandbox: bad input first (one line
naming the setting or column, nothing sent; a bad consent cell rejected with its reason)."""

from __future__ import annotations

import time

from target_runs import counts, record_messages, schema_message


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
