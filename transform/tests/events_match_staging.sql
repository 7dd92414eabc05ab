-- The incremental events model holds exactly the events not marked deleted, for every account: one row per event,
-- none missing, none left over from an event since deleted.
with built as (
    select account_id, count(*) as events from {{ ref('events') }} group by 1
),

loaded as (
    select account_id, count(*) as events from {{ ref('stg_klaviyo__events') }} group by 1
)

select
    coalesce(built.account_id, loaded.account_id) as account_id,
    built.events as built_events,
    loaded.events as loaded_events
from built
full outer join loaded
    on loaded.account_id = built.account_id
where built.events is null or loaded.events is null or built.events != loaded.events
