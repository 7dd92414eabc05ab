"""warehouse-sql's logic in-process: the page from rows, the share guard of deletions, the SQL names it accepts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from warehouse_sql.apply import Refused, split_by_share
from warehouse_sql.page import age, brands, render_page
from warehouse_sql.reading import DayCount, Freshness
from warehouse_sql.statements import mark_deleted, view

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def day(account: str, name: str, n: int, klaviyo: int, warehouse: int, metric: str = "Placed Order") -> DayCount:
    return DayCount(account, name, metric[:3], metric, date(2026, 11, n), "America/Chicago", klaviyo, warehouse, NOW)


def test_the_page_shows_which_brand_and_day_differ_and_how_fresh_each_is():
    counts = [
        day("A", "Acme <Outdoors>", 19, 10, 10),
        day("A", "Acme <Outdoors>", 20, 12, 9),
        day("A", "Acme <Outdoors>", 20, 5, 5, "Opened Email"),
        day("B", "Blue Fern", 19, 0, 0),
        day("B", "Blue Fern", 20, 7, 7),
    ]
    fresh = [
        Freshness("A", "Acme <Outdoors>", NOW - timedelta(minutes=7), NOW - timedelta(minutes=3)),
        Freshness("B", "Blue Fern", NOW - timedelta(days=3), NOW - timedelta(hours=5)),
    ]
    page = render_page(counts, fresh, NOW)
    assert "1 of 2 brand(s) differ" in page
    assert "Acme &lt;Outdoors&gt;" in page and "<Outdoors>" not in page  # names escaped
    assert (
        "Acme &lt;Outdoors&gt;, 2026-11-20: Klaviyo 17, warehouse 14 (-3)\nPlaced Order: Klaviyo 12, warehouse 9 (-3)"
        in page
    )
    assert '<span class="badge bad">1 day differ</span>' in page
    assert '<span class="badge ok">complete</span>' in page
    assert ">7 min<" in page and ">3 days<" in page and ">5.0 h<" in page
    assert "<script" not in page and "src=" not in page  # self-contained: nothing fetched, nothing run


def test_brands_sum_metrics_per_day_and_keep_the_differing_metric_days():
    (acme,) = brands([day("A", "Acme", 20, 12, 9), day("A", "Acme", 20, 5, 5, "Opened Email")], [])
    assert acme.klaviyo == {date(2026, 11, 20): 17} and acme.warehouse == {date(2026, 11, 20): 14}
    assert [row.metric_name for row in acme.differing] == ["Placed Order"]
    assert acme.differing_days == [date(2026, 11, 20)]


def test_a_page_before_any_check_says_so():
    assert "No completeness check yet" in render_page([], [], NOW)


@pytest.mark.parametrize(
    ("ago", "shown"),
    [
        (timedelta(seconds=40), "40 s"),
        (timedelta(minutes=30), "30 min"),
        (timedelta(hours=5), "5.0 h"),
        (timedelta(days=9), "9 days"),
    ],
)
def test_age(ago, shown):
    assert age(NOW - ago, NOW) == shown
    assert age(None, NOW) == "—"


def test_the_share_guard_refuses_an_account_whose_listing_lost_too_many():
    counts = [
        ("A", 1000, 3, 3),  # a few deleted: marked
        ("B", 1000, 400, 400),  # 40%: a listing gone wrong, refused
        ("C", 20, 8, 8),  # 40% but only 8: under the floor, marked
        ("D", 1000, 500, 0),  # already marked: marked again changes nothing, never refused
        ("E", 1000, 0, 0),  # nothing deleted
    ]
    allowed, refused = split_by_share(counts, max_share=0.05)
    assert allowed == ["A", "C", "D"]
    assert refused == [Refused("B", 1000, 400)]
    assert "400 of its 1,000 profiles (40%)" in refused[0].line(0.05)


def test_sql_names_are_plain_identifiers_only():
    assert "KLAVIYO.DELETED_PROFILES" in mark_deleted("KLAVIYO", "EVENTS", "profile_id", ["a"], hard=False)
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        view("EVENT_COMPLETENESS", 'KLAVIYO"; DROP TABLE X; --')
