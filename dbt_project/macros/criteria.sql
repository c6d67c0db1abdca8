{# The key that ties an assessment to its criterion in dim_criterion: set, criterion, indicator. #}
{% macro criterion_key(alias) %}
        cast({{ alias }}.criteria_set || ':' || {{ alias }}.criterion_no || ':' || coalesce({{ alias }}.indicator_code, '')
             as string) as criterion_key
{%- endmacro %}

{# Departments write a set by its tier code (ntm, nang_cao, kieu_mau) or by its id: the id of the
   set in force in the row's year (int_criteria_sets__by_year) replaces a tier code. #}
{% macro join_set_in_force(rows) %}
    left join {{ ref('int_criteria_sets__by_year') }} as in_force
        on in_force.tier_code = {{ rows }}.criteria_set_reported and in_force.year = {{ rows }}.year
{%- endmacro %}

{% macro set_in_force(rows) -%}
    coalesce(in_force.criteria_set, {{ rows }}.criteria_set_reported)
{%- endmacro %}

{# A value measured in a lakehouse dataset, one row per unit, year and numeric column, named
   `<dataset>.<column>` as a catalogue's `measured_by` names it. The numeric columns are read from
   the model itself, so a column the contract gains is measurable without touching this macro. #}
{% macro measure_rows(model, dataset) %}
    {%- set relation = ref(model) -%}
    {%- set numeric = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- if column.dtype | lower in ('double', 'float', 'decimal', 'integer', 'int', 'bigint', 'hugeint')
                  and column.name not in ('year', 'source_row_number') -%}
                {%- do numeric.append(column.name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif %}
    {%- for column in numeric %}
    select unit_key, year, '{{ dataset }}.{{ column }}' as measure, cast({{ column }} as double) as value,
           '{{ dataset }}' as source_dataset, source_file, department
    from {{ relation }}
    where {{ column }} is not null
    union all
    {%- endfor %}
    select null::string, null::integer, null::string, null::double, null::string, null::string, null::string
    where false
{% endmacro %}
