with

source as (
    select * from {{ source('bronze', 'public_service_records') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

        -- ids
        record_id,
        procedure_code,

        -- text
        procedure_name,
        level,
        unit_name as unit_name_reported,
        channel,

        -- dates
        received_date,
        due_date,
        resolved_date,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
