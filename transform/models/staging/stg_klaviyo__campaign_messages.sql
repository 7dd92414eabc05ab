-- One row per campaign message (a campaign has one per channel; one row with no message for a campaign without).
with campaigns as (
    select * from {{ source('klaviyo', 'campaigns') }}
    where _sdc_deleted_at is null
),

messages as (
    select * from {{ source('klaviyo', 'campaign_messages') }}
    where _sdc_deleted_at is null
)

select
    campaigns.account_id,
    campaigns.account_name,
    campaigns.id as campaign_id,
    messages.id as campaign_message_id,
    campaigns.account_id || ':' || campaigns.id || ':' || coalesce(messages.id, '') as campaign_message_key,
    {{ klaviyo_json_text('campaigns.definition', ['name']) }} as campaign_name,
    coalesce(
        {{ klaviyo_json_text('campaigns.definition', ['status']) }},
        {{ klaviyo_json_text('messages.definition', ['status']) }}
    ) as status,
    coalesce(campaigns.channel, {{ klaviyo_json_text('messages.definition', ['channel']) }}) as channel,
    coalesce(campaigns.archived, false) as is_archived,
    cast(coalesce(
        {{ klaviyo_json_text('campaigns.definition', ['send_time']) }},
        {{ klaviyo_json_text('messages.definition', ['send_options', 'send_time']) }}
    ) as {{ dbt.type_timestamp() }}) as sent_at,
    coalesce(
        {{ klaviyo_json_text('messages.definition', ['content', 'subject']) }},
        {{ klaviyo_json_text('messages.definition', ['label']) }},
        {{ klaviyo_json_text('messages.definition', ['name']) }}
    ) as message_label,
    cast(campaigns.created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(campaigns.updated_at as {{ dbt.type_timestamp() }}) as updated_at
from campaigns
left join messages
    on messages.account_id = campaigns.account_id
    and messages.campaign_id = campaigns.id
