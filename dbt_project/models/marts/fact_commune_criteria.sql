-- One row per commune, year, criteria set, criterion and indicator a department reported (commune_criteria),
-- as reported; a set, criterion or indicator the lakehouse does not know is kept, with `unknown_reason`.
with

assessments as (
    select * from {{ ref('int_commune_criteria__current') }}
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

-- a set, criterion or indicator the lakehouse does not know: kept, with the reason and what is known
unknown as (
    select * from {{ ref('int_criteria__unknown_reported') }}
    where dataset = 'commune_criteria'
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
        cast(unknown.unknown_reason as string) as unknown_reason,
        cast(assessments.department as string) as department
    from assessments
    left join units on units.unit_key = assessments.unit_key
    left join unknown
        on unknown.unit_key = assessments.unit_key and unknown.year = assessments.year
        and unknown.criteria_set_reported = assessments.criteria_set_reported
        and unknown.criterion_no = assessments.criterion_no
        and unknown.indicator_code = coalesce(assessments.indicator_code, '')
)

select * from final
order by unit_key, year, criteria_set, criterion_no, indicator_code
