"""What the sandbox holds, read straight through Klaviyo's API: the truth the tap's and warehouse's rows are
compared with."""

from __future__ import annotations

import requests

from klaviyo_sandbox.pytest_plugin import RunningSandbox


def walk(sandbox: RunningSandbox, index: int, path: str, **params: str) -> list[dict]:
    session = requests.Session()
    session.headers.update({"Authorization": f"Klaviyo-API-Key {sandbox.key(index)}", "revision": "2026-10-15"})
    body = session.get(f"{sandbox.url}{path}", params=params, timeout=60).json()
    rows = list(body["data"])
    while body["links"]["next"]:
        body = session.get(body["links"]["next"], timeout=60).json()
        rows.extend(body["data"])
    return rows


def expected_counts(sandbox: RunningSandbox, index: int, *, events: int, profiles: int) -> dict[str, int]:
    """Rows per stream that one account serves, read through the API itself (the tap's expected output)."""
    campaigns = [
        c
        for channel in ("email", "sms", "mobile_push")
        for archived in ("true", "false")
        for c in walk(
            sandbox, index, "/api/campaigns", filter=f"equals(messages.channel,'{channel}'),equals(archived,{archived})"
        )
    ]
    flows = [
        f
        for archived in ("true", "false")
        for f in walk(sandbox, index, "/api/flows", filter=f"equals(archived,{archived})")
    ]
    lists = walk(sandbox, index, "/api/lists")
    segments = walk(sandbox, index, "/api/segments")
    return {
        "accounts": 1,
        "events": events,
        "profiles": profiles,
        "metrics": len(walk(sandbox, index, "/api/metrics")),
        "campaigns": len(campaigns),
        "flows": len(flows),
        "lists": len(lists),
        "segments": len(segments),
        "tags": len(walk(sandbox, index, "/api/tags")),
        "templates": len(walk(sandbox, index, "/api/templates")),
        "campaign_messages": sum(len(c["relationships"]["campaign-messages"]["data"]) for c in campaigns),
        "flow_actions": sum(len(f["relationships"]["flow-actions"]["data"]) for f in flows),
        "list_members": sum(len(walk(sandbox, index, f"/api/lists/{g['id']}/profiles")) for g in lists),
        "segment_members": sum(len(walk(sandbox, index, f"/api/segments/{g['id']}/profiles")) for g in segments),
    }
