"""Whole pages of generated events rendered at once: the sandbox's hot path.

A page of 1,000 events built record by record (hashes, ids, dates, dicts, then JSON) costs ~25 ms of
Python. Here the per-event arithmetic (splitmix64 hashes, times, metric draw, base62 ids, uuids, dates)
runs over numpy arrays for the whole page, and each event's JSON is written from one template, so the
sandbox stays far from being what limits a tap. The output is the same document `resource()` gives
for `AccountDataSet.event(i)`: test_event_pages checks that, event by event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import orjson

from . import ids
from .generator import AccountDataSet, hash_str, iso
from .tables import LazyTable, Pos, Record

_U = np.uint64
_M48 = _U((1 << 48) - 1)
_B62 = np.frombuffer(ids._B62.encode(), dtype=np.uint8).astype(np.uint32)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint32)
_KIND_E = _U(hash_str("e"))
_KIND_ET = _U(hash_str("et"))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 over uint64 arrays (wrapping multiplication), as generator.mix does for one int."""
    x = x + _U(0x9E3779B97F4A7C15)
    x = (x ^ (x >> _U(30))) * _U(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U(27))) * _U(0x94D049BB133111EB)
    out: np.ndarray = x ^ (x >> _U(31))
    return out


def _digits(values: np.ndarray, width: int, base: int, alphabet: np.ndarray) -> np.ndarray:
    """Fixed-width digits of each value (most significant first), as code points: shape (n, width)."""
    out = np.empty((len(values), width), dtype=np.uint32)
    v = values.copy()
    b = _U(base)
    for k in range(width - 1, -1, -1):
        out[:, k] = alphabet[(v % b).astype(np.intp)]
        v //= b
    return out


def _strings(codes: np.ndarray) -> list[str]:
    return codes.view(f"<U{codes.shape[1]}").ravel().tolist()


def event_times(acc: AccountDataSet, indexes: np.ndarray) -> np.ndarray:
    """AccountDataSet.event_time for many indexes, float for float."""
    hh = _mix(_U(acc.salt) ^ _mix(_KIND_ET + indexes))
    return acc.start + (indexes.astype(np.float64) + (hh % _U(997) + _U(1)).astype(np.float64) / 1000) * acc.event_step


def event_draws(acc: AccountDataSet, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For generated events `idx` (uint64): their hashes, times, metric indexes and profile indexes, as
    AccountDataSet.event draws them."""
    h = _mix(_U(acc.salt) ^ _mix(_KIND_E + idx))
    t = event_times(acc, idx)
    u = (h >> _U(11)).astype(np.float64) / float(1 << 53)
    metrics = np.minimum(np.searchsorted(acc.metric_weights, u, side="left"), len(acc.metric_weights) - 1)
    profiles = _mix(h) % _U(acc.n_profiles)
    return h, t, metrics, profiles


# An event's attribution (query.ReadRequest._attribution), for pages that include attributions.
AttributionOf = Callable[[Record], Record | None]


def render_events(
    acc: AccountDataSet,
    indexes: Sequence[int],
    base: str,
    attribution_of: AttributionOf | None = None,
    included: list[Record] | None = None,
) -> list[str]:
    """The JSON text of generated events `indexes` as `resource(acc.event(i), base)` renders them. With
    `attribution_of` (include=attributions), each attributed event links its attribution, which is appended to
    `included`."""
    if not len(indexes):
        return []
    idx = np.asarray(indexes, dtype=np.uint64)
    salt = _U(acc.salt)
    h, t, metrics, profiles = event_draws(acc, idx)
    seconds = np.floor(t)
    event_ids = _strings(_digits(((idx ^ salt) * _U(ids._MUL)) & _M48, 11, 62, _B62))
    hex_codes = np.concatenate([_digits(h, 16, 16, _HEX), _digits(_mix(h + _U(7)), 16, 16, _HEX)], axis=1)
    dash = np.full((len(idx), 1), ord("-"), dtype=np.uint32)
    uuids = _strings(
        np.concatenate(
            [
                hex_codes[:, :8],
                dash,
                hex_codes[:, 8:12],
                dash,
                hex_codes[:, 12:16],
                dash,
                hex_codes[:, 16:20],
                dash,
                hex_codes[:, 20:],
            ],
            axis=1,
        )
    )
    dates = [d + "+00:00" for d in np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").tolist()]
    # datetime.fromtimestamp rounds to the microsecond first: a time within half a microsecond of the next
    # second shows as that second. Rare; let the scalar code decide those.
    for k in np.nonzero(t - seconds >= 0.9999995)[0].tolist():
        dates[k] = iso(float(t[k]))

    metric_ids = acc.metric_ids
    profile_id = acc.profile_id
    properties = acc.event_properties
    out = []
    for k, (i, hk, m, j, secs, tk) in enumerate(
        zip(idx.tolist(), h.tolist(), metrics.tolist(), profiles.tolist(), seconds.tolist(), t.tolist(), strict=True)
    ):
        eid = event_ids[k]
        s = f"{base}/api/events/{eid}/"
        event_properties = properties(i, hk, m, tk)
        props = orjson.dumps(event_properties).decode()
        linked = ""
        if attribution_of is not None:
            attribution = attribution_of(
                {"type": "event", "id": eid, "attributes": {"event_properties": event_properties}}
            )
            if attribution is not None:
                linked = f'{{"type":"attribution","id":"{attribution["id"]}"}}'
                if included is not None:
                    included.append(attribution)
        out.append(
            f'{{"type":"event","id":"{eid}","attributes":{{"timestamp":{int(secs)},"event_properties":{props},'
            f'"datetime":"{dates[k]}","uuid":"{uuids[k]}"}},"relationships":{{'
            f'"metric":{{"data":{{"type":"metric","id":"{metric_ids[m]}"}},'
            f'"links":{{"self":"{s}relationships/metric/","related":"{s}metric/"}}}},'
            f'"profile":{{"data":{{"type":"profile","id":"{profile_id(j)}"}},'
            f'"links":{{"self":"{s}relationships/profile/","related":"{s}profile/"}}}},'
            f'"attributions":{{"data":[{linked}],"links":{{"self":"{s}relationships/attributions/",'
            f'"related":"{s}attributions/"}}}}}},"links":{{"self":"{s}"}}}}'
        )
    return out


def _light_record(t: float) -> Record:
    # What the time predicates of a filter read: the sort keys and the shown timestamp.
    return {"k": {"datetime": t, "timestamp": t}, "attributes": {"timestamp": int(t)}, "rel": {}}


def fast_page(
    acc: AccountDataSet,
    table: LazyTable,
    order: str,
    descending: bool,
    after: Pos | None,
    lo: float | None,
    hi: float | None,
    checks: list[Callable[[Record], bool]],
    size: int,
    base: str,
    attribution_of: AttributionOf | None = None,
) -> tuple[list[str], Pos | None, bool, list[Record]]:
    """One page of the generated events of `acc` that `table` serves: (JSON texts, position of the last one,
    whether more follow, the events' attributions when `attribution_of` is given: see render_events).

    Only for a table with no writes (nothing to merge) and checks on the event time alone, which is
    what a tap's incremental window asks; everything else takes the general record-by-record path.
    """
    step = -1 if descending else 1
    i = table.start_index(order, descending, after, lo, hi)
    chosen: list[int] = []
    last_time = 0.0
    more = False
    while 0 <= i < table.n and not more:
        stop = min(table.n, i + size + 1) if step == 1 else max(-1, i - size - 1)
        block = np.arange(i, stop, step, dtype=np.int64)
        times = event_times(acc, block.astype(np.uint64))
        for index, t in zip(block.tolist(), times.tolist(), strict=True):
            if (hi is not None and t > hi) or (lo is not None and t < lo):
                i = -2  # past the bound: nothing further can match
                break
            if checks:
                record = _light_record(t)
                if not all(check(record) for check in checks):
                    continue
            if len(chosen) == size:
                more = True
                break
            chosen.append(index)
            last_time = t
        else:
            i = stop
    last = (last_time, 0, ids.short_id(chosen[-1], acc.salt, 11)) if chosen else None
    included: list[Record] = []
    return render_events(acc, chosen, base, attribution_of, included), last, more, included
