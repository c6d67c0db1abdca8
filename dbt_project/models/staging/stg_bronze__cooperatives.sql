with

source as (
    select * from {{ source('bronze', 'cooperatives') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        unit_list_version || ':' || unit_level || ':' || unit_code as unit_key,
        unit_code,
        unit_level,
        unit_list_version,

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
