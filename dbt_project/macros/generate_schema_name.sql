{# Schemas are named by layer (staging, intermediate) and marts stay in main, not "main_staging". #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
