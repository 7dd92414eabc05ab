"""The completeness and freshness page: one self-contained HTML file (inline SVG and CSS, no script, nothing fetched).

At the top, one line per brand: whether every day of its latest check agrees with Klaviyo, how many days differ, its
newest event's age and when its rows were last loaded; beside it a strip of one cell per day (green: the warehouse
holds what Klaviyo counts; red: it does not, darker the more it is off; grey: no events either side). Below, per
brand, Klaviyo's daily count (bars) against the warehouse's (dots), the differing days shaded, and the differing
metric-days listed. Hovering a cell or a bar shows the day's numbers (SVG <title>).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from .reading import DayCount, Freshness

__all__ = ["BrandDays", "age", "brands", "render_page"]

CELL = 9  # px per day in the strip
CHART_W, CHART_H = 720, 120
MAX_LISTED = 40  # differing metric-days listed per brand


@dataclass
class BrandDays:
    """One brand's latest check, per day (all metrics summed), and its freshness."""

    account_id: str
    name: str
    timezone: str = "UTC"
    checked_at: datetime | None = None
    klaviyo: dict[date, int] = field(default_factory=dict)
    warehouse: dict[date, int] = field(default_factory=dict)
    differing: list[DayCount] = field(default_factory=list)  # metric-days that differ
    fresh: Freshness | None = None

    @property
    def days(self) -> list[date]:
        return sorted(self.klaviyo)

    def differs(self, day: date) -> bool:
        return any(row.day == day for row in self.differing)

    @property
    def differing_days(self) -> list[date]:
        return sorted({row.day for row in self.differing})


def brands(counts: list[DayCount], fresh: list[Freshness]) -> list[BrandDays]:
    """Rows of the completeness view and the freshness of each brand, grouped per brand (sorted by name)."""
    by_id: dict[str, BrandDays] = {}
    for row in counts:
        brand = by_id.setdefault(row.account_id, BrandDays(row.account_id, row.account_name, row.timezone))
        brand.checked_at = row.checked_at
        brand.klaviyo[row.day] = brand.klaviyo.get(row.day, 0) + row.klaviyo
        brand.warehouse[row.day] = brand.warehouse.get(row.day, 0) + row.warehouse
        if row.difference:
            brand.differing.append(row)
    for item in fresh:
        by_id.setdefault(item.account_id, BrandDays(item.account_id, item.account_name)).fresh = item
    return sorted(by_id.values(), key=lambda b: (b.name.lower(), b.account_id))


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago, in the largest unit that reads well ("—" for never)."""
    if moment is None:
        return "—"
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _day_title(brand: BrandDays, day: date) -> str:
    k, w = brand.klaviyo.get(day, 0), brand.warehouse.get(day, 0)
    lines = [f"{brand.name}, {day.isoformat()}: Klaviyo {k:,}, warehouse {w:,} ({w - k:+,})"]
    lines += [
        f"{row.metric_name}: Klaviyo {row.klaviyo:,}, warehouse {row.warehouse:,} ({row.difference:+,})"
        for row in brand.differing
        if row.day == day
    ]
    return "\n".join(lines)


def _cell_colour(brand: BrandDays, day: date) -> str:
    k, w = brand.klaviyo.get(day, 0), brand.warehouse.get(day, 0)
    if not brand.differs(day):
        return "#2e9e5b" if k else "#d9dde3"
    off = abs(w - k) / max(k, w, 1)
    return "#f2a29a" if off < 0.01 else "#e0554a" if off < 0.1 else "#a3170d"


def _strip(brand: BrandDays) -> str:
    days = brand.days
    cells = "".join(
        f'<rect x="{i * CELL}" y="0" width="{CELL - 1}" height="18" fill="{_cell_colour(brand, day)}">'
        f"<title>{_e(_day_title(brand, day))}</title></rect>"
        for i, day in enumerate(days)
    )
    width = max(1, len(days) * CELL)
    return (
        f'<svg class="strip" width="{width}" height="18" role="img" aria-label="days of {_e(brand.name)}">{cells}</svg>'
    )


def _chart(brand: BrandDays) -> str:
    days = brand.days
    if not days:
        return ""
    top = max([*brand.klaviyo.values(), *brand.warehouse.values(), 1])
    step = CHART_W / len(days)
    parts = []
    for i, day in enumerate(days):
        x = i * step
        k, w = brand.klaviyo.get(day, 0), brand.warehouse.get(day, 0)
        title = f"<title>{_e(_day_title(brand, day))}</title>"
        if brand.differs(day):
            parts.append(f'<rect x="{x:.1f}" y="0" width="{step:.1f}" height="{CHART_H}" fill="#fbe3e0"/>')
        height = k / top * (CHART_H - 6)
        parts.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{CHART_H - height:.1f}" width="{step * 0.7:.1f}" '
            f'height="{height:.1f}" fill="#9bb7d4">{title}</rect>'
        )
        y = CHART_H - w / top * (CHART_H - 6)
        colour = "#a3170d" if brand.differs(day) else "#1f3b57"
        radius = max(1.5, min(3.0, step / 3))
        parts.append(f'<circle cx="{x + step / 2:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{colour}">{title}</circle>')
    labels = (
        f'<text x="0" y="{CHART_H + 14}" class="axis">{days[0].isoformat()}</text>'
        f'<text x="{CHART_W}" y="{CHART_H + 14}" class="axis" text-anchor="end">{days[-1].isoformat()}</text>'
        f'<text x="{CHART_W}" y="10" class="axis" text-anchor="end">max {top:,} a day</text>'
    )
    return (
        f'<svg width="{CHART_W}" height="{CHART_H + 18}" role="img" '
        f'aria-label="Klaviyo against the warehouse per day, {_e(brand.name)}">{"".join(parts)}{labels}</svg>'
    )


def _status(brand: BrandDays) -> str:
    if not brand.klaviyo:
        return '<span class="badge none">no check yet</span>'
    n = len(brand.differing_days)
    if n == 0:
        return '<span class="badge ok">complete</span>'
    return f'<span class="badge bad">{n} day{"s" if n != 1 else ""} differ</span>'


def _listing(brand: BrandDays) -> str:
    if not brand.differing:
        return ""
    rows = sorted(brand.differing, key=lambda r: (r.day, r.metric_name))
    body = "".join(
        f"<tr><td>{r.day.isoformat()}</td><td>{_e(r.metric_name)}</td><td class=n>{r.klaviyo:,}</td>"
        f"<td class=n>{r.warehouse:,}</td><td class=n>{r.difference:+,}</td></tr>"
        for r in rows[:MAX_LISTED]
    )
    more = f"<p>… and {len(rows) - MAX_LISTED:,} more metric-days.</p>" if len(rows) > MAX_LISTED else ""
    return (
        "<table class=list><tr><th>day</th><th>metric</th><th>Klaviyo</th><th>warehouse</th><th>difference</th></tr>"
        f"{body}</table>{more}"
    )


STYLE = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1c2430}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 6px} .muted{color:#5b6675}
table{border-collapse:collapse}
td,th{padding:4px 10px;text-align:left;border-bottom:1px solid #e4e8ee;vertical-align:middle}
th{font-weight:600;color:#3b4656} td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.ok{background:#dff3e6;color:#1d6b3d} .bad{background:#fbe3e0;color:#8f1a10} .none{background:#eceff3;color:#5b6675}
.axis{font-size:10px;fill:#5b6675} .legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""


def render_page(counts: list[DayCount], fresh: list[Freshness], now: datetime | None = None) -> str:
    """The whole page, as text."""
    now = now or datetime.now(UTC)
    grouped = brands(counts, fresh)
    summary = "".join(
        f"<tr><td><a href='#b{i}'>{_e(b.name)}</a></td><td>{_status(b)}</td>"
        f"<td class=n>{sum(b.klaviyo.values()):,}</td><td class=n>{sum(b.warehouse.values()):,}</td>"
        f"<td class=n>{age(b.fresh.last_event if b.fresh else None, now)}</td>"
        f"<td class=n>{age(b.fresh.last_loaded if b.fresh else None, now)}</td>"
        f"<td class=n>{age(b.checked_at, now)}</td><td>{_strip(b)}</td></tr>"
        for i, b in enumerate(grouped)
    )
    sections = "".join(
        f"<h2 id='b{i}'>{_e(b.name)} {_status(b)}</h2>"
        f"<p class=muted>account {_e(b.account_id)}, days in {_e(b.timezone)}; "
        f"{len(b.days)} days checked, {len(b.differing_days)} differ</p>{_chart(b)}{_listing(b)}"
        for i, b in enumerate(grouped)
    )
    differing = sum(1 for b in grouped if b.differing)
    headline = (
        "Every brand's warehouse holds exactly what Klaviyo counts, on every day checked."
        if grouped and not differing
        else f"{differing} of {len(grouped)} brand(s) differ from Klaviyo's counts."
        if grouped
        else "No completeness check yet: load tap-klaviyo's event_counts, then run warehouse-sql apply."
    )
    legend = (
        "<p class='legend muted'>Each cell is a day:<span style='background:#2e9e5b'></span>as Klaviyo counts"
        "<span style='background:#e0554a'></span>differs<span style='background:#d9dde3'></span>no events. "
        "Charts: bars are Klaviyo's count per day, dots the warehouse's.</p>"
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Klaviyo completeness and freshness</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>Klaviyo → warehouse: completeness and freshness</h1>"
        f"<p class=muted>{_e(headline)} Rendered {now.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}.</p>"
        "<table><tr><th>brand</th><th>status</th><th>Klaviyo events</th><th>warehouse events</th>"
        "<th>last event</th><th>last loaded</th><th>last check</th><th>days (oldest first)</th></tr>"
        f"{summary}</table>{legend}{sections}</body></html>\n"
    )
