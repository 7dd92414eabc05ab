{#- The metric names of var('klaviyo__metrics') as rows: every name a metric had (its current one included) with
    the metric it is now, its channel and its role in a message's numbers. -#}
{% macro klaviyo_metric_name_rows() -%}
  {%- set rows = [] -%}
  {%- for entry in var('klaviyo__metrics') -%}
    {%- for name in [entry['metric']] + (entry.get('names') or []) -%}
      {%- do rows.append((name, entry['metric'], entry.get('channel'), entry.get('role'))) -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- for name, metric, channel, role in rows %}
  select
    cast({{ dbt.string_literal(name) }} as {{ dbt.type_string() }}) as metric_name,
    cast({{ dbt.string_literal(metric) }} as {{ dbt.type_string() }}) as metric,
    cast({{ dbt.string_literal(channel) if channel else 'null' }} as {{ dbt.type_string() }}) as channel,
    cast({{ dbt.string_literal(role) if role else 'null' }} as {{ dbt.type_string() }}) as message_role
  {%- if not loop.last %}
  union all
  {%- endif %}
  {%- endfor %}
{%- endmacro %}

{#- A metric's name as part of a column name: "Received Text Message" -> received_text_message. -#}
{% macro klaviyo_metric_column(name) -%}
  {{ modules.re.sub('[^a-z0-9]+', '_', name | lower) | trim('_') }}
{%- endmacro %}

{#- Every canonical metric name of var('klaviyo__metrics'), for accepted_values tests. -#}
{% macro klaviyo_metric_names() -%}
  {{ return(var('klaviyo__metrics') | map(attribute='metric') | list) }}
{%- endmacro %}
