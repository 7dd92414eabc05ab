-- Every campaign and flow message of each account: what an event's message id resolves to.
select
    account_id,
    campaign_message_id as message_id,
    account_id || ':' || campaign_message_id as message_key,
    'campaign' as message_type,
    campaign_id,
    cast(null as {{ dbt.type_string() }}) as flow_id,
    channel,
    campaign_name,
    cast(null as {{ dbt.type_string() }}) as flow_name
from {{ ref('stg_klaviyo__campaign_messages') }}
where campaign_message_id is not null

union all

select
    account_id,
    flow_message_id as message_id,
    account_id || ':' || flow_message_id as message_key,
    'flow' as message_type,
    cast(null as {{ dbt.type_string() }}) as campaign_id,
    flow_id,
    channel,
    cast(null as {{ dbt.type_string() }}) as campaign_name,
    flow_name
from {{ ref('stg_klaviyo__flow_messages') }}
where flow_message_id is not null
