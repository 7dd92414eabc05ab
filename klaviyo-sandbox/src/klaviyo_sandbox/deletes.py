"""What Klaviyo's DELETE routes do to an account's data: the resource goes, and so does every mention of it.

After a delete, the single GET is a 404, the collection no longer lists the resource, and no other resource
names it in a relationship or side-loads it with `include`: "Any associations between the tag and other resources
will also be removed" (SDK docstring of delete_tag). What belongs to the deleted resource goes with it: a
campaign's messages, a flow's actions and their messages, a list's or segment's membership (its members route
is then a 404, as the list's).
"""

from __future__ import annotations

from .account import AccountState
from .tables import MemoryTable, Record


def delete_resource(acc: AccountState, type_: str, resource_id: str) -> bool:
    """Delete one resource and what hangs on it; False if the account has no such resource."""
    record = acc.memory_table(type_).delete(resource_id)
    if record is None:
        return False
    if type_ == "campaign":
        for message_id in record["rel"].get("campaign-messages", ()):
            acc.campaign_messages.delete(message_id)
    elif type_ == "flow":
        for action_id in record["rel"].get("flow-actions", ()):
            action = acc.flow_actions.delete(action_id)
            for message_id in action["rel"].get("flow-messages", ()) if action else ():
                acc.flow_messages.delete(message_id)
    elif type_ in ("list", "segment"):
        acc.members.pop((type_, resource_id), None)
    elif type_ == "tag":
        for table in (acc.campaigns, acc.flows, acc.lists, acc.segments):
            _untag(table, resource_id)
    elif type_ == "template":
        _forget_template(acc, resource_id)
    return True


def _untag(table: MemoryTable, tag_id: str) -> None:
    for record in [r for r in table.records.values() if tag_id in r["rel"].get("tags", ())]:
        tags = [t for t in record["rel"]["tags"] if t != tag_id]
        table.put({**record, "rel": {**record["rel"], "tags": tags}})


def _forget_template(acc: AccountState, template_id: str) -> None:
    # The sandbox lets flow and campaign messages point at library templates; once the template is gone their
    # `template` relationship is empty rather than naming a resource that answers 404.
    for record in [r for r in acc.flow_messages.records.values() if r["rel"].get("template") == template_id]:
        acc.flow_messages.put({**record, "rel": {**record["rel"], "template": None}})
    stale: list[Record] = [r for r in acc.campaign_messages.records.values() if r.get("template") == template_id]
    for record in stale:
        acc.campaign_messages.put({**record, "template": None})
