with

source as (
    select * from {{ source('bronze', 'criteria_catalogue') }}
),

renamed as (
    select
        -- ids
        criteria_set,
        criterion_no,
        coalesce(indicator_code, '') as indicator_code,
        coalesce(commune_group, '') as commune_group,
        decision_no,
        tier,
        comparison,
        measured_by,

        -- text
        criterion_name,
        indicator_name,
        unit,
        note,

        -- dates
        in_force_from,

        -- numerics
        threshold,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
