{# The key that ties an assessment to its criterion in dim_criterion: set, criterion, indicator. #}
{% macro criterion_key(alias) %}
        cast({{ alias }}.criteria_set || ':' || {{ alias }}.criterion_no || ':' || coalesce({{ alias }}.indicator_code, '')
             as varchar) as criterion_key
{%- endmacro %}
