with

source as (
    select * from {{ source('bronze', 'commune_criteria') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

        -- ids
        criteria_set,
        criterion_no,
        indicator_code,
        decision_no,

        -- text
        unit_name as unit_name_reported,
        district_name,
        criterion_name,
        note,

        -- periods
        cast(year as integer) as year,

        -- dates
        decision_date,

        -- numerics
        value,

        -- flags
        met,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
