-- One row per metric of each account, resolved through its loaded name to one metric (renames included).
with metrics as (
    select * from {{ source('klaviyo', 'metrics') }}
    where _sdc_deleted_at is null
),

names as (
    select * from {{ ref('klaviyo_metric_names') }}
)

select
    metrics.account_id,
    metrics.account_name,
    metrics.id as metric_id,
    metrics.account_id || ':' || metrics.id as metric_key,
    metrics.name as metric_name,
    coalesce(names.metric, metrics.name) as metric,
    names.channel,
    names.message_role,
    {{ klaviyo_json_text('metrics.integration', ['name']) }} as integration_name,
    {{ klaviyo_json_text('metrics.integration', ['category']) }} as integration_category
from metrics
left join names
    on lower(names.metric_name) = lower(metrics.name)
