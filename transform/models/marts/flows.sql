-- One row per flow message of every account (a step of a flow that sends an email or a text), with what it did.
{{ config(materialized='table') }}
with flow_messages as (
    select * from {{ ref('stg_klaviyo__flow_messages') }}
),

metrics as (
    select * from {{ ref('int_klaviyo__message_metrics') }}
    where message_type = 'flow'
)

select
    flow_messages.account_id,
    flow_messages.account_name,
    flow_messages.flow_message_key,
    flow_messages.flow_id,
    flow_messages.flow_message_id,
    flow_messages.flow_name,
    flow_messages.message_label,
    flow_messages.channel,
    flow_messages.status,
    flow_messages.trigger_type,
    flow_messages.is_archived,
    flow_messages.created_at,
    flow_messages.updated_at,
    {{ klaviyo_message_metric_columns('metrics') }}
from flow_messages
left join metrics
    on metrics.account_id = flow_messages.account_id
    and metrics.message_id = flow_messages.flow_message_id
