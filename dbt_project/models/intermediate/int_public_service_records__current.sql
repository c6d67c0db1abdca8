-- The big table: current applications, one per application id (the row that comes first:
-- latest_first, as in current_rows), partitioned by the month received.
-- Incremental: a build reads again only the months that rows ingested since the last build fall
-- in (new files, corrections, backfill re-reads), the months of built rows whose application id
-- such a row repeats (a correction may move an application to another month), and the months of
-- rows whose file stopped counting (superseded, re-read), and replaces those months, nothing else.
-- Those months and the instant the build reads through are found first (one small query) and
-- written into the model's query as constants: DuckDB then skips by their Parquet statistics the
-- bronze files ingested before the last build and the row groups of other months, instead of
-- reading all of history to find the new rows (a subquery's value is not pushed into a scan).
-- A month left with no current file at all is emptied by the post-hook. Written as Parquet, one folder per month
-- (data/lake/public_service_records/period=YYYY-MM/), only the months it rebuilt; `ntm transform`
-- removes the folder of an emptied month.
{{ config(
    materialized=lake_materialization(),
    incremental_strategy='delete+insert',
    unique_key='period',
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ drop_rows_of_retired_files('public_service_records') }}",
        "{{ export_partitions('public_service_records', 'period') }}",
    ],
) }}

{%- if is_incremental() and execute %}
{%- set since = run_query(
    "select coalesce(cast(max(loaded_through) as varchar), '1970-01-01 00:00:00+00') as since from " ~ this
).columns[0].values()[0] %}
{%- set plan_sql %}
    with

    ledger as (
        select * from {{ ref('stg_lakehouse__ledger') }}
        where dataset = 'public_service_records' and is_current
    ),

    arrived as (
        select record_id, received_date, ingested_at
        from {{ ref('stg_bronze__public_service_records') }}
        where ingested_at > cast('{{ since }}' as {{ type_instant() }})
    ),

    touched as (
        select distinct {{ format_date('received_date', '%Y-%m') }} as period
        from arrived
        where received_date is not null
        union
        select distinct built.period
        from {{ this }} as built
        where built.record_id in (select record_id from arrived)
        union
        select distinct period
        from {{ this }} as built
        where not exists (select 1 from ledger
                          where ledger.source_sha256 = built.source_sha256 and ledger.department = built.department)
    )

    select
        (select string_agg(period, ',' order by period) from touched where period is not null) as touched,
        coalesce((select cast(max(ingested_at) as varchar) from arrived), '{{ since }}') as loaded_through
{%- endset %}
{%- set plan = run_query(plan_sql).rows[0] %}
{%- set touched = plan[0].split(',') if plan[0] else [] %}
{%- set loaded_through = plan[1] %}
{%- endif %}

with

ledger as (
    select * from {{ ref('stg_lakehouse__ledger') }}
    where dataset = 'public_service_records' and is_current
),

rows as (
    select *, {{ format_date('received_date', '%Y-%m') }} as period
    from {{ ref('stg_bronze__public_service_records') }}
    {% if is_incremental() %}
    {%- if touched %}
    where received_date >= cast('{{ touched[0] }}-01' as date)
      and received_date < cast({{ add_months("cast('" ~ touched[-1] ~ "-01' as date)", 1) }} as date)
      and {{ format_date('received_date', '%Y-%m') }} in ('{{ touched | join("', '") }}')
    {%- else %}
    where false  -- nothing arrived and no file stopped counting: no month to redo
    {%- endif %}
    {% endif %}
),

current as (
    select rows.*
    from rows
    inner join ledger on ledger.source_sha256 = rows.source_sha256 and ledger.department = rows.department
    qualify row_number() over (partition by rows.record_id order by {{ latest_first() }}) = 1
)

select
    current.*,
    -- Everything ingested up to this instant is in the table: the next build starts from here.
    {% if is_incremental() -%}
    cast('{{ loaded_through }}' as {{ type_instant() }}) as loaded_through,
    {%- else -%}
    (select max(ingested_at) from {{ ref('stg_bronze__public_service_records') }}) as loaded_through,
    {%- endif %}
    -- Which build wrote the row: the Parquet export writes only this build's months.
    cast('{{ run_started_at }}' as {{ type_instant() }}) as built_at
from current
