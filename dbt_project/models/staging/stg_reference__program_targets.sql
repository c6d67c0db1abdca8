-- The programme targets of the reference files, with the project's English description and the
-- measure that answers each (seed target_measures). A regional target of 263/QĐ-TTg carries the
-- region code its target code ends with.
with

targets as (
    select * from {{ ref('program_targets') }}
),

measures as (
    select * from {{ ref('target_measures') }}
),

regions as (
    select distinct code from {{ ref('commune_groups') }} where scheme = 'region'
),

renamed as (
    select
        -- ids
        targets.target_code,
        targets.plan,
        targets.level,
        nullif(targets.province, '(toàn quốc)') as province,
        regions.code as region_code,
        measures.measure,

        -- text
        targets.description_vi,
        measures.description_en,
        targets.unit,
        targets.comparator,
        targets.target_value as target_text,
        targets.note,
        targets.source_url,

        -- dates
        cast(targets.plan_date as date) as plan_date,
        cast(targets.target_year as integer) as target_year,

        -- numerics: "17-19" (a range) is read as its lower bound
        try_cast(split_part(targets.target_value, '-', 1) as double) as target_value
    from targets
    left join measures on measures.target_code = targets.target_code
    left join regions on targets.target_code like '263.%.' || regions.code
)

select * from renamed
