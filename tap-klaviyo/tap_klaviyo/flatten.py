"""JSON:API pages -> the relational rows users of the old app query.

- A page is decoded once, with msgspec, into just what the rows need: each resource's `id`, `type`, `attributes`
  and the `data` of its relationships. Links (four URLs per event, most of a page's bytes) are skipped while
  decoding, never built: measured, this halves the tap's cost of reading a page of events.
- The large streams (paged_stream.py) go further: each attribute's value stays the JSON text Klaviyo sent
  (`RawPage`), and is written out as it came (msgspec encodes a `Raw` as is), so nested objects such as an event's
  properties are never built only to be encoded again. Only the replication key is read from it (`text`).
- `attributes` become top-level columns; dashes in names become underscores.
- A to-one relationship becomes `<name>_id`, a to-many one `<singular name>_ids` (dashes -> underscores), taken from
  `relationships.<name>.data`; links-only relationships give nothing. The column comes from the relationship's
  name, not from its data, so an empty to-many relationship names the same column.
- `id` stays `id`; `type` is implied by the stream and dropped.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec


class Ref(msgspec.Struct):
    type: str
    id: str


class Relationship(msgspec.Struct):
    data: Ref | list[Ref] | msgspec.UnsetType | None = msgspec.UNSET  # UNSET: links only


class Resource(msgspec.Struct):
    type: str
    id: str
    attributes: dict[str, Any] = {}
    relationships: dict[str, Relationship] = {}


class RawResource(msgspec.Struct):
    type: str
    id: str
    attributes: dict[str, msgspec.Raw] = {}
    relationships: dict[str, Relationship] = {}


class PageLinks(msgspec.Struct):
    next: str | None = None


class Page(msgspec.Struct):
    data: list[Resource]
    included: list[Resource] = []
    links: PageLinks = msgspec.field(default_factory=PageLinks)


class RawPage(msgspec.Struct):
    data: list[RawResource]
    included: list[Resource] = []  # side-loaded resources are small (an event's attribution): decoded in full
    links: PageLinks = msgspec.field(default_factory=PageLinks)


class _LinksOnly(msgspec.Struct):
    links: PageLinks = msgspec.field(default_factory=PageLinks)


# A row as JSON: values kept as Klaviyo's JSON text (msgspec.Raw) are written as they came. (msgspec's encoders and
# decoders are safe to share between threads: the windows decode in several at once.)
encode_row = msgspec.json.Encoder().encode
_decode_page = msgspec.json.Decoder(Page).decode
_decode_raw_page = msgspec.json.Decoder(RawPage).decode
_decode_links = msgspec.json.Decoder(_LinksOnly).decode


def decode_page(content: bytes) -> Page:
    """A collection answer of Klaviyo's (`data`, `included`, `links.next`)."""
    return _decode_page(content)


def decode_raw_page(content: bytes) -> RawPage:
    """A collection answer, each attribute kept as the JSON text Klaviyo sent (see the module's doc)."""
    return _decode_raw_page(content)


def text(value: Any) -> str | None:
    """A string column's value, whether kept raw or decoded (None when it is not a string)."""
    if isinstance(value, msgspec.Raw):
        value = msgspec.json.decode(value)
    return value if isinstance(value, str) else None


def decoded(row: dict[str, Any]) -> dict[str, Any]:
    """A row with every raw value decoded, for code that reads values (stream maps)."""
    return {k: msgspec.json.decode(v) if isinstance(v, msgspec.Raw) else v for k, v in row.items()}


def next_link(content: bytes) -> str | None:
    """Only `links.next` of an answer (the rest is skipped, not built)."""
    return _decode_links(content).links.next


def as_resource(resource: dict[str, Any]) -> Resource:
    """A resource already parsed as plain JSON (tests, included resources handed around as dicts)."""
    return msgspec.convert(resource, Resource)


def column(name: str) -> str:
    return name.replace("-", "_")


@cache
def relationship_column(name: str, many: bool) -> str:
    """`metric` -> `metric_id`; `campaign-messages` -> `campaign_message_ids`."""
    if many:
        return f"{column(name[:-1] if name.endswith('s') else name)}_ids"
    return f"{column(name)}_id"


def flatten(resource: Resource | RawResource, columns: dict[str, Any] | None = None) -> dict[str, Any]:
    """One resource as one flat row, starting with `columns` (the account's, where given)."""
    row: dict[str, Any] = {**columns, "id": resource.id} if columns else {"id": resource.id}
    for key, value in resource.attributes.items():
        row[column(key) if "-" in key else key] = value
    for name, relationship in resource.relationships.items():
        data = relationship.data
        if data is msgspec.UNSET:
            continue
        if isinstance(data, list):
            row[relationship_column(name, True)] = [ref.id for ref in data]
        else:
            row[relationship_column(name, False)] = data.id if data is not None else None
    return row
