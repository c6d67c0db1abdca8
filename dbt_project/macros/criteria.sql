{# The key that ties an assessment to its criterion in dim_criterion: set, criterion, indicator. #}
{% macro criterion_key(alias) %}
        cast({{ alias }}.criteria_set || ':' || {{ alias }}.criterion_no || ':' || coalesce({{ alias }}.indicator_code, '')
             as string) as criterion_key
{%- endmacro %}

{# Departments write a set by its tier code (ntm, nang_cao, kieu_mau) or by its id (any set of the
   reference files or of a catalogue received: NTM_XA_HIENDAI_2026_2030, ...), in any case: the id of
   the set in force in the row's year (int_criteria_sets__by_year) replaces a tier code, a known id is
   written as the set writes it. Anything else stays as written and is not known (set_known):
   int_criteria__unknown_reported lists it with the sets that are. #}
{% macro join_set_in_force(rows) %}
    left join {{ ref('int_criteria_sets__by_year') }} as in_force
        on in_force.tier_code = lower(trim({{ rows }}.criteria_set_reported)) and in_force.year = {{ rows }}.year
    left join {{ ref('int_criteria_sets') }} as known_set
        on upper(known_set.criteria_set) = upper(trim({{ rows }}.criteria_set_reported))
{%- endmacro %}

{% macro set_in_force(rows) -%}
    coalesce(in_force.criteria_set, known_set.criteria_set, {{ rows }}.criteria_set_reported)
{%- endmacro %}

{% macro set_known() -%}
    (in_force.criteria_set is not null or known_set.criteria_set is not null)
{%- endmacro %}

{# The rows of `rows` (current rows with their set resolved) one per key of the resolved set: two
   files may write one set two ways (`ntm` and its id in 2026, or the id in another case); of the rows
   of one key, the one that comes first as the ledger counts (latest_first) stays. #}
{% macro one_per_resolved_key(rows, dataset) %}
    select {{ rows }}.*
    from {{ rows }}
    inner join {{ ref('stg_lakehouse__ledger') }} as ledger
        on ledger.source_sha256 = {{ rows }}.source_sha256 and ledger.department = {{ rows }}.department
    where ledger.dataset = '{{ dataset }}' and ledger.is_current
    qualify row_number() over (
        partition by {{ rows }}.unit_key, {{ rows }}.year, {{ rows }}.criteria_set, {{ rows }}.criterion_no,
                     {{ rows }}.indicator_code
        order by {{ latest_first(rows, 'ledger') }}
    ) = 1
{% endmacro %}

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
