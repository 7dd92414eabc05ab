"""JSON:API resources -> the relational rows users of the old app query.

- `attributes` become top-level columns; dashes in names become underscores.
- A to-one relationship becomes `<name>_id`, a to-many one `<singular name>_ids` (dashes -> underscores),
  taken from `relationships.<name>.data`; links-only relationships give nothing. The column comes from the
  relationship's name, not from its data, so an empty to-many relationship names the same column.
- `links` are dropped. `id` stays `id`; `type` is implied by the stream and dropped.
"""

from __future__ import annotations

from typing import Any


def column(name: str) -> str:
    return name.replace("-", "_")


def relationship_column(name: str, many: bool) -> str:
    """`metric` -> `metric_id`; `campaign-messages` -> `campaign_message_ids`."""
    if many:
        return f"{column(name[:-1] if name.endswith('s') else name)}_ids"
    return f"{column(name)}_id"


def flatten(resource: dict[str, Any], columns: dict[str, Any] | None = None) -> dict[str, Any]:
    """One JSON:API resource object as one flat row, starting with `columns` (the account's, where given)."""
    row: dict[str, Any] = {**columns, "id": resource["id"]} if columns else {"id": resource["id"]}
    for key, value in (resource.get("attributes") or {}).items():
        row[column(key)] = value
    for name, rel in (resource.get("relationships") or {}).items():
        if "data" not in rel:
            continue
        data = rel["data"]
        if isinstance(data, list):
            row[relationship_column(name, True)] = [item["id"] for item in data]
        else:
            row[relationship_column(name, False)] = data["id"] if data else None
    return row
