-- One row per profile (person) not marked deleted.
select
    account_id,
    account_name,
    id as person_id,
    account_id || ':' || id as person_key,
    email,
    phone_number,
    external_id,
    first_name,
    last_name,
    organization,
    {{ klaviyo_json_text('location', ['city']) }} as city,
    {{ klaviyo_json_text('location', ['region']) }} as region,
    {{ klaviyo_json_text('location', ['country']) }} as country,
    {{ klaviyo_json_text('location', ['zip']) }} as zip,
    {{ klaviyo_json_text('location', ['timezone']) }} as timezone,
    {{ klaviyo_json_text('subscriptions', ['email', 'marketing', 'consent']) }} as email_marketing_consent,
    {{ klaviyo_json_text('subscriptions', ['sms', 'marketing', 'consent']) }} as sms_marketing_consent,
    cast(created as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated as {{ dbt.type_timestamp() }}) as updated_at,
    properties
from {{ source('klaviyo', 'profiles') }}
where _sdc_deleted_at is null
