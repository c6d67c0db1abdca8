with

source as (
    select * from {{ source('bronze', 'growing_area_codes') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

        -- ids
        area_code,

        -- text
        code_kind,
        crop,
        unit_name as unit_name_reported,
        export_market,

        -- periods
        cast(year as integer) as year,

        -- numerics
        area_ha,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
