-- One row per campaign message of every account (a campaign sends one message per channel), with what it did.
{{ config(materialized='table') }}
with campaign_messages as (
    select * from {{ ref('stg_klaviyo__campaign_messages') }}
),

metrics as (
    select * from {{ ref('int_klaviyo__message_metrics') }}
    where message_type = 'campaign'
)

select
    campaign_messages.account_id,
    campaign_messages.account_name,
    campaign_messages.campaign_message_key,
    campaign_messages.campaign_id,
    campaign_messages.campaign_message_id,
    campaign_messages.campaign_name,
    campaign_messages.message_label,
    campaign_messages.channel,
    campaign_messages.status,
    campaign_messages.is_archived,
    campaign_messages.sent_at,
    campaign_messages.created_at,
    campaign_messages.updated_at,
    {{ klaviyo_message_metric_columns('metrics') }}
from campaign_messages
left join metrics
    on metrics.account_id = campaign_messages.account_id
    and metrics.message_id = campaign_messages.campaign_message_id
