{#- What DuckDB and Spark SQL spell differently, one dispatched macro per difference (docs/spark.md).
    The models are written in what the two share (`string`, `max_by`, `filter`, `split`, `qualify`,
    `filter (where ...)`, `||`); only these differ. dbt's own cross-database dbt.datediff serves
    where it is right on both. -#}

{# Every column (of a relation) but these: DuckDB `* exclude (...)`, Spark `* except (...)`. #}
{% macro star_except(columns, relation=none) -%}
    {{ return(adapter.dispatch('star_except')(columns, relation)) }}
{%- endmacro %}
{% macro default__star_except(columns, relation) -%}
    {{ relation ~ '.' if relation }}* exclude ({{ columns | join(', ') }})
{%- endmacro %}
{% macro spark__star_except(columns, relation) -%}
    {{ relation ~ '.' if relation }}* except ({{ columns | join(', ') }})
{%- endmacro %}

{# A date as text in a strftime format (%Y, %m, %d, %B): Spark's date_format takes Java patterns. #}
{% macro format_date(expression, format) -%}
    {{ return(adapter.dispatch('format_date')(expression, format)) }}
{%- endmacro %}
{% macro default__format_date(expression, format) -%}
    strftime({{ expression }}, '{{ format }}')
{%- endmacro %}
{% macro spark__format_date(expression, format) -%}
    {%- set java = format | replace('%Y', 'yyyy') | replace('%m', 'MM') | replace('%d', 'dd') | replace('%B', 'MMMM') -%}
    date_format({{ expression }}, '{{ java }}')
{%- endmacro %}

{# The rows of several relations with the same columns, matched by name (Spark SQL has no
   `union all by name`): the columns in the order given. #}
{% macro union_all_by_name(relations, columns) -%}
    {%- for relation in relations %}
    select {{ columns | join(', ') }} from {{ relation }}
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{# A regular expression as a string literal: Spark reads a backslash in a literal as an escape. #}
{% macro regex_literal(pattern) -%}
    {{ return(adapter.dispatch('regex_literal')(pattern)) }}
{%- endmacro %}
{% macro default__regex_literal(pattern) -%}
    '{{ pattern }}'
{%- endmacro %}
{% macro spark__regex_literal(pattern) -%}
    '{{ pattern | replace('\\', '\\\\') }}'
{%- endmacro %}

{# Text values joined in a given order (an order makes the result the same on every engine). #}
{% macro string_agg_ordered(expression, separator, order_by, distinct=false) -%}
    {{ return(adapter.dispatch('string_agg_ordered')(expression, separator, order_by, distinct)) }}
{%- endmacro %}
{% macro default__string_agg_ordered(expression, separator, order_by, distinct) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expression }}, '{{ separator }}' order by {{ order_by }})
{%- endmacro %}
{% macro spark__string_agg_ordered(expression, separator, order_by, distinct) -%}
    {%- if distinct -%}
    {#- Spark 4.3 fails to plan `listagg(distinct ...)` beside other aggregates (a ClassCastException
        in RewriteDistinctAggregates); distinct values are ordered by themselves anyway. -#}
    case when size(collect_set({{ expression }})) > 0
         then array_join(array_sort(collect_set({{ expression }})), '{{ separator }}') end
    {%- else -%}
    listagg({{ expression }}, '{{ separator }}') within group (order by {{ order_by }})
    {%- endif -%}
{%- endmacro %}

{# How many non-blank items a separated list of text holds ("Shopee, Lazada" holds 2). #}
{% macro count_listed(expression, separator) -%}
    {{ return(adapter.dispatch('count_listed')(expression, separator)) }}
{%- endmacro %}
{% macro default__count_listed(expression, separator) -%}
    len(filter(split({{ expression }}, '{{ separator }}'), p -> trim(p) <> ''))
{%- endmacro %}
{% macro spark__count_listed(expression, separator) -%}
    array_size(filter(split({{ expression }}, '{{ separator }}'), p -> trim(p) <> ''))
{%- endmacro %}

{# The type of an instant (a time with its zone): DuckDB's timestamptz, Spark's timestamp_ltz (its
   `timestamp` is set to mean a time without zone, as DuckDB's does: profiles.yml). #}
{% macro type_instant() -%}
    {{ return(adapter.dispatch('type_instant')()) }}
{%- endmacro %}
{% macro default__type_instant() -%}
    timestamptz
{%- endmacro %}
{% macro spark__type_instant() -%}
    timestamp_ltz
{%- endmacro %}

{# An instant as the time it was in UTC, without a zone (the contracts' `timestamp`, "(UTC)"):
   DuckDB's cast would follow the session's zone, which is the machine's; Spark's session is UTC. #}
{% macro utc_time(expression) -%}
    {{ return(adapter.dispatch('utc_time')(expression)) }}
{%- endmacro %}
{% macro default__utc_time(expression) -%}
    timezone('UTC', {{ expression }})
{%- endmacro %}
{% macro spark__utc_time(expression) -%}
    cast({{ expression }} as timestamp_ntz)
{%- endmacro %}

{# A date some months later (dbt.dateadd on Spark goes through Unix seconds and loses a date). #}
{% macro add_months(expression, months) -%}
    {{ return(adapter.dispatch('add_months')(expression, months)) }}
{%- endmacro %}
{% macro default__add_months(expression, months) -%}
    ({{ expression }} + to_months({{ months }}))
{%- endmacro %}
{% macro spark__add_months(expression, months) -%}
    add_months({{ expression }}, {{ months }})
{%- endmacro %}

{# The integers from start up to stop (exclusive) as a table of one column. #}
{% macro integer_range(start, stop, column) -%}
    {{ return(adapter.dispatch('integer_range')(start, stop, column)) }}
{%- endmacro %}
{% macro default__integer_range(start, stop, column) -%}
    (select cast(range as integer) as {{ column }} from range({{ start }}, {{ stop }}))
{%- endmacro %}
{% macro spark__integer_range(start, stop, column) -%}
    (select cast(id as integer) as {{ column }} from range({{ start }}, {{ stop }}))
{%- endmacro %}

{# One row per integer from first to last (both included), in a select list. #}
{% macro each_integer(first, last) -%}
    {{ return(adapter.dispatch('each_integer')(first, last)) }}
{%- endmacro %}
{% macro default__each_integer(first, last) -%}
    unnest(range({{ first }}, {{ last }} + 1))
{%- endmacro %}
{% macro spark__each_integer(first, last) -%}
    explode(sequence({{ first }}, {{ last }}))
{%- endmacro %}

{# The lake's incremental models: incremental on DuckDB (delete+insert by month); a table rebuilt
   whole on Spark, whose Parquet tables have no delete. #}
{% macro lake_materialization() -%}
    {{ return(adapter.dispatch('lake_materialization')()) }}
{%- endmacro %}
{% macro default__lake_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}
{% macro spark__lake_materialization() -%}
    {{ return('table') }}
{%- endmacro %}

{# Before a build on Spark: each source becomes a view over the Parquet its DuckDB
   `external_location` reads (the path in its first quotes), so both engines read the same files.
   DuckDB reads them through `external_location` and needs nothing here. #}
{% macro register_sources() -%}
    {{ return(adapter.dispatch('register_sources')()) }}
{%- endmacro %}
{% macro default__register_sources() -%}
{%- endmacro %}
{% macro spark__register_sources() -%}
    {%- if execute -%}
        {%- set sources = graph.sources.values() | list -%}
        {%- for schema in sources | map(attribute='schema') | unique -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
        {%- endfor -%}
        {%- for source in sources -%}
            {%- set location = source.meta.external_location or source.source_meta.external_location -%}
            {%- set path = location.split("'")[1] | replace('{name}', source.name) -%}
            {%- do run_query('create or replace view ' ~ source.schema ~ '.' ~ source.identifier
                             ~ ' as select * from parquet.`' ~ path ~ '`') -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
