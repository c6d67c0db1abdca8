-- Criteria and indicators (seed criteria) with the set they belong to (seed criteria_sets).
with

criteria as (
    select * from {{ ref('criteria') }}
),

criteria_sets as (
    select * from {{ ref('criteria_sets') }}
),

final as (
    select
        {{ criterion_key('criteria') }},
        cast(criteria.criteria_set as varchar) as criteria_set,
        cast(criteria_sets.set_name_vi as varchar) as set_name_vi,
        cast(criteria_sets.set_name_en as varchar) as set_name_en,
        cast(criteria_sets.decision as varchar) as decision,
        cast(criteria_sets.unit_level as varchar) as set_unit_level,
        cast(criteria_sets.criteria_total as integer) as set_criteria_total,
        cast(criteria.criterion_no as varchar) as criterion_no,
        cast(coalesce(criteria.indicator_code, '') as varchar) as indicator_code,
        cast(criteria.name_vi as varchar) as name_vi,
        cast(criteria.name_en as varchar) as name_en
    from criteria
    inner join criteria_sets on criteria_sets.criteria_set = criteria.criteria_set
)

select * from final
