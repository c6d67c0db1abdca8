with

source as (
    select * from {{ source('bronze', 'cooperatives') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

        -- text
        cooperative_name,
        unit_name as unit_name_reported,
        field,

        -- periods
        cast(year as integer) as year,

        -- numerics
        members,

        -- flags
        uses_digital_tools,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
