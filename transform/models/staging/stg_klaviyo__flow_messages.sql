-- One row per flow message, with its flow (through the flow action that sends it).
with flows as (
    select * from {{ source('klaviyo', 'flows') }}
    where _sdc_deleted_at is null
),

actions as (
    select * from {{ source('klaviyo', 'flow_actions') }}
    where _sdc_deleted_at is null
),

messages as (
    select * from {{ source('klaviyo', 'flow_messages') }}
    where _sdc_deleted_at is null
)

select
    flows.account_id,
    flows.account_name,
    flows.id as flow_id,
    messages.id as flow_message_id,
    flows.account_id || ':' || flows.id || ':' || coalesce(messages.id, '') as flow_message_key,
    flows.name as flow_name,
    flows.status,
    flows.trigger_type,
    coalesce(flows.archived, false) as is_archived,
    messages.channel,
    coalesce(
        {{ klaviyo_json_text('messages.definition', ['content', 'subject']) }},
        {{ klaviyo_json_text('messages.definition', ['name']) }}
    ) as message_label,
    cast(flows.created as {{ dbt.type_timestamp() }}) as created_at,
    cast(flows.updated as {{ dbt.type_timestamp() }}) as updated_at
from flows
left join actions
    on actions.account_id = flows.account_id
    and actions.flow_id = flows.id
left join messages
    on messages.account_id = actions.account_id
    and messages.flow_action_id = actions.id
-- a flow without messages keeps one row; its actions without messages add none
qualify messages.id is not null
    or row_number() over (partition by flows.account_id, flows.id order by messages.id nulls last) = 1
