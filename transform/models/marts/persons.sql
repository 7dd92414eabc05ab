-- One row per person (profile) of every account: who they are, what they bought (lifetime value, first and last
-- order) and what they did on each channel.
{{ config(materialized='table') }}
{%- set conversion = "metric = " ~ dbt.string_literal(var('klaviyo__conversion_metric')) -%}
with persons as (
    select * from {{ ref('stg_klaviyo__persons') }}
),

activity as (
    select
        account_id,
        person_id,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        count(*) as events,
        count(case when {{ conversion }} then 1 end) as orders,
        round(coalesce(sum(case when {{ conversion }} then value end), 0), 2) as lifetime_value,
        round(coalesce(sum(case when {{ conversion }} and attribution_source = 'klaviyo' then value end), 0), 2)
            as klaviyo_attributed_revenue,
        round(coalesce(sum(case when {{ conversion }} and attribution_source = 'session' then value end), 0), 2)
            as session_attributed_revenue,
        round(coalesce(sum(case when {{ conversion }} and attribution_source is null then value end), 0), 2)
            as organic_revenue,
        min(case when {{ conversion }} then occurred_at end) as first_order_at,
        max(case when {{ conversion }} then occurred_at end) as last_order_at,
        {%- for channel, roles in [('email', ['delivered', 'open', 'click', 'unsubscribe']), ('sms', ['delivered', 'click', 'unsubscribe'])] %}
        {%- for role in roles %}
        count(case when metric_channel = '{{ channel }}' and message_role = '{{ role }}' then 1 end)
            as {{ channel }}_{{ {'delivered': 'received', 'open': 'opens', 'click': 'clicks', 'unsubscribe': 'unsubscribes'}[role] }},
        max(case when metric_channel = '{{ channel }}' and message_role = '{{ role }}' then occurred_at end)
            as last_{{ channel }}_{{ {'delivered': 'received', 'open': 'open', 'click': 'click', 'unsubscribe': 'unsubscribe'}[role] }}_at,
        {%- endfor %}
        {%- endfor %}
        count(distinct campaign_id) as campaigns_touched,
        count(distinct flow_id) as flows_touched
    from {{ ref('events') }}
    group by 1, 2
)

select
    persons.account_id,
    persons.account_name,
    persons.person_key,
    persons.person_id,
    persons.email,
    persons.phone_number,
    persons.external_id,
    persons.first_name,
    persons.last_name,
    persons.organization,
    persons.city,
    persons.region,
    persons.country,
    persons.zip,
    persons.timezone,
    persons.email_marketing_consent,
    persons.sms_marketing_consent,
    persons.created_at,
    persons.updated_at,
    coalesce(activity.lifetime_value, 0) as lifetime_value,
    coalesce(activity.orders, 0) as orders,
    {{ klaviyo_ratio('activity.lifetime_value', 'activity.orders') }} as average_order_value,
    activity.first_order_at,
    activity.last_order_at,
    coalesce(activity.klaviyo_attributed_revenue, 0) as klaviyo_attributed_revenue,
    coalesce(activity.session_attributed_revenue, 0) as session_attributed_revenue,
    coalesce(activity.organic_revenue, 0) as organic_revenue,
    {%- for column in ['email_received', 'email_opens', 'email_clicks', 'email_unsubscribes', 'sms_received', 'sms_clicks', 'sms_unsubscribes'] %}
    coalesce(activity.{{ column }}, 0) as {{ column }},
    {%- endfor %}
    activity.last_email_received_at,
    activity.last_email_open_at,
    activity.last_email_click_at,
    activity.last_sms_received_at,
    activity.last_sms_click_at,
    coalesce(activity.campaigns_touched, 0) as campaigns_touched,
    coalesce(activity.flows_touched, 0) as flows_touched,
    coalesce(activity.events, 0) as events,
    activity.first_event_at,
    activity.last_event_at
from persons
left join activity
    on activity.account_id = persons.account_id
    and activity.person_id = persons.person_id
