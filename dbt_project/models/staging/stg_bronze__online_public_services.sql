with

source as (
    select * from {{ source('bronze', 'online_public_services') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

        -- text
        unit_name as unit_name_reported,

        -- periods
        period,

        -- numerics
        procedures_total,
        full_online_procedures,
        full_online_pct,
        partial_online_procedures,
        partial_online_pct,
        records_received,
        records_online,
        digitised_pct,
        paid_online_pct,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
