-- Every conversion Klaviyo attributed to a known campaign or flow message is counted once in campaigns or flows,
-- per account.
{%- set conversion = "metric = " ~ dbt.string_literal(var('klaviyo__conversion_metric')) %}
with in_messages as (
    select account_id, sum(conversions) as conversions
    from (
        select account_id, conversions from {{ ref('campaigns') }}
        union all
        select account_id, conversions from {{ ref('flows') }}
    ) as messages
    group by 1
),

in_events as (
    select events.account_id, count(*) as conversions
    from {{ ref('events') }} as events
    inner join {{ ref('stg_klaviyo__messages') }} as messages
        on messages.account_id = events.account_id
        and messages.message_id = events.message_id
    where events.attribution_source = 'klaviyo' and events.{{ conversion }}
    group by 1
)

select
    coalesce(in_messages.account_id, in_events.account_id) as account_id,
    in_messages.conversions as in_messages,
    in_events.conversions as in_events
from in_messages
full outer join in_events
    on in_events.account_id = in_messages.account_id
where coalesce(in_messages.conversions, 0) != coalesce(in_events.conversions, 0)
