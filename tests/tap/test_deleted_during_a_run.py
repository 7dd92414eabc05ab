"""Things deleted in Klaviyo while a run reads them end that part of the read, not the run: a list whose members
are being read, a flow action whose messages are next. (Their rows are then marked deleted: versions.py.)"""

from __future__ import annotations

import json

import requests

from tap_klaviyo.bookmarks import PartitionRun
from tap_klaviyo.members import group_ids
from tap_klaviyo.tap import TapKlaviyo


def tap_for(sandbox) -> TapKlaviyo:
    accounts = [{"account": a["account"], "api_key": a["api_key"]} for a in sandbox.accounts[:1]]
    config = {"accounts_json": json.dumps(accounts), "api_url": sandbox.url, "rate_limit_scale": 0}
    return TapKlaviyo(config=config, validate_config=True)


def delete(sandbox, path: str) -> None:
    headers = {"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": "2026-10-15"}
    assert requests.delete(f"{sandbox.url}{path}", headers=headers, timeout=30).status_code == 204


def test_a_list_deleted_after_the_groups_were_listed_ends_its_members_quietly(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory("--accounts", "1", "--events", "10", "--profiles", "300", "--rate-limit-scale",
                                      "0")  # fmt: skip
    tap = tap_for(sandbox)
    stream = tap.streams["list_members"]
    account = tap.run_context.accounts()[0]
    lists = group_ids(account, "list")
    delete(sandbox, f"/api/lists/{lists[0]}")
    gone = list(stream.pages(PartitionRun({"account_id": account.id, "list_id": lists[0]}, None)))
    kept = list(stream.pages(PartitionRun({"account_id": account.id, "list_id": lists[1]}, None)))
    assert gone == [] and kept


def test_a_flow_deleted_before_its_messages_are_read_ends_them_quietly(klaviyo_sandbox_factory):
    sandbox = klaviyo_sandbox_factory("--accounts", "1", "--events", "10", "--profiles", "30", "--rate-limit-scale",
                                      "0")  # fmt: skip
    tap = tap_for(sandbox)
    account = tap.run_context.accounts()[0].id
    headers = {"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": "2026-10-15"}
    flow = requests.get(f"{sandbox.url}/api/flows", params={"include": "flow-actions"}, headers=headers,
                        timeout=30).json()["data"][0]  # fmt: skip
    action = flow["relationships"]["flow-actions"]["data"][0]["id"]
    delete(sandbox, f"/api/flows/{flow['id']}")
    rows = list(tap.streams["flow_messages"].get_records({"account_id": account, "flow_action_id": action}))
    assert rows == []
