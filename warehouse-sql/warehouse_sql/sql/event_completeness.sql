-- Klaviyo's own count of each metric's events per day beside the events the warehouse holds, per account, metric and
-- day in the account's timezone, for the days of each account's latest completeness check.
--
-- EVENT_COUNTS is tap-klaviyo's `event_counts` stream: for every metric, one row per day of the check window
-- (`completeness_check_days`), from Klaviyo's POST /api/metric-aggregates, the last day counted up to the check's
-- time (`counted_until`). The events of a day are those of EVENTS whose `datetime`, in the account's timezone, falls
-- on it, before `counted_until`, and not marked deleted. `difference` = warehouse - Klaviyo: 0 on every row when the
-- warehouse holds exactly what Klaviyo counts.
CREATE OR REPLACE VIEW {schema}.EVENT_COMPLETENESS AS
WITH latest AS (
    SELECT account_id, MAX(checked_at) AS checked_at
    FROM {schema}.EVENT_COUNTS
    GROUP BY account_id
),
counts AS (
    SELECT c.*
    FROM {schema}.EVENT_COUNTS AS c
    JOIN latest AS l ON c.account_id = l.account_id AND c.checked_at = l.checked_at
),
checks AS (
    SELECT account_id, MAX(timezone) AS timezone, MIN(day_start) AS window_start, MAX(counted_until) AS window_end
    FROM counts
    GROUP BY account_id
),
loaded AS (
    SELECT
        e.account_id,
        e.metric_id,
        CAST(CONVERT_TIMEZONE('UTC', k.timezone, e.datetime) AS DATE) AS local_date,
        COUNT(*) AS warehouse_count
    FROM {schema}.EVENTS AS e
    JOIN checks AS k ON e.account_id = k.account_id
    WHERE e._sdc_deleted_at IS NULL AND e.datetime >= k.window_start AND e.datetime < k.window_end
    GROUP BY e.account_id, e.metric_id, CAST(CONVERT_TIMEZONE('UTC', k.timezone, e.datetime) AS DATE)
)
SELECT
    c.account_id,
    c.account_name,
    c.metric_id,
    c.metric_name,
    CAST(c.local_date AS DATE) AS local_date,
    c.timezone,
    c.klaviyo_count,
    COALESCE(l.warehouse_count, 0) AS warehouse_count,
    COALESCE(l.warehouse_count, 0) - c.klaviyo_count AS difference,
    c.checked_at
FROM counts AS c
LEFT JOIN loaded AS l
    ON c.account_id = l.account_id AND c.metric_id = l.metric_id AND CAST(c.local_date AS DATE) = l.local_date
