-- The criteria and indicators of the reference files, one row each, with the English name where
-- the project has translated it.
with

criteria as (
    select * from {{ ref('criteria') }}
),

names_en as (
    select * from {{ ref('criterion_names_en') }}
),

renamed as (
    select
        -- ids
        criteria.set_id as criteria_set,
        criteria.criterion_no,
        coalesce(criteria.indicator_code, '') as indicator_code,

        -- text
        criteria.criterion_name_vi,
        criteria.indicator_name_vi,
        names_en.name_en,
        criteria.measure as measure_vi,
        criteria.unit,
        criteria.note,
        criteria.source_url,

        -- flags
        criteria.mandatory = 'yes' as mandatory
    from criteria
    left join names_en
        on names_en.set_id = criteria.set_id
        and names_en.criterion_no = criteria.criterion_no
        and coalesce(names_en.indicator_code, '') = coalesce(criteria.indicator_code, '')
)

select * from renamed
