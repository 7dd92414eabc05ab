-- One row per event not marked deleted, with what it says about messages: a message event names its message in
-- `$message` (and its flow in `$flow`); a conversion Klaviyo attributed has the ids of its attribution, which
-- tap-klaviyo reads with include=attributions (the attributed_* columns), and in older API revisions also carries
-- `$attribution` in its properties.
select
    account_id,
    account_name,
    id as event_id,
    account_id || ':' || id as event_key,
    uuid as event_uuid,
    metric_id,
    account_id || ':' || metric_id as metric_key,
    profile_id as person_id,
    account_id || ':' || profile_id as person_key,
    cast(datetime as {{ dbt.type_timestamp() }}) as occurred_at,
    event_properties as properties,
    {{ klaviyo_json_number('event_properties', ['$value']) }} as value,
    {{ klaviyo_json_text('event_properties', ['$message']) }} as message_id,
    {{ klaviyo_json_text('event_properties', ['$flow']) }} as message_flow_id,
    {{ klaviyo_json_text('event_properties', ['$attribution', '$message']) }} as attributed_message_id,
    {{ klaviyo_json_text('event_properties', ['$attribution', '$flow']) }} as attributed_flow_id,
    {{ klaviyo_json_text('event_properties', ['$attribution', '$attributed_channel']) }} as attributed_channel,
    coalesce(attributed_campaign_message_id, attributed_flow_message_id) as api_attributed_message_id,
    attributed_flow_id as api_attributed_flow_id,
    attributed_event_id as api_attributed_event_id,
    -- rows the tap sent as BATCH files carry only _sdc_extracted_at (target-snowflake 0.20.4 adds the other
    -- _sdc_* columns to records only): when the tap read the row, which moves forward with every run that reads it
    coalesce(_sdc_batched_at, _sdc_extracted_at) as loaded_at
from {{ source('klaviyo', 'events') }}
where _sdc_deleted_at is null
