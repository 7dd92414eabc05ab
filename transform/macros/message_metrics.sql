{#- The metric columns of a campaign or flow message (int_klaviyo__message_metrics), zero when nothing happened,
    and the rates Klaviyo shows (fractions of 0..1, 0 when the denominator is 0, as its reports do). -#}
{% macro klaviyo_message_metric_columns(metrics) -%}
    {%- for column in ['sends', 'unique_recipients', 'opens', 'unique_opens', 'clicks', 'unique_clicks', 'bounces',
                       'unsubscribes', 'spam_complaints', 'conversions', 'unique_conversions', 'revenue',
                       'session_conversions', 'session_revenue'] %}
    coalesce({{ metrics }}.{{ column }}, 0) as {{ column }},
    {%- endfor %}
    {{ klaviyo_ratio(metrics ~ '.unique_opens', metrics ~ '.sends') }} as open_rate,
    {{ klaviyo_ratio(metrics ~ '.unique_clicks', metrics ~ '.sends') }} as click_rate,
    {{ klaviyo_ratio(metrics ~ '.unique_conversions', metrics ~ '.sends') }} as conversion_rate,
    {{ klaviyo_ratio(metrics ~ '.revenue', metrics ~ '.sends') }} as revenue_per_recipient,
    {{ metrics }}.first_event_at,
    {{ metrics }}.last_event_at
{%- endmacro %}

{% macro klaviyo_ratio(numerator, denominator) -%}
    coalesce(cast({{ numerator }} as {{ dbt.type_float() }}) / nullif({{ denominator }}, 0), 0)
{%- endmacro %}
