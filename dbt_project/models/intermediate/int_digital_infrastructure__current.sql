-- Rows of the files that are current (not superseded), one per unit and year:
-- when two current files carry the same unit and year, the later one wins.
with

rows as (
    select * from {{ ref('stg_bronze__digital_infrastructure') }}
),

current_files as (
    select source_sha256, department
    from {{ ref('stg_lakehouse__ledger') }}
    where dataset = 'digital_infrastructure' and is_current
),

current_rows as (
    select rows.*
    from rows
    inner join current_files using (source_sha256, department)
),

deduplicated as (
    select *
    from current_rows
    qualify row_number() over (
        partition by unit_key, year order by ingested_at desc, source_row_number
    ) = 1
)

select * from deduplicated
