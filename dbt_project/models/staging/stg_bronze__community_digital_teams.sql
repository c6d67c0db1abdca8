with

source as (
    select * from {{ source('bronze', 'community_digital_teams') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

        -- text
        unit_name as unit_name_reported,
        hamlet_name,

        -- periods
        cast(year as integer) as year,

        -- numerics
        members,

        -- flags
        team_established,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
