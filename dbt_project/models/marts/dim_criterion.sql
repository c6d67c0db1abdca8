with

criteria as (
    select * from {{ ref('criteria') }}
),

final as (
    select
        cast(criteria_set || ':' || criterion_no || ':' || coalesce(indicator_code, '') as varchar) as criterion_key,
        cast(criteria_set as varchar) as criteria_set,
        cast(set_name_vi as varchar) as set_name_vi,
        cast(set_name_en as varchar) as set_name_en,
        cast(decision as varchar) as decision,
        cast(criterion_no as varchar) as criterion_no,
        cast(coalesce(indicator_code, '') as varchar) as indicator_code,
        cast(name_vi as varchar) as name_vi,
        cast(name_en as varchar) as name_en
    from criteria
)

select * from final
