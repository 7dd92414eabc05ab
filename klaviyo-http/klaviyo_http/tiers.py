"""Klaviyo's rate-limit tier of every endpoint tap-klaviyo and target-klaviyo call (revision 2026-10-15).

Limits are per account and per endpoint: `burst` per 1-second window, `steady` per 60-second window, and for the
Reporting API a `daily` quota as well (the SDK's docstrings: "Burst: 1/s, Steady: 2/m, Daily: 225/d";
klaviyo-api 25.0.0, openapi_client/api/*_api.py). tests/http/test_pacing.py checks it against the sandbox's own table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    burst: int  # requests per 1-second fixed window
    steady: int  # requests per 60-second fixed window
    daily: int | None = None  # requests per day, where Klaviyo sets a daily quota


XS, S, M, L750, XL = Tier(1, 15), Tier(3, 60), Tier(10, 150), Tier(75, 750), Tier(350, 3500)
REPORTS = Tier(1, 2, daily=225)

# endpoint (the SDK method name, as the sandbox names its buckets) -> tier
TIERS: dict[str, Tier] = {
    "get_accounts": XS,
    "get_events": XL,
    "get_profiles": L750,
    "get_profiles:predictive_analytics": M,  # additional-fields[profile]=predictive_analytics
    "get_campaigns": M,
    "get_flows": S,
    "get_flow_action_messages": S,
    "get_lists": L750,
    "get_profiles_for_list": L750,
    "get_profile_ids_for_list": L750,
    "get_segments": L750,
    "get_profiles_for_segment": L750,
    "get_profile_ids_for_segment": L750,
    "get_metrics": M,
    "get_tags": S,
    "get_templates": L750,
    # Klaviyo's own counts (tap-klaviyo's completeness check: event_counts, and the events stream's healing).
    "query_metric_aggregates": S,
    # Reporting API (tap-klaviyo's report streams).
    "query_campaign_values": REPORTS,
    "query_flow_values": REPORTS,
    "query_flow_series": REPORTS,
    "query_segment_values": REPORTS,
    "query_segment_series": REPORTS,
    # Writes (target-klaviyo).
    "create_event": XL,
    "bulk_create_events": M,
    "create_or_update_profile": L750,
    "bulk_import_profiles": M,
    "get_bulk_import_profiles_job": M,
    "get_errors_for_bulk_import_profiles_job": M,
    "get_profiles_for_bulk_import_profiles_job": M,
    "get_list": L750,
    "add_profiles_to_list": M,
    "remove_profiles_from_list": M,
    "bulk_subscribe_profiles": L750,
    "bulk_unsubscribe_profiles": L750,
}
