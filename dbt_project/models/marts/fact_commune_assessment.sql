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
        cast(assessments.criteria_set as varchar) as criteria_set,
        cast(assessments.criterion_no as varchar) as criterion_no,
        cast(assessments.indicator_code as varchar) as indicator_code,
        cast(assessments.commune_group as varchar) as commune_group,
        cast(assessments.comparison as varchar) as comparison,
        cast(assessments.threshold as double) as threshold,
        cast(assessments.measured_value as double) as measured_value,
        cast(assessments.measured_dataset || ': ' || assessments.measured_file as varchar) as measured_from,
        cast(assessments.reported_status as varchar) as reported_status,
        cast('commune_criteria: ' || assessments.reported_file as varchar) as reported_from,
        cast(assessments.computed_status as varchar) as computed_status,
        cast(assessments.computed_reason as varchar) as computed_reason,
        cast(assessments.status as varchar) as status,
        cast(assessments.status_from as varchar) as status_from,
        cast(assessments.disagrees as boolean) as disagrees,
        cast(assessments.department as varchar) as department
    from assessments
    left join units on units.unit_key = assessments.unit_key
)

select * from final
order by unit_key, year, criteria_set, try_cast(criterion_no as integer) nulls last, criterion_no, indicator_code
