-- The big table: current applications, one per application id (the row that comes first:
-- latest_first, as in current_rows), partitioned by the month received.
-- Incremental: a build reads again only the months that rows ingested since the last build fall
-- in (new files, corrections, backfill re-reads), the months of built rows whose application id
-- such a row repeats (a correction may move an application to another month), and the months of
-- rows whose file stopped counting (superseded, re-read), and replaces those months, nothing else.
-- The filter on received_date comes before the window, so DuckDB skips the other months' row
-- groups by their statistics instead of rescanning history. A month left with no current file at
-- all is emptied by the post-hook. Written as Parquet, one folder per month
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

with

ledger as (
    select * from {{ ref('stg_lakehouse__ledger') }}
    where dataset = 'public_service_records' and is_current
),

{% if is_incremental() %}
arrived as (
    select record_id, received_date
    from {{ ref('stg_bronze__public_service_records') }}
    where ingested_at > coalesce((select max(loaded_through) from {{ this }}), cast('1970-01-01' as {{ type_instant() }}))
),

touched as (
    select distinct {{ format_date('received_date', '%Y-%m') }} as period
    from arrived
    union
    select distinct built.period
    from {{ this }} as built
    where built.record_id in (select record_id from arrived)
    union
    select distinct period
    from {{ this }} as built
    where {{ of_retired_files('built', 'public_service_records') }}
),
{% endif %}

rows as (
    select *, {{ format_date('received_date', '%Y-%m') }} as period
    from {{ ref('stg_bronze__public_service_records') }}
    {% if is_incremental() %}
    where received_date >= (select min(cast(period || '-01' as date)) from touched)
      and {{ format_date('received_date', '%Y-%m') }} in (select period from touched)
    {% endif %}
),

current as (
    {{ first_per_key('rows', 'ledger', ['record_id']) }}
)

select
    current.*,
    -- Everything ingested up to this instant is in the table: the next build starts from here.
    (select max(ingested_at) from {{ ref('stg_bronze__public_service_records') }}) as loaded_through,
    -- Which build wrote the row: the Parquet export writes only this build's months.
    cast('{{ run_started_at }}' as {{ type_instant() }}) as built_at
from current
