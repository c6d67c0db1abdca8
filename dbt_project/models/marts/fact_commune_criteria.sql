with

assessments as (
    select * from {{ ref('int_commune_criteria__current') }}
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

final as (
    select
        {{ unit_columns() }},
        cast(assessments.year as integer) as year,
        {{ criterion_key('assessments') }},
        cast(assessments.criteria_set as string) as criteria_set,
        cast(assessments.criterion_no as string) as criterion_no,
        cast(assessments.indicator_code as string) as indicator_code,
        cast(assessments.met as boolean) as met,
        cast(assessments.value as double) as value,
        cast(assessments.decision_no as string) as decision_no,
        cast(assessments.decision_date as date) as decision_date,
        cast(assessments.department as string) as department
    from assessments
    left join units on units.unit_key = assessments.unit_key
)

select * from final
order by unit_key, year, criteria_set, criterion_no, indicator_code
