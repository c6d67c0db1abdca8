{# The unit columns every fact carries: the unit in the list of its time, and on today's map. #}
{% macro unit_columns(alias='units') %}
        cast({{ alias }}.unit_key as string) as unit_key,
        cast(split_part({{ alias }}.unit_key, ':', 3) as string) as unit_code,
        cast(split_part({{ alias }}.unit_key, ':', 2) as string) as unit_level,
        cast(split_part({{ alias }}.unit_key, ':', 1) as string) as unit_list_version,
        cast({{ alias }}.unit_name as string) as unit_name,
        cast({{ alias }}.province_code as string) as province_code,
        cast({{ alias }}.province_name as string) as province_name,
        cast({{ alias }}.current_unit_key as string) as current_unit_key,
        cast({{ alias }}.current_province_code as string) as current_province_code,
        cast({{ alias }}.current_province_name as string) as current_province_name
{%- endmacro %}

{# Counts drawn from personal records are hidden below this many (var small_cell_threshold). #}
{% macro suppress_small(count_expr) %}
    case when {{ count_expr }} < {{ var('small_cell_threshold', 5) }} then null else {{ count_expr }} end
{%- endmacro %}

{# The key of the province a fact's unit lies in, in the list of the fact's time (a fact carries
   its unit's list and province code, not the province's key). #}
{% macro province_key(alias=none) -%}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    {{ prefix }}unit_list_version || ':province:' || {{ prefix }}province_code
{%- endmacro %}
