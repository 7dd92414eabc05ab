{#-
  What each campaign or flow message did, from the events attributed to it:
  - sends, opens, clicks...: its own message events (Received/Opened/Clicked Email, Received/Clicked Text Message),
    as Klaviyo's reports count them (klaviyo-sandbox/src/klaviyo_sandbox/reports.py);
  - conversions and revenue: events of the conversion metric Klaviyo attributed to it (`$attribution`), the number
    Klaviyo's campaign and flow reports show;
  - session_conversions and session_revenue: events of the conversion metric Klaviyo left unattributed, given to it
    by the session rule (var klaviyo__session_attribution); Klaviyo's reports do not count these.
-#}
{%- set conversion = "metric = " ~ dbt.string_literal(var('klaviyo__conversion_metric')) -%}
with events as (
    select * from {{ ref('events') }}
    where message_id is not null
)

select
    account_id,
    message_id,
    max(message_type) as message_type,
    count(case when attribution_source = 'message' and message_role = 'delivered' then 1 end) as sends,
    count(distinct case when attribution_source = 'message' and message_role = 'delivered' then person_id end) as unique_recipients,
    count(case when attribution_source = 'message' and message_role = 'open' then 1 end) as opens,
    count(distinct case when attribution_source = 'message' and message_role = 'open' then person_id end) as unique_opens,
    count(case when attribution_source = 'message' and message_role = 'click' then 1 end) as clicks,
    count(distinct case when attribution_source = 'message' and message_role = 'click' then person_id end) as unique_clicks,
    count(case when attribution_source = 'message' and message_role = 'bounce' then 1 end) as bounces,
    count(case when attribution_source = 'message' and message_role = 'unsubscribe' then 1 end) as unsubscribes,
    count(case when attribution_source = 'message' and message_role = 'spam' then 1 end) as spam_complaints,
    count(case when attribution_source = 'klaviyo' and {{ conversion }} then 1 end) as conversions,
    count(distinct case when attribution_source = 'klaviyo' and {{ conversion }} then person_id end) as unique_conversions,
    round(coalesce(sum(case when attribution_source = 'klaviyo' and {{ conversion }} then value end), 0), 2) as revenue,
    count(case when attribution_source = 'session' and {{ conversion }} then 1 end) as session_conversions,
    round(coalesce(sum(case when attribution_source = 'session' and {{ conversion }} then value end), 0), 2) as session_revenue,
    min(occurred_at) as first_event_at,
    max(occurred_at) as last_event_at
from events
group by 1, 2
