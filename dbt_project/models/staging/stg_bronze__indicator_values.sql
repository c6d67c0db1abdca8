with

source as (
    select * from {{ source('bronze', 'indicator_values') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

        -- ids
        criteria_set as criteria_set_reported,
        criterion_no,
        coalesce(indicator_code, '') as indicator_code,

        -- text
        unit_name as unit_name_reported,
        note,

        -- periods
        cast(year as integer) as year,

        -- numerics
        value,

        -- flags
        achieved,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
