-- One row per person and campaign or flow they were attributed events of (and one for their organic events, with
-- neither), every metric of var('klaviyo__count_metrics') counted and of var('klaviyo__revenue_metrics') summed.
{{ config(materialized='table') }}
with events as (
    select * from {{ ref('events') }}
)

select
    account_id,
    max(account_name) as account_name,
    account_id || ':' || person_id || ':' || coalesce(campaign_id, '') || ':' || coalesce(flow_id, '')
        as person_campaign_flow_key,
    person_id,
    account_id || ':' || person_id as person_key,
    campaign_id,
    flow_id,
    max(campaign_name) as campaign_name,
    max(flow_name) as flow_name,
    min(occurred_at) as first_event_at,
    max(occurred_at) as last_event_at,
    {%- for metric in var('klaviyo__count_metrics') %}
    count(case when metric = {{ dbt.string_literal(metric) }} then 1 end) as count_{{ klaviyo_metric_column(metric) }},
    {%- endfor %}
    {%- for metric in var('klaviyo__revenue_metrics') %}
    round(coalesce(sum(case when metric = {{ dbt.string_literal(metric) }} then value end), 0), 2)
        as revenue_{{ klaviyo_metric_column(metric) }}{{ ',' if not loop.last }}
    {%- endfor %}
from events
group by account_id, person_id, campaign_id, flow_id
