{#-
  Every event of every account, with its metric resolved by id and the campaign, flow and message it is attributed
  to. Incremental: a run takes the events loaded since the last run, and those of the last
  var('klaviyo__events_lookback_days') days before the newest event of their account, whose session attribution a
  late event (tap-klaviyo reads the same days again each run) can change. delete+insert on event_key, as
  dbt-snowflake's MERGE would need the emulator to bridge it too; events the loader marks deleted are removed after.
-#}
{{
    config(
        materialized='incremental',
        unique_key='event_key',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook=[
            "delete from {{ this }} where event_key in (select account_id || ':' || id
             from {{ source('klaviyo', 'events') }} where _sdc_deleted_at is not null)"
        ],
    )
}}

{%- set email_hours = var('klaviyo__email_attribution_lookback_hours') | int -%}
{%- set sms_hours = var('klaviyo__sms_attribution_lookback_hours') | int -%}
{%- set longest_window = [email_hours, sms_hours] | max -%}

with metrics as (
    select * from {{ ref('stg_klaviyo__metrics') }}
),

messages as (
    select * from {{ ref('stg_klaviyo__messages') }}
),

all_events as (
    select
        events.*,
        metrics.metric_name,
        metrics.metric,
        metrics.channel as metric_channel,
        metrics.message_role
    from {{ ref('stg_klaviyo__events') }} as events
    left join metrics
        on metrics.account_id = events.account_id
        and metrics.metric_id = events.metric_id
),

{% if is_incremental() %}
built as (
    select
        account_id,
        max(loaded_at) as loaded_at,
        max(occurred_at) as occurred_at
    from {{ this }}
    group by 1
),

changed as (
    select all_events.*
    from all_events
    left join built
        on built.account_id = all_events.account_id
    where built.account_id is null
        or built.loaded_at is null
        or all_events.loaded_at > built.loaded_at
        or all_events.occurred_at >= {{ dbt.dateadd('day', -(var('klaviyo__events_lookback_days') | int), 'built.occurred_at') }}
),

-- the events a changed event's session attribution can look back on
in_reach as (
    select all_events.*
    from all_events
    inner join (
        select account_id, min(occurred_at) as occurred_at from changed group by 1
    ) as earliest
        on earliest.account_id = all_events.account_id
    where all_events.occurred_at >= {{ dbt.dateadd('hour', -longest_window, 'earliest.occurred_at') }}
),
{% else %}
changed as (
    select * from all_events
),

in_reach as (
    select * from all_events
),
{% endif %}

-- Klaviyo's attribution first: a message event belongs to the message it names, a conversion to the message of its
-- attribution as the API serves it (include=attributions), else to the message in its `$attribution` property
own as (
    select
        changed.*,
        case
            when changed.message_role is not null and changed.message_id is not null then 'message'
            when changed.api_attributed_message_id is not null or changed.attributed_message_id is not null
                then 'klaviyo'
        end as own_source,
        case
            when changed.message_role is not null then null
            when changed.api_attributed_message_id is not null then 'attributions'
            when changed.attributed_message_id is not null then 'event_properties'
        end as klaviyo_attribution_from,
        case
            when changed.message_role is not null then changed.message_id
            else coalesce(changed.api_attributed_message_id, changed.attributed_message_id)
        end as own_message_id,
        case
            when changed.message_role is not null then changed.message_flow_id
            when changed.api_attributed_message_id is not null then changed.api_attributed_flow_id
            else changed.attributed_flow_id
        end as own_flow_id
    from changed
),

{% if var('klaviyo__session_attribution') %}
-- The session rule for the other events: the last touch (an email open or click, an SMS click) of the same person
-- within its channel's window before the event. Touches and events in one time line per person; each row carries
-- the last touch of each channel so far. A touch's columns are never null (a campaign's flow is ''), so that
-- `ignore nulls` takes them all from the same touch.
timeline as (
    select
        account_id,
        person_id,
        occurred_at,
        event_key,
        0 as is_event,
        case when metric_channel = 'email' then event_key end as email_touch_key,
        case when metric_channel = 'email' then occurred_at end as email_touch_at,
        case when metric_channel = 'email' then message_id end as email_touch_message_id,
        case when metric_channel = 'email' then coalesce(message_flow_id, '') end as email_touch_flow_id,
        case when metric_channel = 'sms' then event_key end as sms_touch_key,
        case when metric_channel = 'sms' then occurred_at end as sms_touch_at,
        case when metric_channel = 'sms' then message_id end as sms_touch_message_id,
        case when metric_channel = 'sms' then coalesce(message_flow_id, '') end as sms_touch_flow_id
    from in_reach
    where message_id is not null
        and (
            (metric_channel = 'email' and message_role in ('open', 'click'))
            or (metric_channel = 'sms' and message_role = 'click')
        )

    union all

    select
        account_id,
        person_id,
        occurred_at,
        event_key,
        1 as is_event,
        null, null, null, null, null, null, null, null
    from own
    where own_source is null and message_role is null
),

last_touches as (
    select
        event_key,
        occurred_at,
        is_event,
        {%- for channel in ['email', 'sms'] %}
        {%- for column in ['key', 'at', 'message_id', 'flow_id'] %}
        last_value({{ channel }}_touch_{{ column }}) ignore nulls over (
            partition by account_id, person_id
            order by occurred_at, is_event, event_key
            rows between unbounded preceding and current row
        ) as last_{{ channel }}_touch_{{ column }}{{ ',' if not (loop.last and channel == 'sms') }}
        {%- endfor %}
        {%- endfor %}
    from timeline
),

session as (
    select
        event_key,
        case
            when email_in_window and (not sms_in_window or last_email_touch_at >= last_sms_touch_at) then 'email'
            when sms_in_window then 'sms'
        end as touch_channel,
        last_email_touch_key,
        last_email_touch_at,
        last_email_touch_message_id,
        last_email_touch_flow_id,
        last_sms_touch_key,
        last_sms_touch_at,
        last_sms_touch_message_id,
        last_sms_touch_flow_id
    from (
        select
            last_touches.*,
            coalesce(last_email_touch_at >= {{ dbt.dateadd('hour', -email_hours, 'occurred_at') }}, false) as email_in_window,
            coalesce(last_sms_touch_at >= {{ dbt.dateadd('hour', -sms_hours, 'occurred_at') }}, false) as sms_in_window
        from last_touches
        where is_event = 1
    ) as windows
),
{% endif %}

attributed as (
    select
        own.*,
        {%- if var('klaviyo__session_attribution') %}
        coalesce(own.own_source, case when session.touch_channel is not null then 'session' end) as attribution_source,
        coalesce(
            own.own_message_id,
            case session.touch_channel
                when 'email' then session.last_email_touch_message_id
                when 'sms' then session.last_sms_touch_message_id
            end
        ) as attributed_to_message_id,
        coalesce(
            own.own_flow_id,
            nullif(
                case session.touch_channel
                    when 'email' then session.last_email_touch_flow_id
                    when 'sms' then session.last_sms_touch_flow_id
                end,
                ''
            )
        ) as attributed_to_flow_id,
        case session.touch_channel
            when 'email' then session.last_email_touch_key
            when 'sms' then session.last_sms_touch_key
        end as session_touch_event_key,
        case session.touch_channel
            when 'email' then session.last_email_touch_at
            when 'sms' then session.last_sms_touch_at
        end as session_touch_at
        {%- else %}
        own.own_source as attribution_source,
        own.own_message_id as attributed_to_message_id,
        own.own_flow_id as attributed_to_flow_id,
        cast(null as {{ dbt.type_string() }}) as session_touch_event_key,
        cast(null as {{ dbt.type_timestamp() }}) as session_touch_at
        {%- endif %}
    from own
    {%- if var('klaviyo__session_attribution') %}
    left join session
        on session.event_key = own.event_key
    {%- endif %}
),

persons as (
    select account_id, person_id, email from {{ ref('stg_klaviyo__persons') }}
)

select
    attributed.account_id,
    attributed.account_name,
    attributed.event_key,
    attributed.event_id,
    attributed.event_uuid,
    attributed.occurred_at,
    cast({{ dbt.date_trunc('day', 'attributed.occurred_at') }} as date) as occurred_on,
    attributed.person_id,
    attributed.person_key,
    persons.email as person_email,
    attributed.metric_id,
    attributed.metric_name,
    attributed.metric,
    attributed.metric_channel,
    attributed.message_role,
    attributed.value,
    attributed.attribution_source,
    attributed.attributed_to_message_id as message_id,
    case
        when messages.message_type is not null then messages.message_type
        when attributed.attributed_to_flow_id is not null then 'flow'
        when attributed.attributed_to_message_id is not null then 'campaign'
    end as message_type,
    messages.campaign_id,
    coalesce(messages.flow_id, attributed.attributed_to_flow_id) as flow_id,
    messages.channel as message_channel,
    messages.campaign_name,
    messages.flow_name,
    attributed.attributed_channel as klaviyo_attributed_channel,
    attributed.klaviyo_attribution_from,
    attributed.api_attributed_event_id as klaviyo_attributed_event_id,
    attributed.session_touch_event_key,
    attributed.session_touch_at,
    attributed.properties,
    attributed.loaded_at
from attributed
left join messages
    on messages.account_id = attributed.account_id
    and messages.message_id = attributed.attributed_to_message_id
left join persons
    on persons.account_id = attributed.account_id
    and persons.person_id = attributed.person_id
