"""How a row deleted in Klaviyo is marked deleted in the warehouse: table versions and ACTIVATE_VERSION.

Klaviyo's list endpoints return only what exists now, with no trace of what was deleted (the sandbox does the same:
klaviyo-sandbox/src/klaviyo_sandbox/deletes.py; https://fivetran.com/docs/applications/klaviyo). A stream declared
`deletions = ACTIVATE_VERSION` is therefore listed in full on every run, and its rows carry the run's table version
(the RECORD's `version`, or `_sdc_table_version` in a batch file). Once every account of the company has synced it,
the run ends with ACTIVATE_VERSION: target-snowflake sets `_sdc_deleted_at` on each row of an older version, which is
a row the listing no longer returned (`hard_delete` deletes it instead).

ACTIVATE_VERSION applies to a whole table, and all accounts share each table, so:
- every account's rows of one run carry the same version (`table_version`: the run's start, in seconds; the
  per-account processes of fanout.py, and the per-account pods of a scheduled Argo run, are given it);
- it is sent at the end, never when a stream starts (singer-sdk's default): sent early, it would mark every other
  account's rows deleted until they were read again, and for good if an account failed;
- it is sent only by a run that covered every account, all of them synced: a run limited to some accounts
  (`accounts`), or one where an account failed, marks nothing deleted and says why. Per-account runs (Argo) end
  with one run that only activates (`activate_version`) once every account's run has succeeded.
"""

from __future__ import annotations

import typing as t

from singer_sdk.mapper import RemoveRecordTransform
from singer_sdk.singerlib import ActivateVersionMessage, SchemaMessage

if t.TYPE_CHECKING:
    from .klaviyo_stream import KlaviyoStream
    from .tap import TapKlaviyo

ACTIVATE_VERSION = "activate_version"


def versioned_streams(tap: TapKlaviyo) -> list[KlaviyoStream]:
    """The selected streams whose deletions are marked with ACTIVATE_VERSION."""
    return [
        stream
        for stream in t.cast("list[KlaviyoStream]", list(tap.streams.values()))
        if stream.selected and stream.deletions == ACTIVATE_VERSION
    ]


def why_not_activate(tap: TapKlaviyo, failed: t.Iterable[str]) -> str | None:
    """Why this run may not mark deletions (None: it may)."""
    if tap.settings.accounts:
        return "the run reads some accounts only (the `accounts` setting); the next run of every account marks them"
    failed = list(failed)
    if failed:
        names = ", ".join(f"'{name}'" for name in failed)
        return f"account(s) {names} did not sync; the next run that syncs every account marks them"
    return None


def activate(tap: TapKlaviyo, version: int, *, with_schemas: bool = False) -> list[str]:
    """ACTIVATE_VERSION `version` for every selected versioned stream (each alias of its stream maps); returns the
    stream names. `with_schemas` first sends each stream's SCHEMA, for a run that sends nothing else."""
    names = []
    for stream in versioned_streams(tap):
        for stream_map in stream.stream_maps:
            if isinstance(stream_map, RemoveRecordTransform):
                continue
            if with_schemas:
                tap.write_message(
                    SchemaMessage(
                        stream_map.stream_alias,
                        stream_map.transformed_schema,
                        stream_map.transformed_key_properties,
                        [stream.replication_key] if stream.replication_key else None,
                    )
                )
            tap.write_message(ActivateVersionMessage(stream=stream_map.stream_alias, version=version))
        names.append(stream.name)
    return names
