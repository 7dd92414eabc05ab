{#- Reading Klaviyo's JSON columns (VARIANT in Snowflake). One place, so another adapter needs only these. -#}

{#- The text at a path of keys, e.g. klaviyo_json_text('event_properties', ['$attribution', '$message']); an empty
    string is NULL (Klaviyo writes "" for "no message"). -#}
{% macro klaviyo_json_text(column, keys) -%}
  nullif({{ column }}{% for key in keys %}:"{{ key }}"{% endfor %}::varchar, '')
{%- endmacro %}

{#- A number at a path of keys; NULL when it is missing or not a number (a `$value` sent as text "12.50" reads 12.5). -#}
{% macro klaviyo_json_number(column, keys) -%}
  try_to_double({{ column }}{% for key in keys %}:"{{ key }}"{% endfor %}::varchar)
{%- endmacro %}
