-- One row per commune, year, criteria set and criterion or indicator assessed: the reported
-- result beside the computed one, the status that counts and whether the two disagree.
with

assessments as (
    select * from {{ ref('int_commune_assessments') }}
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
        cast(assessments.commune_group as string) as commune_group,
        cast(assessments.comparison as string) as comparison,
        cast(assessments.threshold as double) as threshold,
        cast(assessments.measured_value as double) as measured_value,
        cast(assessments.measured_dataset || ': ' || assessments.measured_file as string) as measured_from,
        cast(assessments.reported_status as string) as reported_status,
        cast('commune_criteria: ' || assessments.reported_file as string) as reported_from,
        cast(assessments.computed_status as string) as computed_status,
        cast(assessments.computed_reason as string) as computed_reason,
        cast(assessments.status as string) as status,
        cast(assessments.status_from as string) as status_from,
        cast(assessments.disagrees as boolean) as disagrees,
        cast(assessments.department as string) as department
    from assessments
    left join units on units.unit_key = assessments.unit_key
)

select * from final
order by unit_key, year, criteria_set, try_cast(criterion_no as integer) nulls last, criterion_no, indicator_code
