with

source as (
    select * from {{ source('bronze', 'commune_groups') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

        -- ids
        criteria_set,
        commune_group,

        -- text
        unit_name as unit_name_reported,
        basis,

        -- periods
        cast(year as integer) as year,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
