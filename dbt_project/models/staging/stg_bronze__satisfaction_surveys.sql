with

source as (
    select * from {{ source('bronze', 'satisfaction_surveys') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

        -- text
        unit_name as unit_name_reported,
        survey_name,

        -- periods
        period,

        -- numerics
        respondents,
        satisfied_pct,

        -- flags
        online,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
